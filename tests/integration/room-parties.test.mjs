// room.parties with real processes: two partyline nodes on one nats-server. A game room on node A
// writes into lobby "main" (a client of it on node B receives the write through the log) and
// calls the lobby's onRequest, which runs in a lobby shard on node A and counts the connection on
// node B; a write to a router party's room reaches every shard room; a room calling itself gets
// "cycle" at once (scripts/parties.lua).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { connect, fetchJson, scriptPath, startNats, startNode } from "./harness.mjs";

const T = { timeout: 90000 };

let nats, a, b;
before(async () => {
  nats = await startNats();
  const parties = {
    game: { script: scriptPath("parties.lua") },
    lobby: { script: scriptPath("parties.lua") },
    big: { router: { target: "lobby", shards: 2 } },
  };
  [a, b] = await Promise.all([
    startNode({ natsUrl: nats.url, nodeId: "parties-a", config: { parties } }),
    startNode({ natsUrl: nats.url, nodeId: "parties-b", config: { parties } }),
  ]);
});
after(async () => {
  await Promise.all([a?.kill(), b?.kill()]);
  await nats?.stop();
});

async function game(node, room, op) {
  const res = await fetchJson(node.httpUrl("game", room, "", { op }), {}, 20000);
  assert.equal(res.status, 200, res.text);
  return res.json;
}

describe("rooms calling rooms across two nodes", () => {
  test("a game room's write reaches the lobby's client on the other node; its call runs the lobby's onRequest", T, async () => {
    const client = await connect(b.wsUrl("lobby", "main"));
    await client.waitFor((m) => m.text === "joined");
    // The lobby counts the client on node B once B's presence reached node A: ask until it does.
    let announced;
    for (let i = 0; i < 100; i++) {
      announced = await game(a, "g1", "announce");
      if (announced.players?.count === 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(announced.status, 200, JSON.stringify(announced));
    assert.deepEqual(announced.players, { count: 1, from: "g1", path: "/players" });
    assert.equal(typeof announced.seq, "number");
    const write = await client.waitFor((m) => m.text.startsWith("{"), 10000);
    assert.deepEqual(write.json(), { type: "game-started", id: "g1" });
    await client.close();
  });

  test("a write to a router party's room goes into every shard room's log", T, async () => {
    const halls = await Promise.all([connect(b.wsUrl("lobby", "hall-1")), connect(b.wsUrl("lobby", "hall-2"))]);
    for (const hall of halls) await hall.waitFor((m) => m.text === "joined");
    const out = await game(a, "g2", "router");
    assert.equal(out.seqs.length, 2, JSON.stringify(out));
    for (const hall of halls) assert.equal((await hall.waitFor((m) => m.text === "to every hall", 10000)).text, "to every hall");
    await Promise.all(halls.map((hall) => hall.close()));
  });

  test("a room calling itself answers cycle at once", T, async () => {
    assert.deepEqual(await game(a, "g3", "self"), { err: "cycle" });
  });
});
