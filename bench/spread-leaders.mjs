// Puts the leaders of a partitioned log's streams on different NATS servers, as a deployment
// would before a measurement: placement may give one server two leaders, and then that server
// makes the writes of two partitions. A stream whose leader leads another too is moved with
// JetStream's leader stepdown, preferring a server that leads none, a bounded number of times.
//
//   node bench/spread-leaders.mjs STREAM COUNT NAME=CLIENT_PORT:MONITOR_PORT ...
//
// Prints the leaders it ends with, "STREAM-0=nats-1 STREAM-1=nats-3 ...", and exits 1 when
// they still share a server (fewer servers than streams, or stepdowns that did not move them).
import { jetStreamApi } from "../tests/integration/fault-tools.mjs";

const [stream, countText, ...serverArgs] = process.argv.slice(2);
const count = Number(countText);
if (!stream || !Number.isInteger(count) || count < 1 || serverArgs.length === 0) {
  console.error("usage: node bench/spread-leaders.mjs STREAM COUNT NAME=CLIENT_PORT:MONITOR_PORT ...");
  process.exit(2);
}
const servers = serverArgs.map((arg) => {
  const [name, ports] = arg.split("=");
  const [client, monitor] = ports.split(":").map(Number);
  return { name, client, monitor };
});
const names = Array.from({ length: count }, (_, i) => (count === 1 ? stream : `${stream}-${i}`));
const MAX_STEPDOWNS = 20;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// {stream: leader} once every server names the same leader for every stream, else null.
async function agreedLeaders() {
  let first = null;
  for (const server of servers) {
    const answer = await fetch(`http://127.0.0.1:${server.monitor}/jsz?streams=true`).catch(() => null);
    if (!answer?.ok) return null;
    const details = ((await answer.json()).account_details || []).flatMap((a) => a.stream_detail || []);
    const seen = Object.fromEntries(names.map((n) => [n, details.find((s) => s.name === n)?.cluster?.leader]));
    if (names.some((n) => !seen[n] || (first && first[n] !== seen[n]))) return null;
    first = seen;
  }
  return first;
}

async function waitLeaders(changed = () => true) {
  for (let i = 0; i < 150; i++) {
    const leaders = await agreedLeaders();
    if (leaders && changed(leaders)) return leaders;
    await sleep(200);
  }
  return null;
}

let leaders = await waitLeaders();
if (!leaders) {
  console.error(`spread-leaders: the servers did not agree on leaders of ${names.join(", ")} within 30 s`);
  process.exit(1);
}
for (let stepdowns = 0; new Set(Object.values(leaders)).size < Math.min(count, servers.length) && stepdowns < MAX_STEPDOWNS; stepdowns++) {
  const name = names.find((n, i) => names.slice(0, i).some((m) => leaders[m] === leaders[n]));
  const free = servers.map((s) => s.name).find((s) => !Object.values(leaders).includes(s));
  const before = leaders[name];
  const via = servers[stepdowns % servers.length];
  const answer = await jetStreamApi(via.client, `STREAM.LEADER.STEPDOWN.${name}`, JSON.stringify({ placement: { preferred: free } }));
  if (answer.error) console.error(`spread-leaders: stepdown of ${name}: ${JSON.stringify(answer.error)}`);
  leaders = (await waitLeaders((now) => now[name] !== before)) || (await waitLeaders()) || leaders;
}
console.log(names.map((n) => `${n}=${leaders[n]}`).join(" "));
process.exit(new Set(Object.values(leaders)).size < Math.min(count, servers.length) ? 1 : 0);
