// Webhooks with real processes: a partyline node on a real nats-server posting room events to
// real Node.js HTTP receivers on loopback ports, each verifying X-Partyline-Signature exactly as
// the README's snippet does. A WebSocket that joins and leaves gives room.started, connect (with
// its token's claims), close and, once the room is idle, room.idle; a receiver that answers 503
// at first, and one that is not listening at first, get the event on a retry; a receiver with
// another secret sees the signature fail; and a room keeps serving messages while its receiver
// holds the request unanswered.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { TESTS_DIR, connect, freePort, httpFetch, startNats, startNode, until } from "./harness.mjs";

const { SignJWT } = createRequire(path.join(TESTS_DIR, "package.json"))("jose");
const T = { timeout: 120000 };
const HOST = "127.0.0.1";
const SECRET = "webhook-secret-for-the-integration-test";
const JWT_SECRET = "a-connection-secret-of-at-least-32-bytes!";

// The README's check, as a receiver writes it: the HMAC of "<timestamp>.<raw body>", compared in
// constant time, and a timestamp within five minutes.
function verifyWebhook(secret, headers, rawBody, toleranceSeconds = 300) {
  const timestamp = headers["x-partyline-timestamp"] ?? "";
  const signature = headers["x-partyline-signature"] ?? "";
  if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) return false;
  const expected = "sha256=" + crypto.createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody).digest("hex");
  const a = Buffer.from(signature);
  const b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

