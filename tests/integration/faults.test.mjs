// Faults under steady traffic, with real processes: three partyline nodes on
// one nats-server (its own store directory), one room with partyline.v1
// clients on every node, and a steady load of POSTs to the built-in
// broadcast spread over the nodes. Each fault checks the first three of
// README.md's Guarantees:
//
//   1. every client that stayed connected gets every write of the log, in log
//      order, once (compared seq by seq, data by data, with the room's log
//      read back through the history endpoint);
//   2. a POST answered 200 is in the log under the seq it was given; a POST
//      during an outage is answered 200 (retried with the same message id) or
//      503 with a reason, never left unanswered; no write is stored twice;
//   3. a client whose connection ends resumes with ?since=<last seq it saw>
//      and, over its connections, still gets every write once, in order.
//
// Faults: (a) nats-server killed (SIGKILL) and restarted on its port and store
// directory, for 2 s and for longer than a POST waits (13 s); (c) one
// partyline node killed (SIGKILL); (d) one node paused (SIGSTOP) for 3 s and
// resumed (SIGCONT), also with a nats-server that drops it meanwhile as a
// slow consumer (write_deadline 500 ms), so it comes back without NATS and
// must reconnect and fill its gap; (e) one node's TCP link to nats-server cut
// for 2 s (a network partition). Figures go to the test's diagnostics.
//
// A POST answered 503 may still be stored later (NATS had it buffered): the
// test counts those (answered503ButStoredLater) and checks that they reach
// every client like any other write.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { httpFetch, sleep, startNats, startNode, until } from "./harness.mjs";
import {
  Subscriber,
  ackProblems,
  compareWithLog,
  metricTotals,
  pauseProcess,
  pidOfNode,
  readLog,
  resumeProcess,
  short,
  startNatsLink,
  startNatsWithSettings,
  startLoad,
  summarize,
  writesOf,
} from "./fault-tools.mjs";

const T = { timeout: 90000 };
const PARTY = "log";
const RATE = 20; // POSTs per second, over the nodes
const CLIENTS_PER_NODE = 3;
// How long a node may take to find, by itself, writes it missed while it was cut off (no write
// comes after them to show it the gap): it reconnects 250 ms after a drop and compares each
// shard with the log on its next 1 s sweep, so a second or two, more with a busy processor and a
// stream to read back. Under the ~15 s in which pings would find a dead connection.
const CATCH_UP_MS = 10000;
const METRICS = [
  "partyline_gap_fills_total",
  "partyline_nats_reconnects_total",
  "partyline_log_writes_in_total",
  "partyline_deliveries_total",
];

// nats-server and three nodes, fresh for each fault.
// `natsUrlOf(i)` may send node i elsewhere (through a link the test can cut).
// The load of many writers comes from one address here (up to 20 MiB/s of padding), so the
// per-address write byte rate is off.
async function startCluster(label, nats, natsUrlOf = () => nats.url) {
  nats ??= await startNats();
  const nodes = await Promise.all(
    [1, 2, 3].map((i) =>
      startNode({
        natsUrl: natsUrlOf(i),
        nodeId: `${label}-${i}`,
        stream: "FAULTS",
        parties: { [PARTY]: "log-room.lua" },
        limits: { max_write_bytes_per_second_per_ip: 0 },
      }),
    ),
  );
  return { nats, nodes };
}

async function stopCluster(cluster) {
  if (!cluster) return;
  await Promise.allSettled(cluster.nodes.map((n) => n.stop()));
  await cluster.nats.stop();
}

// CLIENTS_PER_NODE subscribers on each node, each admitted by its shard.
async function subscribeEverywhere(nodes, room) {
  const subscribers = [];
  for (const [n, node] of nodes.entries()) {
    for (let k = 0; k < CLIENTS_PER_NODE; k++) {
      const subscriber = new Subscriber(`node${n + 1}-client${k}`, { party: PARTY, room });
      await subscriber.open(node);
      subscriber.home = n;
      subscribers.push(subscriber);
    }
  }
  return subscribers;
}

