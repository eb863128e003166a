// The stock partysocket 1.3.0 client, unchanged, against a partyline node:
// its URLs (/parties/:party/:room?_pk=ID), its connection id, and
// PartySocket.fetch for HTTP.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { TESTS_DIR, WebSocket, describeFetchError, loadPartySocket, startNats, startNode, withTimeout } from "./harness.mjs";

const T = { timeout: 30000 };
const PartySocket = loadPartySocket();

let nats;
let node;
const sockets = [];

// A PartySocket that records what it receives. Retries are bounded so a
// refused connection fails the test instead of retrying forever.
function open(options) {
  const socket = new PartySocket({
    host: node.host,
    WebSocket,
    maxRetries: 3,
    connectionTimeout: 4000,
    ...options,
  });
  sockets.push(socket);
  socket.received = [];
  socket.problems = []; // errors and closes, for the failure message
  socket.addEventListener("message", (event) => socket.received.push(event.data));
  socket.addEventListener("error", (event) => socket.problems.push(`error: ${event.message || event.error?.message || "?"}`));
  socket.addEventListener("close", (event) => socket.problems.push(`close ${event.code} ${event.reason || ""}`.trim()));
  return socket;
}

function waitForMessage(socket, predicate, timeoutMs = 5000) {
  return withTimeout(
    new Promise((resolve) => {
      const check = () => {
        const found = socket.received.find(predicate);
        if (found === undefined) return false;
        socket.removeEventListener("message", listener);
        resolve(found);
        return true;
      };
      const listener = () => check();
      if (!check()) socket.addEventListener("message", listener);
    }),
    timeoutMs,
    `a PartySocket message on ${socket.url || socket.roomUrl}; received ${JSON.stringify(socket.received.slice(-5).map(String))}; ` +
      `errors and closes: ${JSON.stringify(socket.problems.slice(-5))}`,
  );
}

const parse = (data) => {
  try {
    return typeof data === "string" ? JSON.parse(data) : undefined;
  } catch {
    return undefined;
  }
};
const isType = (type) => (data) => parse(data)?.type === type;

describe("partysocket 1.3.0", () => {
  before(async () => {
    nats = await startNats();
    node = await startNode({
      natsUrl: nats.url,
      nodeId: "partysocket",
      parties: { main: "welcome.lua", welcome: "welcome.lua", echo: "echo.lua", req: "request.lua" },
    });
  });

  after(async () => {
    for (const socket of sockets) socket.close();
    await node?.stop();
    await nats?.stop();
  });

  test("is the pinned version", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(TESTS_DIR, "node_modules", "partysocket", "package.json"), "utf8"));
    assert.equal(pkg.version, "1.3.0");
  });

  test("connects to a party and room; the id it sends as _pk is conn.id", T, async () => {
    const socket = open({ party: "welcome", room: "ps-room", id: "ps-alice" });
    const welcome = parse(await waitForMessage(socket, isType("welcome")));
    assert.deepEqual(welcome, { type: "welcome", id: "ps-alice", room: "ps-room", party: "welcome" });
    assert.equal(socket.id, "ps-alice");
    assert.match(socket.url, /\/parties\/welcome\/ps-room\?_pk=ps-alice$/);

    socket.send("hi from partysocket");
    const echoed = parse(await waitForMessage(socket, isType("message")));
    assert.deepEqual(echoed, { type: "message", from: "ps-alice", room: "ps-room", text: "hi from partysocket" });
  });

  test("without party and id it reaches party main, with its generated id as conn.id", T, async () => {
    const socket = open({ room: "ps-main" });
    const welcome = parse(await waitForMessage(socket, isType("welcome")));
    assert.equal(welcome.party, "main");
    assert.equal(welcome.room, "ps-main");
    assert.equal(welcome.id, socket.id, "the server's conn.id differs from the id partysocket generated");
  });

  test("two PartySockets in one room exchange messages", T, async () => {
    const a = open({ party: "welcome", room: "ps-pair", id: "ps-a" });
    const b = open({ party: "welcome", room: "ps-pair", id: "ps-b" });
    await waitForMessage(a, isType("welcome"));
    await waitForMessage(b, isType("welcome"));
    a.send("from a");
    b.send("from b");
    for (const socket of [a, b]) {
      const texts = new Set();
      await waitForMessage(socket, (data) => {
        const m = parse(data);
        if (m?.type === "message") texts.add(`${m.from}:${m.text}`);
        return texts.size === 2;
      });
      assert.deepEqual([...texts].sort(), ["ps-a:from a", "ps-b:from b"]);
    }
  });

  test("binary messages stay binary", T, async () => {
    const socket = open({ party: "echo", room: "ps-binary", id: "ps-bin" });
    socket.binaryType = "arraybuffer";
    socket.send("whoami");
    await waitForMessage(socket, (data) => typeof data === "string" && data.includes("ps-bin"));
    socket.send(new Uint8Array([9, 8, 7, 0, 255]));
    const data = await waitForMessage(socket, (d) => d instanceof ArrayBuffer);
    assert.deepEqual([...new Uint8Array(data)], [9, 8, 7, 0, 255]);
  });

  test("PartySocket.fetch reaches the room's onRequest", T, async () => {
    const res = await PartySocket.fetch(
      { host: node.host, party: "req", room: "ps-http", path: "hello", query: { q: "1" } },
      { method: "POST", body: "fetched", signal: AbortSignal.timeout(5000) },
    ).catch((err) => {
      throw describeFetchError(err, "POST", `http://${node.host}/parties/req/ps-http/hello`);
    });
    assert.equal(res.status, 200);
    const seen = await res.json();
    assert.equal(seen.method, "POST");
    assert.equal(seen.body, "fetched");
    assert.equal(seen.room, "ps-http");
    assert.equal(seen.query.q, "1");
    assert.ok(seen.path.endsWith("/hello"), seen.path);
  });
});
