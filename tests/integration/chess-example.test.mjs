// examples/chess run as a user runs it (`partyline serve --config
// examples/chess/partyline.yaml`) on two nodes sharing a real nats-server,
// with `ws` clients: the rules (legal-move counts of known positions, to
// depth 2, and each special rule), seats, two clients on two nodes racing
// conflicting moves (exactly one accepted, both see the same board), and a
// restarted node rebuilding the game from the log.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { connect, httpFetch, startNats, startNodeWithConfig, until } from "./harness.mjs";

const T = { timeout: 240000 };
const CONFIG = "examples/chess/partyline.yaml";
const START = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1";

// Legal-move counts to depth 1 and 2 (perft) of well-known test positions
// (https://www.chessprogramming.org/Perft_Results): castling, en passant,
// promotions, pins and checks all show up in them.
const PERFT = [
  { name: "start", fen: START, depth1: 20, depth2: 400 },
  { name: "kiwipete", fen: "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1", depth1: 48, depth2: 2039 },
  { name: "position 3", fen: "8/2p5/3p4/KP5r/1R3p1k/8/4P1P1/8 w - - 0 1", depth1: 14, depth2: 191 },
  { name: "position 4", fen: "r3k2r/Pppp1ppp/1b3nbN/nP6/BBP1P3/q4N2/Pp1P2PP/R2Q1RK1 w kq - 0 1", depth1: 6, depth2: 264 },
  { name: "position 5", fen: "rnbq1k1r/pp1Pbppp/2p5/8/2B5/8/PPP1NnPP/RNBQK2R w KQ - 1 8", depth1: 44, depth2: 1486 },
  { name: "position 6", fen: "r4rk1/1pp1qppp/p1np1n2/2b1p1B1/2B1P1b1/P1NP1N2/1PP1QPPP/R4RK1 w - - 0 10", depth1: 46, depth2: 2079 },
];

// A connected player (subprotocol partyline.v1, so each write comes with its
// log sequence): `view` is the latest position it knows (the state it got on
// joining, then each write), `seq` the last write it received, `act` sends
// one frame and resolves with the write it became or the error it got.
async function join(node, room, id) {
  const client = await connect(node.wsUrl("chess", room, { _pk: id }), { protocols: ["partyline.v1"] });
  Object.assign(client, { id, seq: 0, view: null, moves: [], events: [], read: 0 });
  // Reads the frames the client recorded since the last call (the state can
  // arrive with the upgrade's answer, before any listener of ours could).
  const pump = () => {
    for (; client.read < client.messages.length; client.read++) {
      const m = client.messages[client.read];
      if (!m.binary) follow(JSON.parse(m.text));
    }
  };
  const follow = (frame) => {
    if (typeof frame.data !== "string") {
      client.events.push(frame); // a frame of the script's own: state or error
      if (frame.type === "state") Object.assign(client, { view: frame, seq: frame.seq, moves: [...frame.moves] });
      return;
    }
    client.seq = frame.seq;
    let write;
    try {
      write = { ...JSON.parse(frame.data), seq: frame.seq };
    } catch {
      return; // not a write of the game
    }
    client.events.push(write);
    if (!write.fen) return;
    client.view = write;
    if (write.type === "reset") client.moves = [];
    if (write.type === "move") client.moves.push(`${write.from}${write.to}${write.promotion || ""}`);
  };
  client.waiters.add(pump); // the harness calls its waiters on every frame
  pump();
  await until(() => client.view, { what: `${id}'s state` });
  client.act = async (frame) => {
    const seen = client.events.length;
    await client.send(JSON.stringify(frame));
    const reply = await until(
      () => client.events.slice(seen).find((e) => e.type === "error" || (e.by === id && e.type === frame.type)),
      { timeoutMs: 10000, intervalMs: 5, what: `the answer to ${JSON.stringify(frame)}` },
    );
    return reply.type === "error" ? { error: reply.error } : { write: reply };
  };
  return client;
}

// Waits until every client received the write `seq`, so each shard followed it.
const settle = (clients, seq) =>
  until(() => clients.every((c) => c.seq >= seq), { timeoutMs: 10000, intervalMs: 5, what: `every client at seq ${seq}` });

const move = (uci) => ({ type: "move", from: uci.slice(0, 2), to: uci.slice(2, 4), promotion: uci[4] });

async function accepted(client, frame) {
  const result = await client.act(frame);
  assert.ok(result.write, `${JSON.stringify(frame)} was refused: ${result.error}`);
  return result.write;
}

