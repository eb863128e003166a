// The harness itself, without partyline: a real nats-server started, killed
// and restarted on its port, and the raw WebSocket client checked against the
// `ws` server. When these fail, the other integration tests cannot be trusted.

import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { OPCODE, RawWebSocket, WebSocket, canConnect, connect, freePort, rawHttp, startNats, withTimeout } from "./harness.mjs";

const T = { timeout: 30000 };

// Reads the INFO line a NATS server greets with.
function natsInfo(port) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port });
      let text = "";
      socket.on("data", (chunk) => {
        text += chunk;
        const end = text.indexOf("\r\n");
        if (end > 0) {
          socket.destroy();
          resolve(JSON.parse(text.slice(5, end)));
        }
      });
      socket.on("error", reject);
    }),
    3000,
    "NATS INFO",
  );
}

describe("harness", () => {
  test("freePort gives distinct bindable loopback ports", T, async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort()]);
    for (const port of ports) assert.ok(port > 0 && port < 65536);
    const server = net.createServer();
    await new Promise((resolve) => server.listen(ports[0], "127.0.0.1", resolve));
    assert.equal(await canConnect(ports[0]), true);
    await new Promise((resolve) => server.close(resolve));
  });

  test("freePort stays out of the kernel's ephemeral range and reserves each port for this process", T, async () => {
    const [low, high] = fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    const ports = [];
    for (let i = 0; i < 50; i++) ports.push(await freePort());
    assert.equal(new Set(ports).size, ports.length, "a port was handed out twice");
    for (const port of ports) {
      assert.ok(port < low || port > high, `port ${port} is in the ephemeral range ${low}-${high}`);
      const owner = fs.readFileSync(path.join(os.tmpdir(), "partyline-test-ports", String(port)), "utf8");
      assert.equal(Number(owner), process.pid);
    }
  });

  test("nats-server starts with JetStream, dies on kill, restarts on the same port", T, async () => {
    const nats = await startNats();
    assert.match(nats.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
    const info = await natsInfo(nats.port);
    assert.equal(info.jetstream, true, "nats-server runs without JetStream");
    assert.ok(fs.existsSync(nats.dir));

    await nats.kill();
    assert.equal(nats.running, false);
    assert.equal(await canConnect(nats.port), false);

    await nats.restart();
    assert.equal(nats.running, true);
    assert.equal((await natsInfo(nats.port)).jetstream, true);

    await nats.stop();
    assert.equal(await canConnect(nats.port), false);
  });

  describe("raw clients against the ws server", () => {
    let server;
    let port;
    const received = [];

    before(async () => {
      port = await freePort();
      server = new WebSocket.WebSocketServer({ host: "127.0.0.1", port, maxPayload: 100 });
      server.on("connection", (ws) => {
        ws.on("message", (data, binary) => {
          received.push({ data: data.toString(), binary });
          ws.send(data, { binary });
        });
        ws.on("error", () => {});
      });
      await new Promise((resolve) => server.once("listening", resolve));
    });

    test("RawWebSocket completes the handshake and exchanges frames", T, async () => {
      const raw = await RawWebSocket.open(port, "/room");
      raw.send({ opcode: OPCODE.text, payload: "hello" });
      const frame = await raw.waitFrame((f) => f.opcode === OPCODE.text);
      assert.equal(frame.payload.toString(), "hello");
      assert.equal(frame.masked, false);
      raw.send({ opcode: OPCODE.close, payload: Buffer.from([0x03, 0xe8]) });
      assert.deepEqual(await raw.waitClose(), { code: 1000, reason: "" });
      raw.destroy();
    });

    test("RawWebSocket reports the server's close codes (1007, 1009)", T, async () => {
      const bad = await RawWebSocket.open(port, "/room");
      bad.send({ opcode: OPCODE.text, payload: Buffer.from([0xc3, 0x28]) });
      assert.equal((await bad.waitClose()).code, 1007);
      bad.destroy();

      const big = await RawWebSocket.open(port, "/room");
      big.send({ opcode: OPCODE.binary, payload: Buffer.alloc(10), declaredLength: 2 ** 31 });
      assert.equal((await big.waitClose()).code, 1009);
      big.destroy();
    });

    test("rawHttp reads the status of a refused upgrade", T, async () => {
      const res = await rawHttp(port, "GET /room HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n");
      assert.equal(res.status, 400);
    });

    test("connect records text and binary frames", T, async () => {
      const client = await connect(`ws://127.0.0.1:${port}/room`);
      await client.send("text");
      await client.send(Buffer.from([1, 2, 3]));
      const [a, b] = await client.waitFor(2);
      assert.deepEqual([a.binary, a.data], [false, "text"]);
      assert.equal(b.binary, true);
      assert.deepEqual([...b.data], [1, 2, 3]);
      await client.close();
    });

    after(() => new Promise((resolve) => server.close(resolve)));
  });
});