// Waits until every subscriber reached the log's last seq (or the timeout),
// then returns the problems of each against the log.
async function checkSubscribers(subscribers, log, { expectResumed = () => false } = {}) {
  const last = log.at(-1)?.seq ?? 0;
  const problems = [];
  await Promise.all(subscribers.map((s) => s.caughtUp(last, 20000).catch((err) => problems.push(err.message))));
  for (const s of subscribers) {
    const label = `${s.name} (${s.connections.map((c) => `:${c.node.port}${c.since !== undefined ? ` since=${c.since}` : ""}`).join(" then ")})`;
    problems.push(...compareWithLog(label, s.writes, log));
    if (s.markers.length) problems.push(`${label}: unexpected truncation marker ${JSON.stringify(s.markers)}`);
    if (!expectResumed(s) && s.connections.length > 1) {
      problems.push(`${label}: its connection was closed (${JSON.stringify(s.connections[0].client.closeInfo)}) though its node kept running`);
    }
  }
  return problems;
}

function answerProblems(results, { mayBeUnanswered = () => false } = {}) {
  const problems = [];
  for (const r of results) {
    if (r.status === 200) continue;
    if (r.status === 503 && r.reason && r.reason.trim()) continue;
    if (mayBeUnanswered(r)) continue;
    problems.push(`POST ${short(r.body)} to :${r.port} (sent at ${r.sentAt} ms): ${r.status} ${JSON.stringify(r.reason)}`);
  }
  return problems;
}

// Nodes that should run and do not: a crash (the node's last lines say why).
function crashProblems(nodes, { except = [] } = {}) {
  return nodes
    .filter((n) => !except.includes(n) && !n.running)
    .map((n) => `node :${n.port} exited during the test; its last lines:\n${n.tail(8)}`);
}

function report(t, title, figures) {
  const line = `${title}: ${Object.entries(figures).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ")}`;
  t.diagnostic(line);
}

function delta(before, afterValues) {
  return Object.fromEntries(Object.keys(afterValues).map((k) => [k.replace(/^partyline_|_total$/g, ""), afterValues[k] - (before[k] ?? 0)]));
}

describe("(a) nats-server killed and restarted under traffic", () => {
  let cluster;
  before(async () => {
    cluster = await startCluster("a");
  });
  after(() => stopCluster(cluster));

  test("every acknowledged write reaches every client once, in log order; the rest are answered 503 with a reason", T, async (t) => {
    const { nats, nodes } = cluster;
    const room = "nats-restart";
    const subscribers = await subscribeEverywhere(nodes, room);
    const metricsBefore = await metricTotals(nodes, METRICS);

    const load = startLoad({ targets: () => nodes, party: PARTY, room, rate: RATE, count: 200, prefix: "a" });
    await sleep(2500);
    const killedAt = load.elapsed();
    await nats.kill();
    await sleep(2000);
    await nats.restart();
    const restartedAt = load.elapsed();
    const results = await load.done;

    const log = await readLog(nodes[0], PARTY, room);
    const problems = [
      ...answerProblems(results),
      ...ackProblems(results, log),
      ...(await checkSubscribers(subscribers, log)),
      ...crashProblems(nodes),
    ];
    const { byStatus, acked, slowest } = summarize(results);
    const during = results.filter((r) => r.sentAt >= killedAt && r.sentAt < restartedAt);
    report(t, "(a) nats-server SIGKILL + restart", {
      posts: results.length,
      answers: byStatus,
      acked: acked.length,
      sentDuringOutage: during.length,
      duringOutageAnswers: summarize(during).byStatus,
      outageMs: restartedAt - killedAt,
      slowestAnswerMs: slowest,
      logEntries: log.length,
      clients: subscribers.length,
      ...delta(metricsBefore, await metricTotals(nodes, METRICS)),
    });
    assert.deepEqual(problems, [], problems.join("\n"));
    assert.ok(acked.length > 0, "no POST was acknowledged");
    await Promise.all(subscribers.map((s) => s.close()));
  });

  test("writes made only while nats-server is down, and none after, reach every client once NATS is back", T, async (t) => {
    const { nats, nodes } = cluster;
    const room = "outage-only";
    const subscribers = await subscribeEverywhere(nodes, room);
    await nats.kill();
    const started = Date.now();
    // 30 POSTs spread over the nodes; each waits for NATS to come back.
    const load = startLoad({ targets: () => nodes, party: PARTY, room, rate: 30, count: 30, prefix: "only" });
    await sleep(2000);
    await nats.restart();
    const restartedAfter = Date.now() - started;
    const results = await load.done;
    const answeredAt = Date.now();
    const log = await readLog(nodes[1], PARTY, room);
    // Nothing is written after these: a node that reconnected after the
    // writes were stored learns of them only by comparing with the log. It
    // does so within a second or two; the bound leaves room for a slow machine.
    const last = log.at(-1)?.seq ?? 0;
    const lagging = [];
    await Promise.all(subscribers.map((s) => s.caughtUp(last, CATCH_UP_MS).catch(() => lagging.push(s.name))));
    const problems = [
      ...answerProblems(results),
      ...ackProblems(results, log),
      ...(await checkSubscribers(subscribers, log)),
      ...crashProblems(nodes),
    ];
    if (lagging.length) problems.unshift(`not caught up within ${CATCH_UP_MS} ms of the last answer: ${lagging.join(", ")}`);
    report(t, "(a) writes only during the outage", {
      posts: results.length,
      answers: summarize(results).byStatus,
      restartedAfterMs: restartedAfter,
      allCaughtUpMsAfterLastAnswer: Date.now() - answeredAt,
      logEntries: log.length,
    });
    assert.deepEqual(problems, [], problems.join("\n"));
    await Promise.all(subscribers.map((s) => s.close()));
  });
});

