// Optimistic concurrency across shards (README.md's Guarantees, 4), with real
// processes: two partyline nodes on one nats-server, a room whose onRequest
// calls room:append(body, {expect = seq}) (scripts/append.lua). Requests on
// both nodes race to append after the same sequence: exactly one wins each
// time, every other gets nil, "conflict" (HTTP 409), reads the log and tries
// again. The log ends up a chain: each write names, in its body, the
// sequence it expected, and that is the write before it.
//
// Each describe has its own stream, and its main room writes there first, so
// that room's seqs are the stream's: 1, 2, 3, ... with no hole.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { httpFetch, startNats, startNode } from "./harness.mjs";
import { post, readLog } from "./fault-tools.mjs";

const T = { timeout: 60000 };
const PARTY = "ledger";

let nats;
before(async () => {
  nats = await startNats();
});
after(async () => {
  await nats?.stop();
});

// Two nodes on a stream of their own (its own subjects, so streams do not overlap).
async function startPair(stream) {
  const nameSpace = stream.toLowerCase().replace(/_/g, "-");
  return Promise.all(
    ["a", "b"].map((name) =>
      startNode({
        natsUrl: nats.url,
        nodeId: `${nameSpace}-${name}`,
        parties: { [PARTY]: "append.lua" },
        config: { nats: { url: nats.url, stream, subject_prefix: nameSpace } },
      }),
    ),
  );
}

// POST /parties/ledger/:room/append?expect=N; resolves with {status, json, body, node}.
async function append(node, room, expect, body) {
  const res = await httpFetch(node.httpUrl(PARTY, room, "/append", { expect: String(expect) }), { method: "POST", body }, 15000);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, body: text, port: node.port };
}

// The room's last seq as the log says (0 when it has no write).
async function lastSeq(node, room) {
  const log = await readLog(node, PARTY, room);
  return log.at(-1)?.seq ?? 0;
}

// The log as a chain: every entry's body names the seq it expected, which
// must be the entry before it (0 for the first). Returns problems.
function chainProblems(log) {
  const problems = [];
  for (let k = 0; k < log.length; k++) {
    let claimed;
    try {
      claimed = JSON.parse(log[k].data).expect;
    } catch {
      problems.push(`seq ${log[k].seq}: body is not the JSON this test wrote: ${log[k].data}`);
      continue;
    }
    const previous = k ? log[k - 1].seq : 0;
    if (claimed !== previous) {
      problems.push(`seq ${log[k].seq} (${log[k].data}) was appended expecting ${claimed}, but the write before it is ${previous}`);
    }
    if (k && log[k].seq !== log[k - 1].seq + 1) problems.push(`seqs jump from ${log[k - 1].seq} to ${log[k].seq}`);
  }
  if (log.length && log[0].seq !== 1) problems.push(`the room's first seq is ${log[0].seq}, not 1`);
  return problems;
}

describe("rounds: many requests on two nodes append after the same seq", () => {
  let nodes = [];
  before(async () => {
    nodes = await startPair("APPEND_ROUNDS");
  });
  after(async () => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
  });

  test("in each round exactly one request wins, the others get 409 conflict, and nothing else is stored", T, async (t) => {
    const room = "rounds";
    const ROUNDS = 15;
    const PER_NODE = 4;
    let last = 0;
    const winsByNode = {};
    const problems = [];
    for (let round = 0; round < ROUNDS; round++) {
      const racers = [];
      for (let k = 0; k < PER_NODE; k++) {
        for (const node of nodes) {
          const body = JSON.stringify({ round, racer: `${node.port}-${k}`, expect: last });
          racers.push(append(node, room, last, body).then((r) => ({ ...r, sent: body })));
        }
      }
      const answers = await Promise.all(racers);
      const winners = answers.filter((a) => a.status === 200);
      const losers = answers.filter((a) => a.status === 409);
      const other = answers.filter((a) => a.status !== 200 && a.status !== 409);
      if (winners.length !== 1 || other.length) {
        problems.push(
          `round ${round} (expect ${last}): ${winners.length} winners (${winners.map((w) => `${w.json?.seq}@:${w.port}`).join(", ")}), ` +
            `${losers.length} conflicts, others: ${other.map((o) => `${o.status} ${o.body.slice(0, 120)}`).join(" | ") || "none"}`,
        );
      }
      for (const loser of losers) {
        if (loser.json?.conflict !== true) problems.push(`round ${round}: 409 without {"conflict":true}: ${loser.body}`);
      }
      if (!winners.length) break;
      const seq = winners[0].json.seq;
      if (seq !== last + 1) problems.push(`round ${round}: the winner expected ${last} and was stored as ${seq}`);
      winsByNode[winners[0].port] = (winsByNode[winners[0].port] || 0) + 1;
      // Losers catch up from the log: its last seq is the winner's.
      const known = await lastSeq(nodes[round % 2], room);
      if (known !== seq) problems.push(`round ${round}: the log's last seq is ${known}, the winner was stored as ${seq}`);
      last = known;
    }
    const log = await readLog(nodes[0], PARTY, room);
    problems.push(...chainProblems(log));
    if (log.length !== ROUNDS) problems.push(`the log holds ${log.length} writes after ${ROUNDS} rounds of one winner each`);
    t.diagnostic(`rounds=${ROUNDS} racers per round=${PER_NODE * nodes.length} wins by node port=${JSON.stringify(winsByNode)} log=${log.length}`);
    assert.deepEqual(problems, [], problems.join("\n"));
  });

  test("a write that is not an append (the built-in broadcast) also moves the seq an append must expect", T, async () => {
    const room = "mixed";
    const first = await append(nodes[0], room, 0, JSON.stringify({ expect: 0 }));
    assert.equal(first.status, 200, first.body);
    const plain = await post(nodes[1], PARTY, room, "a plain broadcast");
    assert.equal(plain.status, 200, plain.body);
    const stale = await append(nodes[0], room, first.json.seq, JSON.stringify({ expect: first.json.seq }));
    assert.equal(stale.status, 409, `an append expecting ${first.json.seq} after the broadcast stored as ${plain.json.seq}: ${stale.status} ${stale.body}`);
    const fresh = await append(nodes[1], room, plain.json.seq, JSON.stringify({ expect: plain.json.seq }));
    assert.equal(fresh.status, 200, fresh.body);
    assert.equal(fresh.json.seq, plain.json.seq + 1);
    const empty = await append(nodes[0], "never-written", 5, JSON.stringify({ expect: 5 }));
    assert.equal(empty.status, 409, `expect 5 on a room with no write: ${empty.status} ${empty.body}`);
  });
});

