// Router parties: one room's connections spread over N shard rooms of a
// target party, across three nodes; a broadcast to the router room reaches
// every shard room. Also checks how evenly least-connections spreads
// connections opened on all nodes at once, 50 at a time, each batch choosing
// before any node knows the others' choices: each node evens out its own
// connections, so the rooms never differ by more than one per node.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { connect, httpFetch, scriptPath, startNats, startNode, until } from "./harness.mjs";

const T = { timeout: 120000 };
const SHARDS = 5;
const CONNECTIONS = Number(process.env.PARTYLINE_ROUTER_CONNECTIONS) || 600;

let nats;
const nodes = [];
const clients = [];

function parties(strategy) {
  return {
    where: { script: scriptPath("where.lua") },
    split: { router: { target: "where", shards: SHARDS, strategy } },
    hashed: { router: { target: "where", shards: SHARDS, strategy: "hash" } },
    count: { script: scriptPath("count.lua") },
  };
}

async function join(node, party, room, id) {
  const client = await connect(node.wsUrl(party, room, { _pk: id }));
  clients.push(client);
  await client.waitFor((m) => m.text.includes('"welcome"'), 5000);
  const welcome = JSON.parse(client.messages.find((m) => m.text.includes('"welcome"')).text);
  return { client, room: welcome.room, node: welcome.node };
}

// Until every node counts what the test knows is in each shard room: the next batch then chooses
// with what the last one did known everywhere, as connections arriving over time do.
async function settled(counts) {
  for (const node of nodes) {
    for (let shard = 1; shard <= SHARDS; shard++) {
      const room = `big-${shard}`;
      await until(async () => {
        const res = await httpFetch(node.httpUrl("where", room));
        return res.status === 200 && (await res.json()).count === (counts.get(room) || 0);
      }, { timeoutMs: 10000, intervalMs: 20, what: `${node.host} to count ${counts.get(room) || 0} in ${room}` });
    }
  }
}

describe("router parties across three nodes", () => {
  before(async () => {
    nats = await startNats();
    for (const id of ["r1", "r2", "r3"]) {
      nodes.push(await startNode({ natsUrl: nats.url, nodeId: id, limits: { max_connections: 2000 },
                                   config: { parties: parties("least-connections") } }));
    }
  });
  after(async () => {
    for (const c of clients) c.ws.terminate();
    for (const n of nodes) await n.stop();
    await nats?.stop();
  });

  test(`least-connections spreads ${CONNECTIONS} connections over ${SHARDS} shard rooms evenly`, T, async () => {
    const counts = new Map();
    const batch = 50;
    let widest = 0;
    for (let i = 0; i < CONNECTIONS; i += batch) {
      const joined = await Promise.all(
        Array.from({ length: Math.min(batch, CONNECTIONS - i) }, (_, k) =>
          join(nodes[(i + k) % nodes.length], "split", "big", `lc-${i + k}`)));
      for (const j of joined) counts.set(j.room, (counts.get(j.room) || 0) + 1);
      await settled(counts);
      const values = Array.from({ length: SHARDS }, (_, s) => counts.get(`big-${s + 1}`) || 0);
      widest = Math.max(widest, Math.max(...values) - Math.min(...values));
      assert.ok(Math.max(...values) - Math.min(...values) <= nodes.length,
                `after ${i + batch}: ${JSON.stringify(Object.fromEntries([...counts].sort()))}`);
    }
    const values = [...counts.values()];
    console.log(`least-connections over 3 nodes: ${JSON.stringify(Object.fromEntries([...counts].sort()))}, ` +
                `widest spread after a batch ${widest}`);
    assert.equal(counts.size, SHARDS, "every shard room is used");
    assert.equal(values.reduce((a, b) => a + b, 0), CONNECTIONS);
  });

  test("hash keeps a connection id on the same shard room whichever node it reaches", T, async () => {
    for (const id of ["alice", "bob", "carol", "dave"]) {
      const rooms = new Set();
      for (const node of nodes) rooms.add((await join(node, "hashed", "h", id)).room);
      assert.equal(rooms.size, 1, `${id} landed in ${[...rooms]}`);
    }
  });

  test("a broadcast to the router room reaches every client of every shard room on every node", T, async () => {
    const members = [];
    for (let i = 0; i < 15; i++) members.push(await join(nodes[i % 3], "split", "news", `n-${i}`));
    assert.ok(new Set(members.map((m) => m.room)).size > 1, "clients spread over several shard rooms");
    const res = await httpFetch(`${nodes[1].url}/v1/parties/split/news/broadcast`, { method: "POST", body: "extra!" });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const answer = JSON.parse(text);
    assert.equal(answer.rooms.length, SHARDS);
    for (const m of members) await m.client.waitFor((msg) => msg.text === "extra!", 5000);
    for (const m of members) assert.equal(m.client.texts.filter((t) => t === "extra!").length, 1);
  });

  test("room:count() covers the connections of every node once presence has spread", T, async () => {
    const counted = [];
    for (const node of nodes) {
      const client = await connect(node.wsUrl("count", "lobby", {}));
      clients.push(client);
      counted.push(client);
    }
    // Each poll waits for its own answer (the messages after the ones seen so far): every node
    // must come to count the 3 connections. Presence takes tens of milliseconds; the bound is
    // generous so a busy machine passes, and the count must then hold still.
    const ask = async (client) => {
      const seen = client.messages.length;
      await client.send("count");
      await client.waitFor(() => client.messages.slice(seen).find((m) => m.text.startsWith("count=")), 5000);
      return client.messages.slice(seen).find((m) => m.text.startsWith("count=")).text;
    };
    for (const client of counted) {
      await until(async () => (await ask(client)) === "count=3",
                  { timeoutMs: 10000, intervalMs: 100, what: "count=3 on every node" });
    }
    for (const client of counted) assert.equal(await ask(client), "count=3");
  });
});