describe("(a) nats-server down longer than a POST waits", () => {
  let cluster;
  before(async () => {
    cluster = await startCluster("a2");
  });
  after(() => stopCluster(cluster));

  test("POSTs that cannot be stored in time are answered 503 with a reason; acknowledged ones reach every client", T, async (t) => {
    const { nats, nodes } = cluster;
    const room = "nats-long-outage";
    const subscribers = await subscribeEverywhere(nodes, room);
    const metricsBefore = await metricTotals(nodes, METRICS);

    // 10 s of waiting for an acknowledgement, then 503: an outage of 13 s
    // leaves the POSTs of its first 3 s unacknowledged in time.
    const load = startLoad({ targets: () => nodes, party: PARTY, room, rate: 10, count: 170, prefix: "a2" });
    await sleep(1500);
    const killedAt = load.elapsed();
    await nats.kill();
    await sleep(13000);
    await nats.restart();
    const restartedAt = load.elapsed();
    const results = await load.done;

    const log = await readLog(nodes[0], PARTY, room);
    const problems = [
      ...answerProblems(results),
      ...ackProblems(results, log),
      ...(await checkSubscribers(subscribers, log)),
      ...crashProblems(nodes),
    ];
    const { byStatus, acked, slowest } = summarize(results);
    const refused = results.filter((r) => r.status === 503);
    const inLog = new Set(log.map((e) => e.data));
    const refusedButStored = refused.filter((r) => inLog.has(r.body));
    report(t, "(a) nats-server down 13 s", {
      posts: results.length,
      answers: byStatus,
      acked: acked.length,
      outageMs: restartedAt - killedAt,
      slowestAnswerMs: slowest,
      reasons: [...new Set(refused.map((r) => r.reason.trim()))],
      answered503ButStoredLater: refusedButStored.length,
      logEntries: log.length,
      ...delta(metricsBefore, await metricTotals(nodes, METRICS)),
    });
    assert.deepEqual(problems, [], problems.join("\n"));
    assert.ok(refused.length > 0, "no POST was answered 503 during a 13 s outage");
    await Promise.all(subscribers.map((s) => s.close()));
  });
});

