// `partyline dev [SCRIPT]`: one room script served as party "main" with no configuration file,
// its public/ folder at /, reloaded on save. The real binary on a real nats-server, a real
// WebSocket client.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { bindFailed, connect, freePort, httpFetch, spawnPartyline, startNats, tempDir, until } from "./harness.mjs";

const T = { timeout: 60000 };

describe("partyline dev", () => {
  let nats;
  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    await nats?.stop();
  });

  // Starts `partyline dev SCRIPT` on a free port (again on another when the port was taken) and
  // resolves with the child and the URL it printed.
  async function dev(script) {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const data = tempDir("dev-data");
      const child = spawnPartyline(
        ["dev", script, "--listen", `127.0.0.1:${port}`, "--data", data, "--nats-url", nats.url],
        { label: "dev" },
      );
      try {
        await until(() => child.logs().includes("partyline dev: open "), { timeoutMs: 15000, what: "the URL" });
        return { child, url: child.logs().match(/open (http:\/\/127\.0\.0\.1:\d+)\//)[1] };
      } catch (err) {
        await child.kill().catch(() => {});
        if (attempt < 3 && bindFailed(child.logs())) continue;
        throw new Error(`${err.message}\n${child.tail(40)}`);
      }
    }
  }

  test("writes a starter room when the script is missing, serves it as main and public/ at /", T, async () => {
    const dir = tempDir("dev");
    const script = path.join(dir, "room.lua");
    fs.mkdirSync(path.join(dir, "public"));
    fs.writeFileSync(path.join(dir, "public", "index.html"), "<!doctype html><title>mine</title>\n");
    const { child, url } = await dev(script);
    try {
      assert.match(child.logs(), /wrote .*room\.lua, a starter room/);
      assert.match(fs.readFileSync(script, "utf8"), /^-- room: a partyline room/);
      assert.match(child.logs(), new RegExp(`pages: ${dir.replaceAll("/", "\\/")}/public`));

      const page = await httpFetch(`${url}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>mine<\/title>/);

      const client = await connect(`${url.replace("http", "ws")}/parties/main/lobby`);
      const welcome = (await client.waitFor((m) => m.text.includes('"welcome"'))).json();
      assert.equal(welcome.room, "lobby");
      await client.send("hello");
      await client.waitFor((m) => m.text === "hello");
      client.close();
    } finally {
      await child.stop();
    }
  });

  test("an existing script is served as it is and reloaded on save", T, async () => {
    const dir = tempDir("dev");
    const script = path.join(dir, "game.lua");
    const version = (v) => `return { onRequest = function(room, req) return "version ${v}" end }\n`;
    fs.writeFileSync(script, version(1));
    const { child, url } = await dev(script);
    try {
      assert.doesNotMatch(child.logs(), /starter room/);
      assert.match(child.logs(), /pages: none/);
      const read = async () => (await httpFetch(`${url}/parties/main/r`)).text();
      assert.equal(await read(), "version 1");
      fs.writeFileSync(script, version(2));
      await until(async () => (await read()) === "version 2", { timeoutMs: 15000, what: "the reload" });
      assert.equal(fs.readFileSync(script, "utf8"), version(2));
    } finally {
      await child.stop();
    }
  });

  test("a configuration flag is refused: dev serves one script", T, () => {
    const child = spawnPartyline(["dev", "x.lua", "--config", "partyline.yaml"], { label: "dev-refused" });
    return until(() => !child.running, { timeoutMs: 10000, what: "the exit" }).then(async () => {
      const { code } = await child.exited;
      assert.equal(code, 2);
      assert.match(child.logs(), /dev takes no --config \(serve does\)/);
    });
  });
});