describe("free for all: writers on two nodes append, and retry after each conflict", () => {
  let nodes = [];
  before(async () => {
    nodes = await startPair("APPEND_RACE");
  });
  after(async () => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
  });

  test("every stored write names the write before it; winners = writes in the log; no expected seq won twice", T, async (t) => {
    const room = "race";
    const WRITERS_PER_NODE = 3;
    const WRITES_EACH = 8;
    const MAX_ATTEMPTS = 400;
    const wins = [];
    const failures = [];
    let conflicts = 0;
    let catchUps = 0;

    async function writer(node, name) {
      let known = 0;
      let stored = 0;
      for (let attempt = 0; stored < WRITES_EACH && attempt < MAX_ATTEMPTS; attempt++) {
        const body = JSON.stringify({ writer: name, n: stored, expect: known });
        const answer = await append(node, room, known, body);
        if (answer.status === 200) {
          wins.push({ writer: name, port: node.port, expect: known, seq: answer.json.seq, body });
          known = answer.json.seq;
          stored++;
        } else if (answer.status === 409) {
          conflicts++;
          // Catch up: the log after what this writer knows; its end is the room's last seq.
          const log = await readLog(node, PARTY, room, { since: known });
          catchUps++;
          known = log.at(-1)?.seq ?? known;
        } else {
          failures.push(`${name}: ${answer.status} ${answer.body.slice(0, 200)}`);
          return;
        }
      }
      if (stored < WRITES_EACH) failures.push(`${name}: only ${stored} of ${WRITES_EACH} writes stored in ${MAX_ATTEMPTS} attempts`);
    }

    const writers = [];
    for (const [n, node] of nodes.entries()) {
      for (let k = 0; k < WRITERS_PER_NODE; k++) writers.push(writer(node, `node${n + 1}-writer${k}`));
    }
    await Promise.all(writers);

    const log = await readLog(nodes[1], PARTY, room);
    const problems = [...failures, ...chainProblems(log)];
    const total = WRITERS_PER_NODE * nodes.length * WRITES_EACH;
    if (wins.length !== total) problems.push(`${wins.length} appends answered 200, expected ${total}`);
    if (log.length !== wins.length) problems.push(`the log holds ${log.length} writes, ${wins.length} appends answered 200`);
    const byExpect = new Map();
    for (const w of wins) byExpect.set(w.expect, (byExpect.get(w.expect) || []).concat(`${w.writer}->${w.seq}`));
    for (const [expect, winners] of byExpect) {
      if (winners.length > 1) problems.push(`expected seq ${expect} won ${winners.length} times: ${winners.join(", ")}`);
    }
    const bySeq = new Map(log.map((e) => [e.seq, e]));
    for (const w of wins) {
      const entry = bySeq.get(w.seq);
      if (!entry || entry.data !== w.body) problems.push(`${w.writer}: 200 with seq ${w.seq}, but the log holds ${entry ? entry.data : "nothing"} there`);
      if (w.seq !== w.expect + 1) problems.push(`${w.writer}: expected ${w.expect}, stored as ${w.seq}`);
    }
    const perNode = {};
    for (const w of wins) perNode[w.port] = (perNode[w.port] || 0) + 1;
    t.diagnostic(`writers=${writers.length} wins=${wins.length} conflicts=${conflicts} catch-ups=${catchUps} wins by node port=${JSON.stringify(perNode)} log=${log.length}`);
    assert.deepEqual(problems, [], problems.join("\n"));
    const nodesThatWon = Object.keys(perNode).length;
    assert.equal(nodesThatWon, 2, "only one node ever won: the race was not across nodes");
  });
});
