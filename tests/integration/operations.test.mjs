// Operations: how a node starts and stops, and what it tells the people who
// run it. A taken listen address stops the node with a message naming it.

import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";

import { freePort, spawnPartyline, startNats, tempDir, withTimeout } from "./harness.mjs";

const T = { timeout: 60000 };

describe("operations", () => {
  let nats;

  before(async () => {
    nats = await startNats();
  });

  after(async () => {
    await nats?.stop();
  });

  test("a taken listen address stops the node with a non-zero status and a message naming the address", T, async () => {
    const port = await freePort();
    const squatter = net.createServer();
    await new Promise((resolve, reject) => {
      squatter.once("error", reject);
      squatter.listen(port, "127.0.0.1", resolve);
    });
    try {
      const address = `127.0.0.1:${port}`;
      const node = spawnPartyline(["serve", "--listen", address, "--nats-url", nats.url, "--data", tempDir("port")], {
        label: "port-taken",
      });
      const { code, signal } = await withTimeout(node.exited, 20000, "the node to exit on a taken port");
      assert.equal(signal, null, `killed by ${signal}:\n${node.tail(20)}`);
      assert.notEqual(code, 0, `exit status 0:\n${node.tail(20)}`);
      assert.match(node.logs(), new RegExp(`cannot listen on ${address.replace(/\./g, "\\.")}`), node.tail(20));
      assert.match(node.logs(), /in use/i, node.tail(20));
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});
