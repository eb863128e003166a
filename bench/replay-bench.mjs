// replay-bench: how long a `since=0` replay of N writes takes, and the node's CPU for it.
//
// Starts a nats-server (the newest installed, or NATS_SERVER_BIN) and a writer node, fills one
// room with N writes interleaved with 2N writes of two other rooms on the same stream (batches of
// 100 writes rotating over the three rooms, so a read of the room skips the others' entries),
// then, for each repetition, starts a fresh reader node (nothing of the room in its memory),
// joins the room with ?since=0 and times the join until the last write arrived, reading the
// reader's CPU time (user + system, every thread) from /proc before and after.
//
//   node bench/replay-bench.mjs --entries 2000 --repeat 5 [--batch-reads true|false]
//
// Run from the repository root with PARTYLINE_BIN=build/partyline and
// NODE_PATH=tests/node_modules (the integration tests' harness starts the processes). Prints one
// line per repetition and the median and range.

import fs from "node:fs";
import os from "node:os";

import { startNats, startNode, until } from "../tests/integration/harness.mjs";
import { Subscriber } from "../tests/integration/fault-tools.mjs";

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

const entries = Number(option("entries", "2000"));
const repeat = Number(option("repeat", "5"));
const batchReads = option("batch-reads", "true") === "true";
const PARTY = "log";
const ROOM = "replayed";
const OTHERS = ["other-x", "other-y"];
const STREAM = "REPLAYBENCH";

// CPU seconds (user + system, all threads) of a process.
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in ticks of 1/100 s
}

async function postBatch(node, room, lines) {
  const res = await fetch(`${node.url}/v1/parties/${PARTY}/${room}/broadcast`, {
    method: "POST",
    headers: { "content-type": "application/x-ndjson" },
    body: lines.join("\n"),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`POST ${room}: ${res.status} ${text}`);
  return JSON.parse(text).seqs;
}

function nodeConfig(nats, nodeId) {
  return {
    natsUrl: nats.url,
    nodeId,
    parties: { [PARTY]: "log-room.lua" },
    config: { nats: { url: nats.url, stream: STREAM, batch_reads: batchReads, max_msgs_per_room: 1000000 } },
  };
}

const nats = await startNats();
const writer = await startNode(nodeConfig(nats, "replay-writer"));
let last = 0;
for (let i = 0; i < entries; i += 100) {
  const count = Math.min(100, entries - i);
  const lines = Array.from({ length: count }, (_, k) => `replay-${i + k} ${"x".repeat(48)}`);
  const seqs = await postBatch(writer, ROOM, lines);
  last = seqs.at(-1);
  for (const other of OTHERS) await postBatch(writer, other, lines.map((line) => `${other} ${line}`));
}
await writer.stop();

const runs = [];
for (let r = 0; r < repeat; r++) {
  const reader = await startNode(nodeConfig(nats, `replay-reader-${r}`));
  const client = new Subscriber(`replay-${r}`, { party: PARTY, room: ROOM });
  const cpuBefore = cpuSeconds(reader.pid);
  const started = process.hrtime.bigint();
  await client.open(reader, { since: 0, timeoutMs: 60000 });
  await until(() => (client.lastSeq ?? 0) >= last, { timeoutMs: 120000, intervalMs: 1, what: "the replay" });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const cpu = cpuSeconds(reader.pid) - cpuBefore;
  const got = client.writes.length;
  await client.close();
  await reader.stop();
  if (got !== entries) throw new Error(`run ${r}: got ${got} writes of ${entries}`);
  runs.push({ ms, cpu });
  console.log(`run ${r}: ${ms.toFixed(1)} ms, node CPU ${(cpu * 1000).toFixed(0)} ms, load ${os.loadavg()[0].toFixed(2)}`);
}
await nats.stop();

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const ms = runs.map((run) => run.ms);
const cpu = runs.map((run) => run.cpu * 1000);
console.log(
  `entries=${entries} batch_reads=${batchReads} server=${process.env.NATS_SERVER_BIN ?? "newest"}: ` +
    `median ${median(ms).toFixed(1)} ms (${Math.min(...ms).toFixed(1)}-${Math.max(...ms).toFixed(1)}), ` +
    `node CPU median ${median(cpu).toFixed(0)} ms (${Math.min(...cpu).toFixed(0)}-${Math.max(...cpu).toFixed(0)})`,
);
process.exit(0);