describe("(e) one node's link to NATS cut under traffic", () => {
  let cluster;
  let link;
  before(async () => {
    const nats = await startNats();
    link = await startNatsLink(nats.port);
    cluster = await startCluster("e", nats, (i) => (i === 1 ? link.url : nats.url));
  });
  after(async () => {
    await stopCluster(cluster);
    await link?.close();
  });

  test("for 2 s: its clients get every write once, in order; its POSTs are answered 200 or 503 with a reason", T, async (t) => {
    const { nodes } = cluster;
    const room = "link-cut";
    const subscribers = await subscribeEverywhere(nodes, room);
    const metricsBefore = await metricTotals(nodes, METRICS);

    const load = startLoad({ targets: () => nodes, party: PARTY, room, rate: RATE, count: 140, prefix: "e" });
    await sleep(2500);
    const cutAt = load.elapsed();
    link.cut();
    await sleep(2000);
    link.restore();
    const restoredAt = load.elapsed();
    const results = await load.done;

    const log = await readLog(nodes[1], PARTY, room);
    const problems = [
      ...answerProblems(results),
      ...ackProblems(results, log),
      ...(await checkSubscribers(subscribers, log)),
      ...crashProblems(nodes),
    ];
    const { byStatus, acked, slowest } = summarize(results);
    const cutNodePosts = results.filter((r) => r.port === nodes[0].port && r.sentAt >= cutAt && r.sentAt < restoredAt);
    report(t, "(e) NATS link of one node cut 2 s", {
      posts: results.length,
      answers: byStatus,
      acked: acked.length,
      cutMs: restoredAt - cutAt,
      postsToCutNodeDuringCut: `${cutNodePosts.length} ${JSON.stringify(summarize(cutNodePosts).byStatus)}`,
      slowestAnswerMs: slowest,
      logEntries: log.length,
      ...delta(metricsBefore, await metricTotals(nodes, METRICS)),
    });
    assert.deepEqual(problems, [], problems.join("\n"));
    await Promise.all(subscribers.map((s) => s.close()));
  });
});

describe("(c) one partyline node killed under traffic", () => {
  let cluster;
  before(async () => {
    cluster = await startCluster("c");
  });
  after(() => stopCluster(cluster));

  test("its clients resume on the other nodes with ?since= and miss nothing; the others never notice", T, async (t) => {
    const { nodes } = cluster;
    const room = "node-killed";
    const subscribers = await subscribeEverywhere(nodes, room);
    const victim = nodes[0];
    const survivors = nodes.slice(1);
    let alive = nodes;
    let turn = 0;
    for (const s of subscribers) s.resumeOnClose(() => survivors[turn++ % survivors.length]);
    const metricsBefore = await metricTotals(nodes, METRICS);

    const load = startLoad({ targets: () => alive, party: PARTY, room, rate: RATE, count: 160, prefix: "c" });
    await sleep(3000);
    alive = survivors;
    const killedAt = load.elapsed();
    await victim.kill();
    const results = await load.done;

    const log = await readLog(survivors[0], PARTY, room);
    const orphans = subscribers.filter((s) => s.home === 0);
    const problems = [
      // A POST in flight to the killed node may end without an answer.
      ...answerProblems(results, { mayBeUnanswered: (r) => r.port === victim.port && r.sentAt <= killedAt }),
      ...ackProblems(results, log),
      ...(await checkSubscribers(subscribers, log, { expectResumed: (s) => s.home === 0 })),
      ...crashProblems(nodes, { except: [victim] }),
    ];
    for (const s of orphans) {
      if (s.connections.length < 2) problems.push(`${s.name}: never resumed on another node`);
    }
    const { byStatus, acked } = summarize(results);
    report(t, "(c) node SIGKILL", {
      posts: results.length,
      answers: byStatus,
      acked: acked.length,
      killedAtMs: killedAt,
      resumed: orphans.map((s) => `${s.name}:since=${s.connections[1]?.since}->:${s.connections[1]?.node.port}`),
      writesPerConnection: orphans.map((s) => s.connections.map((c) => writesOf(c.client).length).join("+")),
      logEntries: log.length,
      ...delta(metricsBefore, await metricTotals(survivors, METRICS)),
    });
    assert.deepEqual(problems, [], problems.join("\n"));
    await Promise.all(subscribers.map((s) => s.close()));
  });
});

