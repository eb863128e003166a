// nats.partitions on a three-server NATS cluster on loopback, JetStream replicas 3, with three
// partyline nodes pointed at all three servers and partitions: 3. The three partitions' streams
// are led by three different servers (a leader that shares a server is moved with JetStream's
// leader stepdown, a bounded number of times), writes to 30 rooms land in all three streams,
// and when the server leading one partition's stream is killed under traffic to a room of every
// partition, every acknowledged write reaches every client that stayed connected, once, in log
// order.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { sleep, startNatsCluster, startNode, until } from "./harness.mjs";
import { Subscriber, ackProblems, compareWithLog, jetStreamApi, partitionOf, post, readLog, startLoad, summarize } from "./fault-tools.mjs";

const T = { timeout: 150000 };
const PARTY = "log";
const STREAM = "PCLUSTER";
const COUNT = 3;
const NAMES = Array.from({ length: COUNT }, (_, i) => `${STREAM}-${i}`);
// Stepdowns tried to put the three leaders on three servers; each moves one leader.
const MAX_STEPDOWNS = 20;

// The partitions' streams as `server` reports them in /jsz: {name: leader}.
async function leadersOn(server) {
  const jsz = await server.monitor("/jsz?streams=true");
  const streams = (jsz.json?.account_details || []).flatMap((a) => a.stream_detail || []);
  return Object.fromEntries(NAMES.map((name) => [name, streams.find((s) => s.name === name)?.cluster?.leader]));
}

// {name: leader} once every running server names the same leader for every stream.
async function agreedLeaders(servers) {
  const seen = await Promise.all(servers.filter((s) => s.running).map(leadersOn));
  const first = seen[0];
  const agreed = NAMES.every((name) => first[name] && seen.every((s) => s[name] === first[name]));
  return agreed ? first : null;
}

async function waitLeaders(cluster, what) {
  return until(() => agreedLeaders(cluster.servers), { timeoutMs: 30000, intervalMs: 200, what });
}

// The first room "<stem>-<n>" of `partition`.
function roomIn(partition, stem) {
  for (let n = 0; n < 1000; n++) if (partitionOf(PARTY, `${stem}-${n}`, COUNT) === partition) return `${stem}-${n}`;
  throw new Error(`no room of partition ${partition}`);
}

