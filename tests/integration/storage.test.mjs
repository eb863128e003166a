// room.storage with real processes: two partyline nodes on one nats-server,
// a room whose onRequest drives its storage (scripts/store.lua). Storage is a
// JetStream key-value bucket shared by every shard of a room on every node:
// compare-and-set decides between shards on different nodes, values outlive
// the nodes and the nats-server, and a shard that starts later reads them in
// onStart. Bad calls and a lost NATS server answer with clear errors, not hangs.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { httpFetch, startNats, startNode } from "./harness.mjs";

const T = { timeout: 90000 };
const PARTY = "store";

let nats;
before(async () => {
  nats = await startNats();
});
after(async () => {
  await nats?.stop();
});

function storeNode(nodeId, extra = {}) {
  return startNode({
    natsUrl: nats.url,
    nodeId,
    parties: { [PARTY]: { script: "store.lua", storage: true }, plain: "store.lua" },
    limits: { storage_value_bytes: "1KiB" },
    ...extra,
  });
}

// A request to the store room; resolves with {status, json, body}.
async function call(node, room, op, { query, body, party = PARTY, timeoutMs = 15000 } = {}) {
  const res = await httpFetch(node.httpUrl(party, room, `/${op}`, query), body === undefined ? {} : { method: "POST", body }, timeoutMs);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, body: text };
}

describe("storage shared by two nodes", () => {
  let a, b;
  before(async () => {
    [a, b] = await Promise.all([storeNode("store-a"), storeNode("store-b")]);
  });
  after(async () => {
    await Promise.all([a?.kill(), b?.kill()]);
  });

  test("a value written on one node is read on the other, with its revision; tables come back as tables", T, async () => {
    const put = await call(a, "shared", "put", { query: { key: "profile", json: "1" }, body: '{"name":"Ada","langs":["lua","c"]}' });
    assert.equal(put.status, 200, put.body);
    const got = await call(b, "shared", "get", { query: { key: "profile" } });
    assert.equal(got.status, 200, got.body);
    assert.deepEqual(got.json, { value: { name: "Ada", langs: ["lua", "c"] }, rev: put.json.rev });
    const missing = await call(b, "shared", "get", { query: { key: "nobody" } });
    assert.deepEqual(missing.json, { value: null, rev: null });
    await call(b, "shared", "put", { query: { key: "note" }, body: "plain text" });
    const listed = await call(a, "shared", "list");
    assert.deepEqual(listed.json, { note: "plain text", profile: { name: "Ada", langs: ["lua", "c"] } });
    const deleted = await call(a, "shared", "delete", { query: { key: "note" } });
    assert.equal(deleted.status, 200);
    assert.deepEqual((await call(b, "shared", "get", { query: { key: "note" } })).json, { value: null, rev: null });
  });

  test("two shards on two nodes racing with the same expected revision: exactly one wins, every round", T, async (t) => {
    const room = "cas-race";
    let rev = 0;
    let wins = { a: 0, b: 0 };
    for (let round = 1; round <= 15; round++) {
      const [onA, onB] = await Promise.all(
        [a, b].map((node, i) => call(node, room, "put", { query: { key: "turn", expect: String(rev) }, body: `${"ab"[i]}-${round}` })),
      );
      const statuses = [onA.status, onB.status].sort();
      assert.deepEqual(statuses, [200, 409], `round ${round}: ${onA.body} / ${onB.body}`);
      const winner = onA.status === 200 ? onA : onB;
      wins[onA.status === 200 ? "a" : "b"]++;
      const now = await call(b, room, "get", { query: { key: "turn" } });
      assert.equal(now.json.rev, winner.json.rev);
      rev = winner.json.rev;
    }
    t.diagnostic(`15 rounds: node a won ${wins.a}, node b won ${wins.b}`);
  });

  test("concurrent compare-and-set increments from both nodes lose no update", T, async (t) => {
    const room = "counter-race";
    const perNode = 20;
    const results = await Promise.all(
      [a, b].flatMap((node) => Array.from({ length: perNode }, () => call(node, room, "incr", { body: "" }))),
    );
    for (const r of results) assert.equal(r.status, 200, r.body);
    const values = results.map((r) => r.json.value).sort((x, y) => x - y);
    assert.deepEqual(values, Array.from({ length: 2 * perNode }, (_, i) => i + 1), "each increment saw its own value");
    const final = await call(a, room, "get", { query: { key: "count" } });
    assert.equal(final.json.value, 2 * perNode);
    const conflicts = results.reduce((sum, r) => sum + r.json.conflicts, 0);
    t.diagnostic(`${2 * perNode} increments from 2 nodes, ${conflicts} conflicts retried`);
  });

  test("bad calls answer 500 naming the script line and what is wrong; a party without storage says so", T, async () => {
    const numberKey = await call(a, "bad", "bad", { query: { case: "numberKey" } });
    assert.equal(numberKey.status, 500);
    assert.match(numberKey.body, /store\.lua:\d+: room\.storage:get: the key must be a string, got number/);
    const big = await call(a, "bad", "bad", { query: { case: "bigValue" } });
    assert.equal(big.status, 500);
    assert.match(big.body, /room\.storage:put: the value is 4097 bytes stored, over limits\.storage_value_bytes \(1024\)/);
    const plain = await call(a, "bad", "get", { party: "plain", query: { key: "k" } });
    assert.equal(plain.status, 500);
    assert.match(plain.body, /room\.storage is not enabled for party 'plain': set storage: true for it in the configuration/);
    // The room keeps serving.
    assert.equal((await call(a, "bad", "get", { query: { key: "k" } })).status, 200);
  });
});

describe("storage outlives nodes and the nats-server", () => {
  test("values survive a node killed and started again; the new shard rehydrates in onStart", T, async () => {
    let node = await storeNode("survivor-1");
    for (let i = 1; i <= 3; i++) assert.equal((await call(node, "durable", "incr", { body: "" })).json.value, i);
    assert.equal((await call(node, "durable", "started")).json.count, 0);
    await node.kill();

    node = await storeNode("survivor-2");
    try {
      // The shard starts on this request: onStart read the count before onRequest ran.
      assert.deepEqual((await call(node, "durable", "started")).json, { count: 3 });
      assert.equal((await call(node, "durable", "incr", { body: "" })).json.value, 4);
    } finally {
      await node.kill();
    }
  });

  test("values survive the nats-server restarting; while it is down a storage call fails in bounded time", T, async (t) => {
    const node = await storeNode("nats-restart");
    try {
      const put = await call(node, "through-restart", "put", { query: { key: "k" }, body: "kept" });
      assert.equal(put.status, 200, put.body);
      await nats.kill();
      const started = Date.now();
      const down = await call(node, "through-restart", "get", { query: { key: "k" }, timeoutMs: 30000 });
      const waited = Date.now() - started;
      assert.equal(down.status, 500, down.body);
      assert.match(down.body, /room\.storage:get: (unavailable|timeout): /);
      assert.ok(waited < 20000, `answered after ${waited} ms`);
      t.diagnostic(`with NATS down, room.storage:get failed after ${waited} ms: ${down.body.trim()}`);
      await nats.restart();
      const back = await call(node, "through-restart", "get", { query: { key: "k" }, timeoutMs: 30000 });
      assert.equal(back.status, 200, back.body);
      assert.deepEqual(back.json, { value: "kept", rev: put.json.rev });
    } finally {
      await node.kill();
    }
  });
});