describe("(d) one partyline node paused (SIGSTOP) under traffic", () => {
  let cluster;
  let pid;
  before(async () => {
    cluster = await startCluster("d");
  });
  after(async () => {
    if (pid) resumeProcess(pid);
    await stopCluster(cluster);
  });

  test("after SIGCONT its clients have every write once, in order (resuming with ?since= if they were closed)", T, async (t) => {
    const { nodes } = cluster;
    const room = "node-paused";
    const subscribers = await subscribeEverywhere(nodes, room);
    const sleeper = nodes[0];
    pid = pidOfNode(sleeper);
    // A closed client comes back to its own node (paused ones answer once resumed).
    for (const s of subscribers) s.resumeOnClose(() => nodes[s.home]);
    const metricsBefore = await metricTotals(nodes, METRICS);

    const load = startLoad({ targets: () => nodes, party: PARTY, room, rate: RATE, count: 160, prefix: "d" });
    await sleep(2500);
    const pausedAt = load.elapsed();
    pauseProcess(pid);
    await sleep(3000);
    resumeProcess(pid);
    const resumedAt = load.elapsed();
    const results = await load.done;

    const log = await readLog(nodes[1], PARTY, room);
    const problems = [
      ...answerProblems(results),
      ...ackProblems(results, log),
      ...(await checkSubscribers(subscribers, log, { expectResumed: (s) => s.home === 0 })),
      ...crashProblems(nodes),
    ];
    const { byStatus, acked, slowest } = summarize(results);
    const sleepers = subscribers.filter((s) => s.home === 0);
    report(t, "(d) node SIGSTOP 3 s", {
      posts: results.length,
      answers: byStatus,
      acked: acked.length,
      pausedMs: resumedAt - pausedAt,
      slowestAnswerMs: slowest,
      pausedNodeClientsClosed: sleepers.filter((s) => s.connections.length > 1).length,
      logEntries: log.length,
      ...delta(metricsBefore, await metricTotals(nodes, METRICS)),
    });
    assert.deepEqual(problems, [], problems.join("\n"));
    await Promise.all(subscribers.map((s) => s.close()));
  });
});

