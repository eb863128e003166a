// Fault (b): a three-server NATS cluster on loopback, JetStream replicas 3,
// three partyline nodes pointed at all three servers; one NATS server is
// killed under steady traffic. Every acknowledged write must reach every
// client that stayed connected, once, in log order.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { sleep, startNatsCluster, startNode } from "./harness.mjs";
import { Subscriber, ackProblems, compareWithLog, metricTotals, readLog, startLoad, summarize } from "./fault-tools.mjs";

const T = { timeout: 120000 };
const PARTY = "log";

describe("(b) one server of a 3-server NATS cluster killed under traffic", () => {
  let cluster;
  const nodes = [];

  before(async () => {
    cluster = await startNatsCluster({ name: "partyline-faults" });
    const nats = { url: cluster.url, stream: "CLUSTERFAULTS", replicas: 3 };
    // The first node creates the replicated stream; the others find it.
    nodes.push(await startNode({ nodeId: "cf-1", config: { nats }, parties: { [PARTY]: "log-room.lua" }, readyTimeoutMs: 40000 }));
    for (const id of ["cf-2", "cf-3"])
      nodes.push(await startNode({ nodeId: id, config: { nats }, parties: { [PARTY]: "log-room.lua" }, readyTimeoutMs: 40000 }));
  });
  after(async () => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await cluster?.stop();
  });

  test("every acknowledged write reaches every client once, in log order", T, async (t) => {
    const room = "cluster-kill";
    const subscribers = [];
    for (const [n, node] of nodes.entries()) {
      for (let k = 0; k < 2; k++) {
        const s = new Subscriber(`node${n + 1}-client${k}`, { party: PARTY, room });
        await s.open(node);
        subscribers.push(s);
      }
    }
    const load = startLoad({ targets: () => nodes, party: PARTY, room, rate: 20, count: 160, prefix: "b" });
    await sleep(2500);
    // The server holding the most partyline connections, so the fault hits nodes.
    let victim = cluster.servers[0];
    let most = -1;
    for (const server of cluster.servers) {
      const connz = await server.monitor("/connz");
      const count = (connz.json?.connections ?? []).filter((c) => /^cf-/.test(c.name ?? "")).length;
      if (count > most) [victim, most] = [server, count];
    }
    const reconnectsBefore = (await metricTotals(nodes, ["partyline_nats_reconnects_total"])).partyline_nats_reconnects_total ?? 0;
    const killedAt = load.elapsed();
    await victim.kill();
    const results = await load.done;
    const reconnects =
      ((await metricTotals(nodes, ["partyline_nats_reconnects_total"])).partyline_nats_reconnects_total ?? 0) - reconnectsBefore;

    const log = await readLog(nodes[1], PARTY, room);
    const last = log.at(-1)?.seq ?? 0;
    const problems = [];
    for (const r of results) {
      if (r.status === 200 || (r.status === 503 && r.reason?.trim())) continue;
      problems.push(`POST ${r.body?.slice?.(0, 20)} to :${r.port}: ${r.status} ${JSON.stringify(r.reason)}`);
    }
    problems.push(...ackProblems(results, log));
    await Promise.all(subscribers.map((s) => s.caughtUp(last, 30000).catch((err) => problems.push(err.message))));
    for (const s of subscribers) {
      problems.push(...compareWithLog(s.name, s.writes, log));
      if (s.connections.length > 1) problems.push(`${s.name}: its connection was closed though its node kept running`);
    }
    for (const n of nodes) if (!n.running) problems.push(`node :${n.port} exited:\n${n.tail(8)}`);
    const { byStatus, acked, slowest } = summarize(results);
    t.diagnostic(`(b) killed ${victim.name} at ${killedAt} ms: posts=${results.length} answers=${JSON.stringify(byStatus)} ` +
                 `partylineConnectionsOnIt=${most} reconnects=${reconnects} acked=${acked.length} slowestMs=${slowest} logEntries=${log.length} clients=${subscribers.length}`);
    assert.deepEqual(problems, [], problems.join("\n"));
    assert.ok(reconnects >= 1, `precondition: the killed server (${most} partyline connections) made a node reconnect`);
    assert.ok(acked.length >= results.length / 2, "most writes were acknowledged");
    await Promise.all(subscribers.map((s) => s.close()));
  });
});