async function refused(client, frame, why) {
  const result = await client.act(frame);
  assert.ok(result.error, `${JSON.stringify(frame)} was accepted`);
  assert.match(result.error, why);
}

async function play(client, ...ucis) {
  let write;
  for (const uci of ucis) write = await accepted(client, move(uci));
  return write;
}

// The room's writes as the log holds them.
async function logOf(node, room) {
  const res = await httpFetch(`${node.url}/v1/parties/chess/${encodeURIComponent(room)}/history?since=0&limit=1000`, {}, 10000);
  assert.equal(res.status, 200);
  return (await res.json()).entries.map((e) => ({ seq: e.seq, ...JSON.parse(e.data) }));
}

describe("examples/chess on two nodes", () => {
  let nats;
  let nodes;

  before(async () => {
    nats = await startNats();
    nodes = await Promise.all(["chess-1", "chess-2"].map((nodeId) => startNodeWithConfig(CONFIG, { natsUrl: nats.url, nodeId })));
  });

  after(async () => {
    await Promise.all((nodes || []).map((n) => n.stop()));
    await nats?.stop();
  });

  test("legal-move counts of known positions match, to depth 2", T, async () => {
    const tester = await join(nodes[0], "perft", "tester");
    for (const { name, fen, depth1, depth2 } of PERFT) {
      const root = await accepted(tester, { type: "reset", fen });
      assert.equal(root.fen, fen, `${name}: the position is the one asked for`);
      assert.equal(root.legal.length, depth1, `${name}: ${root.legal.length} legal moves: ${root.legal.join(" ")}`);
      let leaves = 0;
      for (const uci of root.legal) {
        await accepted(tester, { type: "reset", fen });
        leaves += (await accepted(tester, move(uci))).legal.length;
      }
      assert.equal(leaves, depth2, `${name}: positions after two plies`);
    }
    tester.terminate();
  });

  test("each special rule: castling, en passant, promotion, pins, check, mate, stalemate", T, async () => {
    const p = await join(nodes[0], "rules", "rules-player");
    // Turn order and piece movement.
    await refused(p, move("e7e5"), /it is white's turn/);
    await refused(p, move("e2e5"), /a pawn cannot move from e2 to e5/);
    await refused(p, move("b1b3"), /a knight cannot move/);
    await refused(p, move("f1c4"), /a bishop cannot move/); // blocked by its own pawn
    await refused(p, move("e3e4"), /there is no piece on e3/);
    // En passant: only right after the double step.
    let w = await play(p, "e2e4", "a7a6", "e4e5", "d7d5", "e5d6");
    assert.equal(w.fen, "rnbqkbnr/1pp1pppp/p2P4/8/8/8/PPPP1PPP/RNBQKBNR b KQkq - 0 3");
    // Castling: both sides; not through an attacked square; not after the king moved.
    await accepted(p, { type: "reset", fen: "4kr2/8/8/8/8/8/8/R3K2R w KQ - 0 1" });
    await refused(p, move("e1g1"), /a king cannot move from e1 to g1/); // f1 is attacked
    w = await accepted(p, move("e1c1"));
    assert.equal(w.fen.split(" ")[0], "4kr2/8/8/8/8/8/8/2KR3R");
    assert.equal(w.fen.split(" ")[2], "-");
    await accepted(p, { type: "reset", fen: "r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1" });
    w = await play(p, "e1g1", "e8c8");
    assert.equal(w.fen, "2kr3r/8/8/8/8/8/8/R4RK1 w - - 2 2");
    await accepted(p, { type: "reset", fen: "r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1" });
    await play(p, "e1e2", "e8e7", "e2e1", "e7e8");
    await refused(p, move("e1g1"), /a king cannot move/);
    // A pinned piece stays; a king does not step into check.
    await accepted(p, { type: "reset", fen: "4k3/4r3/8/8/8/8/4B3/4K3 w - - 0 1" });
    await refused(p, move("e2d3"), /leaves the white king in check/);
    await accepted(p, { type: "reset", fen: "4k3/8/8/8/8/8/3r4/4K3 w - - 0 1" });
    await refused(p, move("e1e2"), /leaves the white king in check/);
    await refused(p, move("e1d1"), /leaves the white king in check/);
    assert.deepEqual((await accepted(p, move("e1d2"))).fen.split(" ")[0], "4k3/8/8/8/8/8/3K4/8");
    // Promotion: to a knight when asked, to a queen by default, only on the last rank.
    await accepted(p, { type: "reset", fen: "8/P6k/8/8/8/8/1P6/K7 w - - 0 1" });
    await refused(p, { ...move("b2b3"), promotion: "q" }, /only a pawn that reaches the last rank/);
    await refused(p, { ...move("a7a8"), promotion: "k" }, /promotion must be/);
    w = await accepted(p, { ...move("a7a8"), promotion: "n" });
    assert.equal(w.fen.split(" ")[0], "N7/7k/8/8/8/8/1P6/K7");
    await accepted(p, { type: "reset", fen: "8/P6k/8/8/8/8/8/K7 w - - 0 1" });
    assert.equal((await accepted(p, move("a7a8"))).fen.split(" ")[0], "Q7/7k/8/8/8/8/8/K7");
    // Check, then mate (fool's mate): nothing moves after it.
    await accepted(p, { type: "reset" });
    w = await play(p, "f2f3", "e7e5", "g2g4");
    assert.equal(w.status, "playing");
    w = await play(p, "d8h4");
    assert.equal(w.status, "checkmate");
    assert.equal(w.winner, "b");
    assert.deepEqual(w.legal, []);
    await refused(p, move("a2a3"), /king in check/);
    // Check without mate, and stalemate.
    await accepted(p, { type: "reset", fen: "4k3/8/8/8/8/8/8/R3K3 w - - 0 1" });
    assert.equal((await play(p, "a1a8")).status, "check");
    await accepted(p, { type: "reset", fen: "7k/8/6K1/8/8/8/8/5Q2 w - - 0 1" });
    w = await play(p, "f1f7");
    assert.equal(w.status, "stalemate");
    assert.equal(w.winner, undefined);
    assert.equal(p.view.status, "stalemate");
    p.terminate();
  });

  test("bad frames and bad positions are refused with a reason, and nothing is written", T, async () => {
    const p = await join(nodes[1], "bad-input", "bad-input-player");
    const before = (await logOf(nodes[1], "bad-input")).length;
    const cases = [
      [{ type: "jump" }, /type must be/],
      [{ type: "move", from: "e9", to: "e4" }, /squares such as e2/],
      [{ type: "move", from: { a: 1 }, to: "e4" }, /squares such as e2/],
      [{ type: "sit", color: "red" }, /color must be/],
      [{ type: "reset", fen: "8/8/8/8/8/8/8/8 w - - 0 1" }, /exactly one king/],
      [{ type: "reset", fen: "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq" }, /fen must read/],
      [{ type: "reset", fen: "rnbqkbnr/ppppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1" }, /more than 8 squares/],
      [{ type: "reset", fen: "rnbqkbnr/pppppppp/9/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1" }, /unexpected '9'/],
      [{ type: "reset", fen: "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkx - 0 1" }, /castling must be/],
      [{ type: "reset", fen: "4k3/4R3/8/8/8/8/8/4K3 w - - 0 1" }, /side not to move is in check/],
      [{ type: "reset", fen: "P3k3/8/8/8/8/8/8/4K3 w - - 0 1" }, /pawn on the first or last rank/],
      [{ type: "reset", fen: "4k3/8/8/8/8/8/8/4K3 w - e4 0 1" }, /en passant must be/],
      [{ type: "reset", fen: "x".repeat(101) }, /at most 100 bytes/],
    ];
    for (const [frame, why] of cases) await refused(p, frame, why);
    for (const [text, why] of [["not json", /must be a JSON object/], ["[1,2]", /type must be/]]) {
      const seen = p.events.length;
      await p.send(text);
      const reply = await until(() => p.events[seen], { what: `the answer to ${text}` });
      assert.match(reply.error, why);
    }
    await p.send(Buffer.from([1, 2, 3]));
    await until(() => p.events.find((e) => e.error === "frames must be JSON text"), { what: "the binary frame's error" });
    // A write that bypasses the script (the built-in broadcast) is skipped by the rules.
    const forged = await nodes[0].broadcast("chess", "bad-input", JSON.stringify({ type: "move", from: "e2", to: "e4" }));
    assert.equal(forged.status, 200);
    const res = await httpFetch(nodes[1].httpUrl("chess", "bad-input"));
    const position = await res.json();
    assert.equal(position.fen, START);
    assert.equal((await logOf(nodes[1], "bad-input")).length, before + 1, "only the forged write is in the log");
    p.terminate();
  });

  test("seats: one player per color, only the seated player moves it", T, async () => {
    const ann = await join(nodes[0], "seats", "ann");
    const bob = await join(nodes[1], "seats", "bob");
    const carl = await join(nodes[1], "seats", "carl");
    const all = [ann, bob, carl];
    const done = async (write) => (await settle(all, write.seq), write);
    assert.deepEqual((await done(await accepted(ann, { type: "sit", color: "w" }))).seats, { w: "ann", b: null });
    await refused(bob, { type: "sit", color: "w" }, /white is taken/);
    await done(await accepted(bob, { type: "sit", color: "b" }));
    await refused(bob, move("e2e4"), /white is played by someone else/);
    await done(await accepted(ann, move("e2e4")));
    await refused(carl, move("e7e5"), /black is played by someone else/);
    await refused(carl, { type: "reset" }, /only a player may start a new game/);
    await done(await accepted(bob, move("e7e5")));
    const reset = await done(await accepted(ann, { type: "reset" }));
    assert.deepEqual(reset.seats, { w: null, b: null });
    assert.deepEqual(carl.view.seats, { w: null, b: null });
    for (const c of all) c.terminate();
  });

  test("two clients on two nodes racing conflicting moves: exactly one is accepted, both see one board", T, async () => {
    for (let round = 0; round < 6; round++) {
      const room = `race-${round}`;
      const a = await join(nodes[0], room, `racer-a-${round}`);
      const b = await join(nodes[1], room, `racer-b-${round}`);
      const [ra, rb] = await Promise.all([a.act(move("e2e4")), b.act(move("d2d4"))]);
      assert.equal([ra, rb].filter((r) => r.write).length, 1, `round ${round}: ${JSON.stringify([ra, rb])}`);
      const loser = ra.write ? rb : ra;
      assert.match(loser.error, /the game changed before your move was stored|it is black's turn/);
      const moves = (await logOf(nodes[0], room)).filter((w) => w.type === "move");
      assert.equal(moves.length, 1, `round ${round}: one move in the log`);
      const winner = ra.write ? a : b;
      assert.equal(moves[0].by, winner.id);
      // Both clients end on the board of the move the log holds.
      await settle([a, b], moves[0].seq);
      for (const c of [a, b]) assert.equal(c.view.fen, moves[0].fen, `round ${round}: ${c.id} sees the stored board`);
      a.terminate();
      b.terminate();
    }
    // Seats race the same way.
    const a = await join(nodes[0], "race-seat", "seat-a");
    const b = await join(nodes[1], "race-seat", "seat-b");
    const results = await Promise.all([a.act({ type: "sit", color: "w" }), b.act({ type: "sit", color: "w" })]);
    assert.equal(results.filter((r) => r.write).length, 1, JSON.stringify(results));
    const seated = results.find((r) => r.write).write;
    await settle([a, b], seated.seq);
    assert.deepEqual(a.view.seats, b.view.seats);
    a.terminate();
    b.terminate();
  });

  test("a restarted node rebuilds the game from the log and plays on", T, async () => {
    const room = "persist";
    const white = await join(nodes[0], room, "persist-white");
    const black = await join(nodes[1], room, "persist-black");
    await settle([white, black], (await accepted(white, { type: "sit", color: "w" })).seq);
    await settle([white, black], (await accepted(black, { type: "sit", color: "b" })).seq);
    const ucis = ["e2e4", "e7e5", "g1f3", "b8c6", "f1c4", "g8f6", "e1g1", "f8c5"];
    for (const [i, uci] of ucis.entries()) await settle([white, black], (await accepted(i % 2 ? black : white, move(uci))).seq);
    const expected = white.view.fen;
    assert.equal(expected, "r1bqk2r/pppp1ppp/2n2n2/2b1p3/2B1P3/5N2/PPPP1PPP/RNBQ1RK1 w kq - 6 5");

    black.terminate();
    await nodes[1].stop();
    nodes[1] = await startNodeWithConfig(CONFIG, { natsUrl: nats.url, nodeId: "chess-2-again" });
    const back = await join(nodes[1], room, "persist-black");
    assert.equal(back.view.fen, expected, "the restarted node's shard replayed the log");
    assert.deepEqual(back.view.moves, ucis);
    assert.deepEqual(back.view.seats, { w: "persist-white", b: "persist-black" });
    await settle([white, back], (await accepted(white, move("d2d3"))).seq);
    const w = await accepted(back, move("d7d6"));
    await settle([white, back], w.seq);
    assert.equal(white.view.fen, w.fen);
    assert.deepEqual(white.moves, [...ucis, "d2d3", "d7d6"]);
    white.terminate();
    back.terminate();
  });
});
