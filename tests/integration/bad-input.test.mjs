// Bad input never takes a node down: oversize frames, malformed upgrades,
// invalid UTF-8, unknown parties and a script that does not compile each get
// a clear answer, and the node keeps serving. Malformed traffic is written by
// hand over TCP, since a well-behaved client library will not send it.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { OPCODE, RawWebSocket, connect, httpFetch, rawHttp, startNats, startNode } from "./harness.mjs";

const T = { timeout: 30000 };
const MAX = 1024;

describe("bad input", () => {
  let nats;
  let node;

  before(async () => {
    nats = await startNats();
    node = await startNode({
      natsUrl: nats.url,
      nodeId: "bad-input",
      parties: { echo: "echo.lua", req: "request.lua", broken: "broken.lua" },
      limits: { max_message_bytes: MAX },
    });
  });

  after(async () => {
    await node?.stop();
    await nats?.stop();
  });

  // A fresh client round-trips a message in `room`: the node still serves.
  async function assertServes(room = "still-alive") {
    const client = await connect(node.wsUrl("echo", room));
    await client.send("whoami");
    await client.waitFor((m) => m.text.includes('"whoami"'));
    await client.send("still here");
    await client.waitFor((m) => m.text === "still here");
    await client.close();
    assert.equal((await httpFetch(`${node.url}/healthz`)).status, 200);
    assert.ok(node.running, "the node exited");
  }

  function upgradeRequest(path, headers) {
    const lines = [`GET ${path} HTTP/1.1`, `Host: ${node.host}`];
    for (const [name, value] of Object.entries(headers)) if (value !== undefined) lines.push(`${name}: ${value}`);
    return lines.join("\r\n") + "\r\nConnection: Upgrade\r\n\r\n";
  }

  const goodUpgrade = {
    Upgrade: "websocket",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
  };

  describe("message size", () => {
    test(`a message of exactly max_message_bytes (${MAX}) is delivered`, T, async () => {
      const client = await connect(node.wsUrl("echo", "limit"));
      await client.send("whoami");
      await client.waitFor((m) => m.text.includes('"whoami"'));
      const exact = "x".repeat(MAX);
      await client.send(exact);
      const echoed = await client.waitFor((m) => m.text.length === MAX);
      assert.equal(echoed.text, exact);
      await client.close();
    });

    test("a frame over max_message_bytes closes the connection with 1009, and the node carries on", T, async () => {
      const client = await connect(node.wsUrl("echo", "oversize"));
      await client.send("x".repeat(MAX * 4));
      const { code } = await client.waitClose(5000);
      assert.equal(code, 1009);
      await assertServes("oversize");
    });

    test("a frame header declaring 2 GiB is refused with 1009 without waiting for the payload", T, async () => {
      const raw = await RawWebSocket.open(node.port, "/parties/echo/huge");
      raw.send({ opcode: OPCODE.binary, payload: Buffer.alloc(16), declaredLength: 2 ** 31 });
      const { code } = await raw.waitClose(5000);
      assert.equal(code, 1009);
      raw.destroy();
      await assertServes();
    });

    test("a fragmented message whose fragments add up to more than the limit closes with 1009", T, async () => {
      const raw = await RawWebSocket.open(node.port, "/parties/echo/fragments");
      const half = Buffer.alloc(Math.ceil(MAX * 0.75), "y");
      raw.send({ opcode: OPCODE.text, payload: half, fin: false });
      raw.send({ opcode: OPCODE.continuation, payload: half, fin: true });
      const { code } = await raw.waitClose(5000);
      assert.equal(code, 1009);
      raw.destroy();
      await assertServes();
    });
  });

  describe("malformed frames", () => {
    test("invalid UTF-8 in a text frame closes with 1007", T, async () => {
      const raw = await RawWebSocket.open(node.port, "/parties/echo/utf8");
      raw.send({ opcode: OPCODE.text, payload: Buffer.from([0x68, 0x69, 0xc3, 0x28, 0xff]) });
      const { code } = await raw.waitClose(5000);
      assert.equal(code, 1007);
      raw.destroy();
      await assertServes();
    });

    test("invalid UTF-8 split across fragments closes with 1007", T, async () => {
      const raw = await RawWebSocket.open(node.port, "/parties/echo/utf8-fragments");
      raw.send({ opcode: OPCODE.text, payload: Buffer.from([0x61, 0xe2, 0x82]), fin: false }); // a truncated €…
      raw.send({ opcode: OPCODE.continuation, payload: Buffer.from([0x41]), fin: true }); // …not completed
      const { code } = await raw.waitClose(5000);
      assert.equal(code, 1007);
      raw.destroy();
      await assertServes();
    });

    test("an unmasked client frame is refused with a close (1002) or a dropped connection", T, async () => {
      const raw = await RawWebSocket.open(node.port, "/parties/echo/unmasked");
      raw.send({ opcode: OPCODE.text, payload: "not masked", mask: false });
      const result = await raw.waitClose(5000);
      assert.ok(result.code === 1002 || result.ended, `unexpected answer ${JSON.stringify(result)}`);
      raw.destroy();
      await assertServes();
    });
  });

  describe("malformed upgrades", () => {
    test("an upgrade without Sec-WebSocket-Key answers 400", T, async () => {
      const res = await rawHttp(node.port, upgradeRequest("/parties/echo/r", { ...goodUpgrade, "Sec-WebSocket-Key": undefined }));
      assert.equal(res.status, 400, res.raw.slice(0, 300));
    });

    test("an upgrade whose since or epoch is not one answers 400 naming it", T, async () => {
      for (const [query, named] of [["since=-1", /since must be/], ["since=3&epoch=not%20one", /epoch must be/]]) {
        const res = await rawHttp(node.port, upgradeRequest(`/parties/echo/r?${query}`, goodUpgrade));
        assert.equal(res.status, 400, res.raw.slice(0, 300));
        assert.match(res.body, named);
      }
    });

    test("an upgrade with an unsupported Sec-WebSocket-Version is refused (400, or 426 naming version 13)", T, async () => {
      const res = await rawHttp(node.port, upgradeRequest("/parties/echo/r", { ...goodUpgrade, "Sec-WebSocket-Version": "99" }));
      // RFC 6455 4.4 answers an unknown version with 426 and the versions spoken.
      assert.ok(res.status === 400 || res.status === 426, res.raw.slice(0, 300));
      if (res.status === 426) assert.equal(res.headers["sec-websocket-version"], "13");
    });

    test("a request line that is not HTTP gets 400 or a closed connection, and the node carries on", T, async () => {
      const res = await rawHttp(node.port, "\x16\x03\x01garbage that is not http\r\n\r\n");
      assert.ok(res.status === null || res.status === 400, res.raw.slice(0, 300));
      await assertServes();
    });
  });

  describe("unknown parties", () => {
    test("a WebSocket upgrade to an unknown party answers 404", T, async () => {
      await assert.rejects(connect(node.wsUrl("no-such-party", "r")), (err) => {
        assert.equal(err.statusCode, 404, err.message);
        return true;
      });
    });

    test("an HTTP request to an unknown party answers 404", T, async () => {
      for (const method of ["GET", "POST"]) {
        const res = await httpFetch(node.httpUrl("no-such-party", "r"), { method, body: method === "POST" ? "x" : undefined });
        assert.equal(res.status, 404, method);
      }
    });

    test("a built-in broadcast to an unknown party answers 404", T, async () => {
      const res = await node.broadcast("no-such-party", "r", "x");
      assert.equal(res.status, 404, res.body);
    });
  });

  describe("a script with a syntax error", () => {
    test("its party answers 500 naming the script file and line; other parties keep working", T, async () => {
      const res = await httpFetch(node.httpUrl("broken", "r"));
      assert.equal(res.status, 500);
      const body = await res.text();
      assert.match(body, /broken\.lua/, `the body does not name the script: ${body}`);
      assert.match(body, /broken\.lua:6\b|line 6\b/, `the body does not name line 6: ${body}`);

      // The same party again: still a clear 500, not a hang or a crash.
      assert.equal((await httpFetch(node.httpUrl("broken", "other-room"))).status, 500);

      const ok = await httpFetch(`${node.httpUrl("req", "r")}?x=1`);
      assert.equal(ok.status, 200);
      assert.equal((await ok.json()).party, "req");
      await assertServes();
      assert.match(node.logs(), /broken\.lua:6\b|broken\.lua.*line 6\b/, "no log line names the script and line");
    });

    test("a WebSocket to that party is refused, not left hanging", T, async () => {
      const outcome = await connect(node.wsUrl("broken", "r")).then(
        async (client) => ({ opened: true, close: await client.waitClose(5000) }),
        (err) => ({ opened: false, status: err.statusCode }),
      );
      if (outcome.opened) assert.equal(outcome.close.code, 1011, `opened, then closed with ${JSON.stringify(outcome.close)}`);
      else assert.equal(outcome.status, 500);
    });
  });

  describe("after all of the above", () => {
    test("the node is still running and ready", T, async () => {
      assert.ok(node.running);
      assert.equal((await httpFetch(`${node.url}/readyz`)).status, 200);
      await assertServes("final");
    });
  });
});
