// examples/counter: the room script as party counter (with storage) on two
// nodes with a real nats-server: concurrent increments from both nodes by
// HTTP and by WebSocket end at the exact count, and the count outlives the
// nodes and the nats-server.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { connect, fetchJson, startNats, startNodeWithConfig, until } from "./harness.mjs";

const T = { timeout: 180000 };
const CONFIG = "examples/counter/partyline.yaml"; // the example's own configuration

describe("examples/counter on two nodes", () => {
  let nats;
  let nodes;

  before(async () => {
    nats = await startNats();
    nodes = await Promise.all(["counter-1", "counter-2"].map((nodeId) => startNodeWithConfig(CONFIG, { natsUrl: nats.url, nodeId })));
  });

  after(async () => {
    await Promise.all((nodes || []).map((node) => node.stop()));
    await nats?.stop();
  });

  const request = (node, room, method = "GET", body) => fetchJson(node.httpUrl("counter", room), { method, body }, 30000);

  const count = async (node, room) => (await request(node, room)).json;

  test("120 concurrent POSTs over two nodes: every increment counted once", T, async () => {
    const room = "race-http";
    assert.deepEqual(await count(nodes[0], room), { value: 0, rev: 0 });
    assert.deepEqual(await count(nodes[1], room), { value: 0, rev: 0 }); // both shards exist before the race

    const n = 120;
    const answers = await Promise.all(
      Array.from({ length: n }, (_, i) => request(nodes[i % 2], room, "POST", JSON.stringify({ by: 1 }))),
    );
    for (const a of answers) assert.equal(a.status, 200, a.text);
    // Each increment saw its own value: 1..n, each exactly once.
    const values = answers.map((a) => a.json.value).sort((x, y) => x - y);
    assert.deepEqual(values, Array.from({ length: n }, (_, i) => i + 1));
    const retries = answers.reduce((sum, a) => sum + a.json.attempts - 1, 0);
    console.log(`${n} increments over 2 nodes: ${retries} retried after a conflict`);
    assert.ok(retries > 0, "the two nodes never conflicted: the test did not exercise compare-and-set");
    for (const node of nodes) assert.equal((await count(node, room)).value, n);
  });

  test("WebSocket clients on both nodes: adds and subtracts end at the exact count, broadcast to all", T, async () => {
    const room = "race-ws";
    const clients = await Promise.all(
      Array.from({ length: 8 }, (_, i) => connect(nodes[i % 2].wsUrl("counter", room))),
    );
    for (const client of clients) {
      const first = (await client.waitFor(1))[0].json();
      assert.deepEqual(first, { type: "count", value: 0, rev: 0 });
    }
    // Each client sends 25 frames: +1 x 20, +3 x 5, -2 x 5 ... net +25 per client.
    const frames = [...Array(20).fill(1), ...Array(5).fill(3), ...Array(5).fill(-2)].map((by) => JSON.stringify({ type: "add", by }));
    await Promise.all(clients.map(async (client) => {
      for (const frame of frames) await client.send(frame);
    }));
    const expected = clients.length * 25;
    const counts = (client) => client.messages.map((m) => m.json()).filter((m) => m.type === "count");
    const total = clients.length * frames.length;
    for (const client of clients) {
      await until(() => counts(client).length >= 1 + total, { timeoutMs: 60000, what: `${total} counts after the greeting` });
    }
    for (const client of clients) {
      const seen = counts(client).slice(1); // after the greeting
      assert.equal(seen.length, total, "one broadcast per frame");
      const revs = seen.map((m) => m.rev);
      assert.equal(new Set(revs).size, revs.length, "every change has its own revision");
      const last = seen.reduce((a, b) => (b.rev > a.rev ? b : a));
      assert.equal(last.value, expected, "the highest revision holds the final count");
      assert.equal(client.messages.filter((m) => m.json().type === "error").length, 0);
    }
    assert.equal((await count(nodes[1], room)).value, expected);
    await Promise.all(clients.map((client) => client.close()));
  });

  test("bad requests and frames are refused and change nothing", T, async () => {
    const room = "strict";
    const five = (await request(nodes[0], room, "POST", JSON.stringify({ by: 5 }))).json;
    assert.equal(five.value, 5);
    for (const body of ["nope", JSON.stringify({ by: 1.5 }), JSON.stringify({ by: 1001 }), JSON.stringify({ by: "1" }), "[1]"]) {
      const a = await request(nodes[0], room, "POST", body);
      assert.equal(a.status, 400, `${body}: ${a.text}`);
      assert.match(a.json.error, /JSON object|integer/);
    }
    assert.equal((await request(nodes[0], room, "PUT", "{}")).status, 405);

    const client = await connect(nodes[1].wsUrl("counter", room));
    await client.waitFor(1);
    const bad = [JSON.stringify({ type: "add", by: 2000 }), JSON.stringify({ type: "set", by: 1 }), "{"];
    for (const frame of bad) await client.send(frame);
    await client.send(Buffer.from([1, 2]), { binary: true });
    const all = await client.waitFor(1 + bad.length + 1, 10000);
    assert.deepEqual(all.slice(1).map((m) => m.json().type), ["error", "error", "error", "error"]);
    for (const node of nodes) assert.deepEqual(await count(node, room), { value: 5, rev: five.rev });
    await client.close();
  });

  test("the count outlives every node and a nats-server restart", T, async () => {
    const room = "durable";
    for (let i = 0; i < 7; i++) assert.equal((await request(nodes[i % 2], room, "POST", JSON.stringify({ by: 1 }))).status, 200);
    const before = await count(nodes[0], room);
    assert.equal(before.value, 7);

    await Promise.all(nodes.map((node) => node.stop()));
    nodes = [await startNodeWithConfig(CONFIG, { natsUrl: nats.url, nodeId: "counter-3" })];
    assert.deepEqual(await count(nodes[0], room), before, "a new node reads the stored count");

    await nodes[0].stop();
    await nats.restart();
    nodes = [await startNodeWithConfig(CONFIG, { natsUrl: nats.url, nodeId: "counter-4" })];
    const client = await connect(nodes[0].wsUrl("counter", room));
    assert.deepEqual((await client.waitFor(1))[0].json(), { type: "count", ...before });
    await client.send(JSON.stringify({ type: "add", by: -1 }));
    const changed = (await client.waitFor((m) => m.json().value === 6)).json();
    assert.ok(changed.rev > before.rev);
    await client.close();
  });
});
