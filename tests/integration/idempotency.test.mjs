// Idempotency-Key on POST .../broadcast, across two nodes sharing one log: a
// retried request with the same key is stored once and answered with the same
// sequence and "duplicate": true, whichever node it reaches; another key is a
// new write; a bad key is a 400 that stores nothing.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { fetchJson, startNats, startNode } from "./harness.mjs";

const T = { timeout: 30000 };
let nats;
let a;
let b;

function post(node, room, body, key, contentType) {
  const headers = {};
  if (key !== undefined) headers["Idempotency-Key"] = key;
  if (contentType) headers["Content-Type"] = contentType;
  return fetchJson(`${node.url}/v1/parties/main/${room}/broadcast`, { method: "POST", body, headers });
}

async function history(room) {
  return (await fetchJson(`${a.url}/v1/parties/main/${room}/history?since=0`)).json.entries.map((e) => e.data);
}

describe("Idempotency-Key on broadcasts", () => {
  before(async () => {
    nats = await startNats();
    a = await startNode({ natsUrl: nats.url, nodeId: "idem-a", parties: { main: "log-room.lua" } });
    b = await startNode({ natsUrl: nats.url, nodeId: "idem-b", parties: { main: "log-room.lua" } });
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await nats?.stop();
  });

  test("a retried request is stored once, on either node, and answered with the same seq", T, async () => {
    const first = await post(a, "idem", "pay 10", "order-42");
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.duplicate, undefined);
    for (const node of [a, b, b]) {
      const again = await post(node, "idem", "pay 10", "order-42");
      assert.equal(again.status, 200, again.text);
      assert.deepEqual(again.json, { seq: first.json.seq, duplicate: true });
    }
    const other = await post(b, "idem", "pay 10", "order-43");
    assert.ok(other.json.seq > first.json.seq);
    const plain = await post(a, "idem", "pay 10");
    assert.ok(plain.json.seq > other.json.seq);
    assert.deepEqual(await history("idem"), ["pay 10", "pay 10", "pay 10"]);
  });

  test("the same key in another room is another write; a batch retried is stored once", T, async () => {
    const x = await post(a, "idem-x", "hello", "same-key");
    const y = await post(a, "idem-y", "hello", "same-key");
    assert.equal(y.json.duplicate, undefined, "a key is per room");
    assert.ok(x.json.seq !== y.json.seq);
    const batch = await post(a, "idem-batch", "one\ntwo\n", "batch-1", "application/x-ndjson");
    const retried = await post(b, "idem-batch", "one\ntwo\n", "batch-1", "application/x-ndjson");
    assert.deepEqual(retried.json.seqs, batch.json.seqs);
    assert.equal(retried.json.duplicate, true);
    assert.deepEqual(await history("idem-batch"), ["one", "two"]);
  });

  test("a key over 128 bytes, empty, or with spaces is a 400 and nothing is stored", T, async () => {
    for (const key of ["k".repeat(129), "", "has space"]) {
      const res = await post(a, "idem-bad", "never", key);
      assert.equal(res.status, 400, `${JSON.stringify(key)}: ${res.text}`);
      assert.match(res.text, /Idempotency-Key/);
    }
    assert.deepEqual(await history("idem-bad"), []);
  });
});
