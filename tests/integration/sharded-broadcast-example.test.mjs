// examples/sharded-broadcast run as a user runs it (`partyline serve --config
// examples/sharded-broadcast/partyline.yaml`), on two nodes sharing a real
// nats-server: clients spread by the router over the shard rooms on both
// nodes, one POST reaches every one of them exactly once, and so does one
// built-in broadcast.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { connect, httpFetch, startNats, startNodeWithConfig, until } from "./harness.mjs";

const T = { timeout: 120000 };
const CONFIG = "examples/sharded-broadcast/partyline.yaml";
const SHARDS = ["lobby-1", "lobby-2", "lobby-3", "lobby-4"];
const CLIENTS = 12;

describe("examples/sharded-broadcast on two nodes", () => {
  let nats;
  let nodes;
  const clients = [];

  before(async () => {
    nats = await startNats();
    nodes = await Promise.all(["feed-1", "feed-2"].map((nodeId) => startNodeWithConfig(CONFIG, { natsUrl: nats.url, nodeId })));
    for (let i = 0; i < CLIENTS; i++) {
      const node = nodes[i % 2];
      const client = await connect(node.wsUrl("feed", "lobby", { _pk: `reader-${i}` }));
      const welcome = (await client.waitFor((m) => m.text.includes('"welcome"'))).json();
      client.shard = welcome.shard;
      client.node = welcome.node;
      clients.push(client);
    }
  });

  after(async () => {
    for (const c of clients) c.terminate();
    await Promise.all((nodes || []).map((n) => n.stop()));
    await nats?.stop();
  });

  const posts = (client) => client.messages.filter((m) => m.text.includes('"post"')).map((m) => m.json());

  // A built-in broadcast every client receives after whatever was written before it.
  async function flush(marker) {
    const res = await httpFetch(`${nodes[1].url}/v1/parties/feed/lobby/broadcast`, { method: "POST", body: marker }, 10000);
    assert.equal(res.status, 200);
    for (const client of clients) await client.waitFor((m) => m.text === marker, 10000);
  }

  // Every client has the frame `match` finds exactly once.
  async function everyClientGetsOnce(match, what) {
    for (const client of clients) await client.waitFor(match, 10000);
    await flush(`marker after ${what}`); // a duplicate would have come before it
    for (const client of clients) {
      assert.equal(client.messages.filter(match).length, 1, `${client.url} got ${what} once`);
    }
  }

  test("the router spreads the clients over the shard rooms, on both nodes", T, async () => {
    const shards = new Set(clients.map((c) => c.shard));
    for (const s of shards) assert.ok(SHARDS.includes(s), `unexpected shard room ${s}`);
    assert.ok(shards.size >= 2, `${CLIENTS} clients landed in ${[...shards]}`);
    assert.deepEqual(new Set(clients.map((c) => c.node)), new Set(["feed-1", "feed-2"]));
    // GET to the router room: every shard room answers with its count (all nodes).
    await until(
      async () => {
        const res = await httpFetch(nodes[0].httpUrl("feed", "lobby"));
        const { rooms } = await res.json();
        assert.deepEqual(rooms.map((r) => r.room), SHARDS);
        const counts = Object.fromEntries(rooms.map((r) => [r.room, JSON.parse(r.body).connections]));
        return SHARDS.every((s) => counts[s] === clients.filter((c) => c.shard === s).length);
      },
      { timeoutMs: 10000, what: "every shard room's count to match its clients" },
    );
  });

  test("one POST to the router room reaches every client of every shard once", T, async () => {
    const res = await httpFetch(
      nodes[0].httpUrl("feed", "lobby"),
      { method: "POST", body: JSON.stringify({ text: "hello every shard", from: "tester" }) },
      10000,
    );
    const answer = await res.json();
    assert.equal(res.status, 200, JSON.stringify(answer));
    assert.deepEqual(answer.rooms.map((r) => r.room), SHARDS);
    for (const r of answer.rooms) assert.ok(Number.isInteger(JSON.parse(r.body).seq), r.body);
    await everyClientGetsOnce((m) => m.text.includes("hello every shard"), "the post");
    for (const client of clients) {
      const [post] = posts(client).filter((p) => p.text === "hello every shard");
      assert.equal(post.from, "tester");
      assert.equal(post.shard, client.shard, "delivered from the client's own shard room");
      assert.ok(Number.isInteger(post.at));
    }
  });

  test("one built-in broadcast to the router room reaches every client once", T, async () => {
    const res = await httpFetch(`${nodes[1].url}/v1/parties/feed/lobby/broadcast`, { method: "POST", body: "raw to all" }, 10000);
    const answer = await res.json();
    assert.equal(res.status, 200, JSON.stringify(answer));
    assert.deepEqual(answer.rooms.map((r) => r.room), SHARDS);
    await everyClientGetsOnce((m) => m.text === "raw to all", "the built-in broadcast");
  });

  test("a bad post is refused by every shard room and reaches nobody; a frame gets an error", T, async () => {
    const before = clients.map((c) => posts(c).length);
    for (const body of ["", JSON.stringify({ text: 42 }), "{not json", JSON.stringify({ text: "x".repeat(1001) })]) {
      const res = await httpFetch(nodes[0].httpUrl("feed", "lobby"), { method: "POST", body }, 10000);
      const answer = await res.json();
      assert.equal(res.status, 502, `${body.slice(0, 20)}: ${JSON.stringify(answer)}`);
      for (const r of answer.rooms) {
        assert.equal(r.status, 400);
        assert.ok(JSON.parse(r.body).error, r.body);
      }
    }
    const put = await httpFetch(nodes[0].httpUrl("feed", "lobby"), { method: "PUT", body: "x" }, 10000);
    assert.equal(put.status, 502);
    await clients[0].send("hello?");
    const error = await clients[0].waitFor((m) => m.text.includes('"error"'));
    assert.match(error.json().error, /POST to \/parties\/feed/);
    await flush("after the bad posts");
    assert.deepEqual(clients.map((c) => posts(c).length), before, "no bad post was delivered");
  });
});
