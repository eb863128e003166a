// The room API with real processes (scripts/room-api.lua): two partyline
// nodes on one nats-server. conn.tags and room:connections(tag) on a shard,
// conn.state read by another connection's handler through room:connection,
// room:history against the built-in history endpoint, a shard started on the
// second node rehydrating from the log in onStart, and now() in milliseconds.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { connect, httpFetch, startNats, startNode } from "./harness.mjs";

const T = { timeout: 60000 };
const PARTY = "api";

let nats;
let nodeA;
let nodeB;

async function getJson(url) {
  const res = await httpFetch(url, {}, 10000);
  const text = await res.text();
  assert.equal(res.status, 200, `${url}: ${res.status} ${text}`);
  return JSON.parse(text);
}

describe("room API", () => {
  before(async () => {
    nats = await startNats();
    const options = { natsUrl: nats.url, parties: { [PARTY]: "room-api.lua" } };
    [nodeA, nodeB] = await Promise.all([startNode({ ...options, nodeId: "a" }), startNode({ ...options, nodeId: "b" })]);
  });

  after(async () => {
    await Promise.all([nodeA?.stop(), nodeB?.stop()]);
    await nats?.stop();
  });

  test("room:connections(tag) reaches only the connections tagged so", T, async () => {
    const url = (pk, team) => nodeA.wsUrl(PARTY, "teams", team ? { _pk: pk, team } : { _pk: pk });
    const red1 = await connect(url("red1", "red"));
    const red2 = await connect(url("red2", "red"));
    const blue = await connect(url("blue1", "blue"));
    const none = await connect(url("plain"));
    // Frames of one connection are handled in order, so "whois" answering proves onConnect ran.
    for (const c of [red1, red2, blue, none]) {
      await c.send("whois nobody");
      await c.waitFor((m) => m.text === "nobody is unknown");
    }
    await none.send("team red for red");
    await none.send("team blue for blue");
    await red1.waitFor((m) => m.text === "for red");
    await red2.waitFor((m) => m.text === "for red");
    await blue.waitFor((m) => m.text === "for blue");
    // A marker sent to every connection after both: nothing else arrived before it.
    await none.send("team red end");
    await none.send("team blue end");
    for (const [c, expected] of [[red1, "for red"], [red2, "for red"], [blue, "for blue"]]) {
      await c.waitFor((m) => m.text === "end");
      assert.deepEqual(c.texts.filter((t) => t.startsWith("for ")), [expected]);
    }
    assert.deepEqual(none.texts.filter((t) => t.startsWith("for ") || t === "end"), []);
    await Promise.all([red1, red2, blue, none].map((c) => c.close()));
  });

  test("conn.state set by one connection's handler is read by another's through room:connection", T, async () => {
    const alice = await connect(nodeA.wsUrl(PARTY, "names", { _pk: "alice" }));
    const bob = await connect(nodeA.wsUrl(PARTY, "names", { _pk: "bob" }));
    await alice.send("name Alice Liddell");
    await alice.waitFor((m) => m.text === "named Alice Liddell");
    await bob.send("whois alice");
    await bob.waitFor((m) => m.text === "alice is Alice Liddell");
    await alice.close();
    await bob.send("whois alice");
    await bob.waitFor((m) => m.text === "alice is unknown");
    await bob.close();
  });

  test("room:history matches the history endpoint, with since and limit", T, async () => {
    const room = "ledger";
    const seqs = [];
    for (let i = 0; i < 12; i++) {
      const node = i % 2 ? nodeB : nodeA;
      const res = await httpFetch(node.httpUrl(PARTY, room), { method: "POST", body: `write ${i}` }, 10000);
      assert.equal(res.status, 200);
      seqs.push((await res.json()).seq);
    }
    const builtIn = await getJson(`${nodeA.url}/v1/parties/${PARTY}/${room}/history?since=0&limit=1000`);
    const fromLua = await getJson(nodeB.httpUrl(PARTY, room, "/history", { since: "0", limit: "1000" }));
    assert.equal(fromLua.truncated, false);
    assert.deepEqual(fromLua.entries, builtIn.entries);
    assert.deepEqual(fromLua.entries.map((e) => e.seq), seqs);
    assert.deepEqual(fromLua.entries.map((e) => e.data), seqs.map((_, i) => `write ${i}`));
    const page = await getJson(nodeA.httpUrl(PARTY, room, "/history", { since: String(seqs[3]), limit: "4" }));
    assert.deepEqual(page.entries.map((e) => e.seq), seqs.slice(4, 8));
    const end = await getJson(nodeA.httpUrl(PARTY, room, "/history", { since: String(seqs.at(-1)) }));
    assert.deepEqual(end.entries, []);
    const bad = await httpFetch(nodeA.httpUrl(PARTY, room, "/history", { limit: "0" }), {}, 10000);
    assert.equal(bad.status, 500);
    assert.match(await bad.text(), /room-api\.lua:\d+: .*limit must be 1\.\.1000, got 0/);
  });

  test("a shard started after the writes rehydrates from the log in onStart", T, async () => {
    const room = "rehydrate";
    let last = 0;
    for (let i = 0; i < 30; i++) last = (await nodeA.broadcast(PARTY, room, `w${i}`)).json.seq;
    // Node B has never touched the room: its first request starts the shard, and onStart reads the log.
    const started = await getJson(nodeB.httpUrl(PARTY, room, "/started"));
    assert.deepEqual(started, { count: 30, last });
  });

  test("now() is the wall clock in milliseconds", T, async () => {
    const before = Date.now();
    const { now } = await getJson(nodeA.httpUrl(PARTY, "clock", "/now"));
    const after = Date.now();
    assert.ok(Number.isInteger(now));
    assert.ok(now >= before - 1000 && now <= after + 1000, `now() = ${now}, test clock ${before}..${after}`);
  });
});