describe("(d) one partyline node paused until nats-server drops it as a slow consumer", () => {
  let cluster;
  let pid;
  before(async () => {
    // The server gives up on a client it cannot write to for 500 ms (the
    // default is 10 s): a paused node becomes a slow consumer quickly.
    const nats = await startNatsWithSettings({ write_deadline: '"500ms"' });
    cluster = await startCluster("d2", nats);
  });
  after(async () => {
    if (pid) resumeProcess(pid);
    await stopCluster(cluster);
  });

  test("after SIGCONT the node reconnects to NATS, fills the gap, and its clients have every write once, in order", T, async (t) => {
    const { nats, nodes } = cluster;
    const room = "node-slow-consumer";
    const subscribers = await subscribeEverywhere(nodes, room);
    const sleeper = nodes[0];
    pid = pidOfNode(sleeper);
    for (const s of subscribers) s.resumeOnClose(() => nodes[s.home]);
    // A second room with a shard on the paused node only (an HTTP request
    // starts it): while the node sleeps, 24 MiB of writes there fill its
    // socket buffers, and the server drops it.
    await httpFetch(sleeper.httpUrl(PARTY, "filler"), {}, 5000);
    const metricsBefore = await metricTotals(nodes, METRICS);
    const sleeperBefore = await metricTotals([sleeper], METRICS);

    const load = startLoad({ targets: () => nodes, party: PARTY, room, rate: RATE, count: 160, prefix: "d2" });
    await sleep(2500);
    const pausedAt = load.elapsed();
    pauseProcess(pid);
    const flood = startLoad({ targets: () => [nodes[1]], party: PARTY, room: "filler", rate: 20, count: 48, prefix: "fill", padding: 512 * 1024 });
    await sleep(3000);
    resumeProcess(pid);
    const resumedAt = load.elapsed();
    const results = await load.done;
    const floodResults = await flood.done;

    const log = await readLog(nodes[1], PARTY, room);
    const problems = [
      ...answerProblems(results),
      ...answerProblems(floodResults),
      ...ackProblems(results, log),
      ...(await checkSubscribers(subscribers, log, { expectResumed: (s) => s.home === 0 })),
      ...crashProblems(nodes),
    ];
    const sleeperDelta = delta(sleeperBefore, await metricTotals([sleeper], METRICS));
    const { byStatus, acked, slowest } = summarize(results);
    const sleepers = subscribers.filter((s) => s.home === 0);
    const slowConsumerLines = nats.logs().split("\n").filter((l) => /slow consumer/i.test(l));
    report(t, "(d) node SIGSTOP 3 s, dropped by nats-server as a slow consumer", {
      posts: results.length,
      answers: byStatus,
      acked: acked.length,
      fillerWrites: `${floodResults.length}x512KiB ${JSON.stringify(summarize(floodResults).byStatus)}`,
      pausedMs: resumedAt - pausedAt,
      slowestAnswerMs: slowest,
      serverSlowConsumerEvents: slowConsumerLines.length,
      pausedNodeReconnects: sleeperDelta.nats_reconnects,
      pausedNodeGapFills: sleeperDelta.gap_fills,
      pausedNodeClientsClosed: sleepers.filter((s) => s.connections.length > 1).length,
      logEntries: log.length,
      ...delta(metricsBefore, await metricTotals(nodes, METRICS)),
    });
    assert.deepEqual(problems, [], problems.join("\n"));
    assert.ok(
      sleeperDelta.nats_reconnects >= 1,
      `the paused node was not cut off by nats-server (no reconnect); server said:\n${slowConsumerLines.join("\n")}`,
    );
    await Promise.all(subscribers.map((s) => s.close()));
  });

  test("writes made while the node was cut off, and none after, reach its clients soon after SIGCONT", T, async (t) => {
    const { nats, nodes } = cluster;
    const room = "cut-off-quiet";
    const subscribers = await subscribeEverywhere(nodes, room);
    const sleeper = nodes[0];
    pid = pidOfNode(sleeper);
    await httpFetch(sleeper.httpUrl(PARTY, "filler-2"), {}, 5000);
    const reconnectsBefore = (await metricTotals([sleeper], METRICS)).partyline_nats_reconnects_total;
    const cuts = () => nats.logs().split("\n").filter((l) => /slow consumer/i.test(l)).length;
    const cutsBefore = cuts();
    pauseProcess(pid);
    // First the server drops the paused node; then the writes; then nothing. The filler goes on
    // until the server has dropped the node (how much the socket buffers hold varies), at most
    // 72 MiB.
    const flood = startLoad({ targets: () => [nodes[1]], party: PARTY, room: "filler-2", rate: 40, count: 144, prefix: "fill2", padding: 512 * 1024 });
    try {
      await until(() => cuts() > cutsBefore, {
        timeoutMs: 15000,
        what: "nats-server to drop the paused node as a slow consumer",
      });
    } finally {
      flood.stop();
      await flood.done;
    }
    const writes = startLoad({ targets: () => nodes.slice(1), party: PARTY, room, rate: 40, count: 20, prefix: "quiet" });
    const results = await writes.done;
    resumeProcess(pid);
    const resumedAt = Date.now();
    const log = await readLog(nodes[1], PARTY, room);
    const last = log.at(-1)?.seq ?? 0;
    const lagging = [];
    await Promise.all(subscribers.map((s) => s.caughtUp(last, CATCH_UP_MS).catch(() => lagging.push(`${s.name} at ${s.lastSeq}`))));
    const caughtUpMs = Date.now() - resumedAt;
    let reconnects = 0;
    await until(async () => {
      reconnects = (await metricTotals([sleeper], METRICS)).partyline_nats_reconnects_total - reconnectsBefore;
      return reconnects >= 1;
    }, { timeoutMs: 5000, what: "the paused node to reconnect to NATS" }).catch(() => {});
    const problems = [...answerProblems(results), ...ackProblems(results, log), ...crashProblems(nodes)];
    if (lagging.length) problems.push(`not caught up ${CATCH_UP_MS} ms after SIGCONT (log ends at ${last}): ${lagging.join(", ")}`);
    problems.push(...(await checkSubscribers(subscribers, log)));
    report(t, "(d) writes while cut off, none after", { writes: results.length, pausedNodeReconnects: reconnects, caughtUpMsAfterSigcont: caughtUpMs });
    assert.ok(reconnects >= 1, "precondition: the paused node never reconnected to NATS");
    assert.deepEqual(problems, [], problems.join("\n"));
    await Promise.all(subscribers.map((s) => s.close()));
  });
});