describe("nats.partitions: 3 on a 3-server NATS cluster (replicas 3), 3 nodes", () => {
  let cluster;
  const nodes = [];

  before(async () => {
    cluster = await startNatsCluster({ name: "partyline-partitions" });
    const nats = { url: cluster.url, stream: STREAM, replicas: 3, partitions: COUNT };
    const start = (id) => startNode({ nodeId: id, config: { nats }, parties: { [PARTY]: "log-room.lua" }, readyTimeoutMs: 40000 });
    // The first node creates the replicated streams; the others find them.
    nodes.push(await start("pc-1"));
    await waitLeaders(cluster, "a leader of every partition's stream known to every server");
    for (const id of ["pc-2", "pc-3"]) nodes.push(await start(id));
  });
  after(async () => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await cluster?.stop();
  });

  test("the three partitions' streams are led by three different servers", T, async (t) => {
    let leaders = await waitLeaders(cluster, "the streams' leaders");
    let stepdowns = 0;
    while (new Set(Object.values(leaders)).size < COUNT && stepdowns < MAX_STEPDOWNS) {
      // A stream whose leader leads another too moves to a server that leads none.
      const name = NAMES.find((n, i) => NAMES.slice(0, i).some((m) => leaders[m] === leaders[n]));
      const free = cluster.servers.map((s) => s.name).find((s) => !Object.values(leaders).includes(s));
      const port = cluster.servers[stepdowns % cluster.servers.length].port;
      const answer = await jetStreamApi(port, `STREAM.LEADER.STEPDOWN.${name}`, JSON.stringify({ placement: { preferred: free } }));
      stepdowns++;
      if (answer.error) t.diagnostic(`stepdown of ${name}: ${JSON.stringify(answer.error)}`);
      const before = leaders[name];
      await until(async () => {
        const now = await agreedLeaders(cluster.servers);
        return now && now[name] !== before && now;
      }, { timeoutMs: 20000, intervalMs: 200, what: `a new leader of ${name}` }).catch(() => {});
      leaders = await waitLeaders(cluster, "the streams' leaders after a stepdown");
    }
    t.diagnostic(`leaders after ${stepdowns} stepdown(s): ${JSON.stringify(leaders)}`);
    assert.equal(new Set(Object.values(leaders)).size, COUNT, `leaders: ${JSON.stringify(leaders)}`);
    // Each server holds a replica of every partition.
    for (const server of cluster.servers) {
      const jsz = await server.monitor("/jsz?streams=true&config=true");
      const streams = (jsz.json?.account_details || []).flatMap((a) => a.stream_detail || []);
      for (const name of NAMES) {
        const stream = streams.find((s) => s.name === name);
        assert.ok(stream, `no ${name} on ${server.name}`);
        assert.equal(stream.config.num_replicas, 3, `${server.name}: replicas of ${name}`);
      }
    }
  });

  test("writes to 30 rooms land in all three streams", T, async () => {
    const rooms = Array.from({ length: 30 }, (_, i) => `spread-${i}`);
    const before = await Promise.all(NAMES.map((name) => jetStreamApi(cluster.servers[0].port, `STREAM.INFO.${name}`)));
    const expected = [0, 0, 0];
    for (const [i, room] of rooms.entries()) {
      const answer = await post(nodes[i % nodes.length], PARTY, room, `write to ${room}`);
      assert.equal(answer.status, 200, `${room}: ${answer.body}`);
      expected[partitionOf(PARTY, room, COUNT)]++;
    }
    for (const [i, name] of NAMES.entries()) {
      const info = await jetStreamApi(cluster.servers[0].port, `STREAM.INFO.${name}`);
      assert.ok(!info.error, `${name}: ${JSON.stringify(info.error)}`);
      assert.ok(expected[i] > 0, `partition ${i} has rooms among the 30`);
      assert.equal(info.state.messages - before[i].state.messages, expected[i], `${name} holds its rooms' writes`);
    }
  });

  test("one partition's leader killed under traffic: every acknowledged write reaches every client once, in order", T, async (t) => {
    const leaders = await waitLeaders(cluster, "the streams' leaders");
    const killedStream = NAMES[0];
    const victim = cluster.servers.find((s) => s.name === leaders[killedStream]);
    assert.ok(victim, `the leader of ${killedStream} (${leaders[killedStream]}) is a server of the cluster`);

    const rooms = Array.from({ length: COUNT }, (_, p) => roomIn(p, "fault"));
    const subscribers = new Map(rooms.map((room) => [room, []]));
    for (const room of rooms) {
      for (const [n, node] of nodes.entries()) {
        const s = new Subscriber(`${room}-node${n + 1}`, { party: PARTY, room });
        await s.open(node);
        subscribers.get(room).push(s);
      }
    }
    const loads = rooms.map((room) => startLoad({ targets: () => nodes, party: PARTY, room, rate: 10, count: 80, prefix: room }));
    await sleep(2500);
    const killedAt = loads[0].elapsed();
    await victim.kill();
    const results = await Promise.all(loads.map((l) => l.done));
    const after = await agreedLeaders(cluster.servers);

    const problems = [];
    const figures = [];
    for (const [k, room] of rooms.entries()) {
      const log = await readLog(nodes[1], PARTY, room);
      const last = log.at(-1)?.seq ?? 0;
      for (const r of results[k]) {
        if (r.status === 200 || (r.status === 503 && r.reason?.trim())) continue;
        problems.push(`POST ${r.body?.slice?.(0, 20)} to :${r.port}: ${r.status} ${JSON.stringify(r.reason)}`);
      }
      problems.push(...ackProblems(results[k], log));
      await Promise.all(subscribers.get(room).map((s) => s.caughtUp(last, 30000).catch((err) => problems.push(err.message))));
      for (const s of subscribers.get(room)) {
        problems.push(...compareWithLog(s.name, s.writes, log));
        if (s.connections.length > 1) problems.push(`${s.name}: its connection was closed though its node kept running`);
      }
      const { byStatus, acked } = summarize(results[k]);
      figures.push(`${room} (partition ${k}): answers=${JSON.stringify(byStatus)} acked=${acked.length} log=${log.length}`);
      if (acked.length < results[k].length / 2) problems.push(`${room}: fewer than half the writes were acknowledged`);
    }
    for (const n of nodes) if (!n.running) problems.push(`node :${n.port} exited:\n${n.tail(8)}`);
    t.diagnostic(`killed ${victim.name}, leader of ${killedStream}, at ${killedAt} ms; leaders after: ${JSON.stringify(after)}; ${figures.join("; ")}`);
    assert.deepEqual(problems, [], problems.join("\n"));
    assert.ok(after && after[killedStream] && after[killedStream] !== victim.name, `${killedStream} has a new leader: ${JSON.stringify(after)}`);
    await Promise.all([...subscribers.values()].flat().map((s) => s.close()));
  });
});