// A receiver on a loopback port (0: any free one). Each request is verified with `secret` and
// recorded; `answer(n)` says what the n-th request (from 1) gets: a status, or "hang" to keep it
// unanswered until close().
async function startReceiver({ secret = SECRET, port = 0, answer = () => 200 } = {}) {
  const received = []; // {event, raw, verified, headers, method}
  const held = new Set();
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      const verified = verifyWebhook(secret, req.headers, raw);
      received.push({ event: JSON.parse(raw.toString("utf8")), raw, verified, headers: req.headers, method: req.method });
      const what = verified ? answer(received.length) : 401;
      if (what === "hang") held.add(res);
      else res.writeHead(what).end();
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, HOST, resolve);
  });
  const bound = server.address().port;
  return {
    port: bound,
    url: `http://${HOST}:${bound}/hooks`,
    received,
    held,
    events: (room) => received.filter((r) => r.event.room === room),
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function metric(node, line) {
  const text = await (await httpFetch(`${node.url}/metrics`)).text();
  const found = text.split("\n").find((l) => l.startsWith(line + " "));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

let nats, node, good, flaky, wrong, hanging, laterPort, later;

before(async () => {
  nats = await startNats();
  good = await startReceiver();
  flaky = await startReceiver({ answer: (n) => (n <= 2 ? 503 : 200) });
  wrong = await startReceiver({ secret: "not-the-secret-the-node-signs-with" });
  hanging = await startReceiver({ answer: () => "hang" });
  laterPort = await freePort(); // nothing listens there until the test starts a receiver
  const hook = (url, events) => ({ url, events, secret: SECRET });
  node = await startNode({
    natsUrl: nats.url,
    nodeId: "webhook-node",
    parties: {
      game: {
        script: "echo.lua",
        webhook: hook(good.url, ["room.started", "room.idle", "connect", "close"]),
        auth: { jwt: { secret: JWT_SECRET, algorithms: ["HS256"] }, required: false },
      },
      flaky: { script: "echo.lua", webhook: hook(flaky.url, ["connect"]) },
      later: { script: "echo.lua", webhook: hook(`http://${HOST}:${laterPort}/hooks`, ["connect"]) },
      wrong: { script: "echo.lua", webhook: hook(wrong.url, ["connect"]) },
      hanging: { script: "echo.lua", webhook: hook(hanging.url, ["room.started", "connect", "close"]) },
    },
    limits: { idle_room_seconds: 1 },
  });
});

after(async () => {
  await node?.kill();
  await Promise.all([good, flaky, wrong, hanging, later].map((r) => r?.close()));
  await nats?.stop();
});

describe("room events", () => {
  test("join and leave: room.started, connect with the claims, close with code and reason, then room.idle", T, async () => {
    const token = await new SignJWT({ sub: "alice" })
      .setProtectedHeader({ alg: "HS256" })
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(JWT_SECRET));
    const client = await connect(node.wsUrl("game", "r1", { _pk: "conn-1", token }));
    client.send("hello");
    await client.waitFor((m) => m.text === "hello");
    await client.close(1000, "bye");
    const events = await until(() => good.events("r1").length >= 4 && good.events("r1"), {
      timeoutMs: 30000,
      what: "four events of room r1",
    });
    assert.deepEqual(
      events.map((r) => r.event.event),
      ["room.started", "connect", "close", "room.idle"],
    );
    for (const r of events) {
      assert.equal(r.verified, true, JSON.stringify(r.event));
      assert.equal(r.method, "POST");
      assert.equal(r.headers["content-type"], "application/json");
      assert.equal(r.event.party, "game");
      assert.equal(r.event.node, "webhook-node");
      assert.equal(typeof r.event.at, "number");
      assert.ok(Math.abs(Date.now() - r.event.at) < 10 * 60 * 1000);
      assert.match(r.event.id, /^[0-9a-f]{16}-\d+$/);
    }
    const [started, connected, closed, idle] = events.map((r) => r.event);
    assert.equal(new Set(events.map((r) => r.event.id)).size, 4);
    assert.deepEqual(Object.keys(started).sort(), ["at", "event", "id", "node", "party", "room"]);
    assert.deepEqual(Object.keys(idle).sort(), ["at", "event", "id", "node", "party", "room"]);
    assert.equal(connected.connection, "conn-1");
    assert.equal(connected.auth.sub, "alice");
    assert.equal(closed.connection, "conn-1");
    assert.equal(closed.code, 1000);
    assert.equal(closed.reason, "bye");
    assert.equal(closed.auth.sub, "alice");
  });

  test("a connection without a token has no auth field", T, async () => {
    const client = await connect(node.wsUrl("game", "r2", { _pk: "anonymous" }));
    const connects = () => good.events("r2").filter((r) => r.event.event === "connect");
    const [connected] = await until(() => connects().length && connects(), { timeoutMs: 30000, what: "connect of room r2" });
    assert.equal(connected.verified, true);
    assert.equal(connected.event.connection, "anonymous");
    assert.equal("auth" in connected.event, false);
    await client.close();
  });
});

describe("delivery", () => {
  test("a receiver answering 503 at first gets the event on a later attempt, the same event re-signed", T, async () => {
    const client = await connect(node.wsUrl("flaky", "r1", { _pk: "c-flaky" }));
    await until(() => flaky.received.length >= 3, { timeoutMs: 60000, what: "the third attempt" });
    const bodies = flaky.received.map((r) => r.event);
    assert.equal(new Set(bodies.map((e) => e.id)).size, 1, "every attempt carries the same event id");
    assert.ok(flaky.received.every((r) => r.verified));
    assert.equal(bodies[0].connection, "c-flaky");
    await until(async () => (await metric(node, "partyline_webhook_deliveries_total")) >= 1, { what: "a delivery counted" });
    await client.close();
  });

  test("a receiver that is not listening at first gets the event once it listens", T, async () => {
    const retriesBefore = await metric(node, "partyline_webhook_retries_total");
    const client = await connect(node.wsUrl("later", "r1", { _pk: "c-later" }));
    // The first attempt met a refused connection and waits for its retry.
    await until(async () => (await metric(node, "partyline_webhook_retries_total")) > retriesBefore, {
      timeoutMs: 60000,
      what: "a retry after connection refused",
    });
    later = await startReceiver({ port: laterPort });
    const [delivered] = await until(() => later.received.length && later.received, { timeoutMs: 60000, what: "the retried event" });
    assert.equal(delivered.verified, true);
    assert.equal(delivered.event.event, "connect");
    assert.equal(delivered.event.connection, "c-later");
    await client.close();
  });

  test("a receiver with another secret finds the signature wrong; the refusal is counted, not retried", T, async () => {
    const lostBefore = await metric(node, 'partyline_webhook_failures_total{reason="rejected"}');
    const client = await connect(node.wsUrl("wrong", "r1", { _pk: "c-wrong" }));
    await until(() => wrong.received.length >= 1, { timeoutMs: 30000, what: "an attempt at the wrong receiver" });
    assert.equal(wrong.received[0].verified, false);
    // The same body verifies with the node's secret: only the secret differs.
    const r = wrong.received[0];
    assert.equal(verifyWebhook(SECRET, r.headers, r.raw), true);
    await until(async () => (await metric(node, 'partyline_webhook_failures_total{reason="rejected"}')) === lostBefore + 1, {
      what: "the 401 counted as lost",
    });
    assert.equal(wrong.received.length, 1);
    await client.close();
  });

  test("a room keeps serving messages while its receiver holds the event unanswered", T, async () => {
    const client = await connect(node.wsUrl("hanging", "r1", { _pk: "c-hang" }));
    await until(() => hanging.held.size >= 1, { timeoutMs: 30000, what: "the receiver holding a request" });
    for (let i = 0; i < 20; i++) {
      client.send(`message ${i}`);
      await client.waitFor((m) => m.text === `message ${i}`, 30000);
    }
    // Every message came back while the first event was still unanswered.
    assert.equal(hanging.received.length >= 1, true);
    assert.ok(hanging.held.size >= 1);
    assert.equal(hanging.received[0].event.event, "room.started");
    await client.close();
    // The room's later events wait behind the held one, in order.
    assert.equal(hanging.received.filter((r) => r.event.event === "close").length, 0);
  });
});

describe("metrics", () => {
  test("the webhook families are on /metrics", T, async () => {
    const text = await (await httpFetch(`${node.url}/metrics`)).text();
    for (const name of [
      "partyline_webhook_deliveries_total",
      "partyline_webhook_retries_total",
      'partyline_webhook_failures_total{reason="queue_full"}',
      'partyline_webhook_failures_total{reason="rejected"}',
      'partyline_webhook_failures_total{reason="retries_exhausted"}',
      "partyline_webhook_queued",
    ])
      assert.ok(text.includes(`\n${name} `), name);
  });
});
