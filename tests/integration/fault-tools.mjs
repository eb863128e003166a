// Tools for the fault, replay and append tests, on top of harness.mjs:
// partyline.v1 subscribers that can resume with ?since=, a steady POST load
// whose every answer is kept, the room's log read back through the history
// endpoint, comparisons of what a client saw with the log, /metrics, and
// pausing a node (SIGSTOP/SIGCONT) by the process id of the node this file
// started.
//
// Every wait is bounded; a paused node is resumed by an `after` hook and at
// exit, so the harness can stop it.

import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after } from "node:test";

import { connect, freePort, httpFetch, natsServerBin, sleep, until } from "./harness.mjs";

export const V1 = ["partyline.v1"];

// ---------------------------------------------------------------------------
// Frames of a partyline.v1 client

// What one received frame is: a write {seq, data, binary}, the truncation
// marker {truncated, since, first}, or anything else a script sent alone.
// Parsed once per frame.
export function parseFrame(message) {
  if (message.parsed) return message.parsed;
  let value;
  try {
    value = message.binary ? undefined : JSON.parse(message.text);
  } catch {}
  let parsed;
  if (value && typeof value === "object" && Number.isInteger(value.seq)) {
    parsed = { kind: "write", seq: value.seq, data: value.data, binary: Boolean(value.binary) };
  } else if (value && typeof value === "object" && value.truncated === true) {
    parsed = { kind: "marker", ...value };
  } else {
    parsed = { kind: "other", value, text: message.binary ? null : message.text };
  }
  message.parsed = parsed;
  return parsed;
}

export const writesOf = (client) => client.messages.map(parseFrame).filter((f) => f.kind === "write");
export const markersOf = (client) => client.messages.map(parseFrame).filter((f) => f.kind === "marker");

// Resolves once the client got the hello of log-room.lua (its shard admitted it).
export function helloOf(client, timeoutMs = 10000) {
  return client
    .waitFor((m) => parseFrame(m).kind === "other" && parseFrame(m).value?.type === "hello", timeoutMs)
    .then((m) => parseFrame(m).value);
}

// One logical client of a room: a partyline.v1 connection that, when it is
// closed, may open another with ?since=<the last seq it saw>. `writes` is what
// the user of such a client sees: every connection's writes, in order.
export class Subscriber {
  constructor(name, { party, room }) {
    this.name = name;
    this.party = party;
    this.room = room;
    this.connections = []; // {client, node, since, openedAt}
    this.resumes = 0;
    this.resumeErrors = [];
  }

  get client() {
    return this.connections.at(-1)?.client;
  }

  get node() {
    return this.connections.at(-1)?.node;
  }

  // Opens a connection on `node` (with ?since= when given) and resolves once
  // the node's hello arrived.
  async open(node, { since, timeoutMs = 10000 } = {}) {
    const query = { _pk: `${this.name}-${this.connections.length}` };
    if (since !== undefined) query.since = String(since);
    const client = await connect(node.wsUrl(this.party, this.room, query), { protocols: V1, timeoutMs });
    if (client.protocol !== "partyline.v1") throw new Error(`${this.name}: the node did not select partyline.v1`);
    const entry = { client, node, since, openedAt: Date.now() };
    this.connections.push(entry);
    this.watch(entry);
    await helloOf(client, timeoutMs);
    return client;
  }

  // The writes of every connection, in the order they arrived.
  get writes() {
    return this.connections.flatMap((c) => writesOf(c.client));
  }

  get markers() {
    return this.connections.flatMap((c) => markersOf(c.client));
  }

  get lastSeq() {
    return this.writes.at(-1)?.seq;
  }

  // When the current connection closes, opens another with ?since=<last seq
  // seen> on pickNode() (a node that runs), as a client library would, until
  // stopResuming(). Failed attempts are retried for up to 20 s.
  resumeOnClose(pickNode) {
    this.pickNode = pickNode;
    const current = this.connections.at(-1);
    if (current) this.watch(current);
  }

  stopResuming() {
    this.pickNode = null;
  }

  watch(entry) {
    if (entry.watched) return;
    entry.watched = true;
    entry.client.closed.then(async () => {
      if (!this.pickNode || this.connections.at(-1) !== entry) return;
      const deadline = Date.now() + 20000;
      while (this.pickNode && Date.now() < deadline) {
        const node = this.pickNode();
        const count = this.connections.length;
        try {
          await this.open(node, { since: this.lastSeq ?? entry.since ?? 0 });
          this.resumes++;
          return;
        } catch (err) {
          this.resumeErrors.push(`${node?.port}: ${err.message.slice(0, 200)}`);
          // A connection that opened and closed again resumes by itself.
          if (this.connections.length > count) return;
          await sleep(200);
        }
      }
    });
  }

  // Resolves once the writes reach `seq` (and the client is connected).
  async caughtUp(seq, timeoutMs = 20000) {
    await until(() => this.client && !this.client.closeInfo && (this.lastSeq ?? 0) >= seq, {
      timeoutMs,
      intervalMs: 50,
      what: `${this.name} to reach seq ${seq} (at ${this.lastSeq}, ${this.connections.length} connection(s), ` +
        `last close ${JSON.stringify(this.client?.closeInfo)}, resume errors ${JSON.stringify(this.resumeErrors.slice(-3))})`,
    });
  }

  async close() {
    this.stopResuming();
    await Promise.all(this.connections.map((c) => c.client.close()));
  }
}

// ---------------------------------------------------------------------------
// HTTP: broadcast, history, metrics

export function roomPath(party, room) {
  return `/v1/parties/${encodeURIComponent(party)}/${encodeURIComponent(room)}`;
}

// POST …/broadcast; resolves with {status, body, json} or {status: "no answer", error}.
export async function post(node, party, room, body, timeoutMs = 20000) {
  try {
    const res = await httpFetch(`${node.url}${roomPath(party, room)}/broadcast`, { method: "POST", body }, timeoutMs);
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, body: text, json };
  } catch (err) {
    return { status: "no answer", body: "", error: err.message };
  }
}

// GET …/history?since=&limit=; resolves with the parsed JSON (throws on non-200).
export async function history(node, party, room, { since = 0, limit = 1000 } = {}) {
  const res = await httpFetch(`${node.url}${roomPath(party, room)}/history?since=${since}&limit=${limit}`, {}, 10000);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`history of ${party}/${room} since ${since}: ${res.status} ${text}`);
  return JSON.parse(text);
}

// Every entry of the room's log after `since`, page by page.
export async function readLog(node, party, room, { since = 0 } = {}) {
  const entries = [];
  let after = since;
  for (let page = 0; page < 1000; page++) {
    const { entries: batch } = await history(node, party, room, { since: after, limit: 1000 });
    if (!batch.length) return entries;
    entries.push(...batch);
    after = batch.at(-1).seq;
  }
  throw new Error(`history of ${party}/${room}: more than 1,000 pages`);
}

// /metrics as {name: value} (samples without labels).
export async function metricsOf(node) {
  const res = await httpFetch(`${node.url}/metrics`, {}, 5000);
  const values = {};
  for (const line of (await res.text()).split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*) ([0-9.eE+-]+)$/.exec(line);
    if (match) values[match[1]] = Number(match[2]);
  }
  return values;
}

// Sums of the named metrics over nodes that answer.
export async function metricTotals(nodes, names) {
  const totals = Object.fromEntries(names.map((n) => [n, 0]));
  for (const node of nodes) {
    if (!node.running) continue;
    try {
      const values = await metricsOf(node);
      for (const name of names) totals[name] += values[name] ?? 0;
    } catch {}
  }
  return totals;
}

// ---------------------------------------------------------------------------
// A steady POST load

// Sends `count` POSTs at `rate` per second to the built-in broadcast, each to
// the next node of targets() (the nodes meant to get traffic now), body
// `${prefix}-${i}`. Every answer is kept: {i, body, port, status, seq,
// reason, sentAt, answeredAt}. `done` resolves with them all once the last is
// answered (each POST waits at most timeoutMs).
// `padding` bytes of filler follow the body's name when given.
export function startLoad({ targets, party, room, rate = 20, count = 200, prefix = "w", padding = 0, timeoutMs = 20000 }) {
  const results = [];
  const started = Date.now();
  const pending = [];
  let stopped = false;
  const done = (async () => {
    for (let i = 0; i < count && !stopped; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      const nodes = targets();
      const node = nodes[i % nodes.length];
      const body = `${prefix}-${i}` + (padding ? `:${"x".repeat(padding)}` : "");
      const record = { i, body, port: node.port, node, sentAt: Date.now() - started };
      results.push(record);
      pending.push(
        post(node, party, room, body, timeoutMs).then((answer) => {
          record.answeredAt = Date.now() - started;
          record.status = answer.status;
          record.seq = answer.json?.seq;
          record.reason = answer.status === 200 ? undefined : answer.error || answer.body;
        }),
      );
    }
    await Promise.all(pending);
    return results;
  })();
  return {
    results,
    done,
    started,
    elapsed: () => Date.now() - started,
    stop() {
      stopped = true;
    },
  };
}

// A summary of the answers: counts by status, and the acknowledged writes.
export function summarize(results) {
  const byStatus = {};
  for (const r of results) byStatus[r.status] = (byStatus[r.status] || 0) + 1;
  const acked = results.filter((r) => r.status === 200);
  return { byStatus, acked, slowest: Math.max(0, ...results.map((r) => r.answeredAt - r.sentAt)) };
}

// ---------------------------------------------------------------------------
// Comparisons

// Long payloads are shown by their first characters.
export const short = (data) => (typeof data === "string" && data.length > 40 ? `${data.slice(0, 40)}...(${data.length} chars)` : data);

function show(writes, from, to) {
  return writes
    .slice(Math.max(0, from), to)
    .map((w) => `${w.seq}:${short(w.data)}`)
    .join(", ");
}

// What is wrong with a sequence of writes on its own: seqs not strictly
// increasing (a duplicate or a reordering). Returns a list of problems.
export function orderProblems(label, writes) {
  const problems = [];
  const seen = new Map();
  for (let k = 0; k < writes.length; k++) {
    const w = writes[k];
    if (seen.has(w.seq)) problems.push(`${label}: seq ${w.seq} delivered twice (at ${seen.get(w.seq)} and ${k}): ... ${show(writes, k - 3, k + 3)} ...`);
    seen.set(w.seq, k);
    if (k > 0 && w.seq <= writes[k - 1].seq) {
      problems.push(`${label}: seq ${w.seq} after ${writes[k - 1].seq} at ${k}: ... ${show(writes, k - 3, k + 3)} ...`);
    }
  }
  return problems;
}

// Compares what a client saw with the log: `writes` must be exactly the log's
// entries after `since` (same seqs, same data, same order). Returns a list of
// problems, each naming the seqs and data involved.
export function compareWithLog(label, writes, log, { since = 0 } = {}) {
  const expected = log.filter((e) => e.seq > since);
  const problems = orderProblems(label, writes);
  const got = new Map(writes.map((w) => [w.seq, w]));
  const want = new Map(expected.map((e) => [e.seq, e]));
  const missing = expected.filter((e) => !got.has(e.seq));
  const extra = writes.filter((w) => !want.has(w.seq));
  const wrongData = writes.filter((w) => want.has(w.seq) && want.get(w.seq).data !== w.data);
  const list = (items) => items.slice(0, 12).map((e) => `${e.seq}:${short(e.data)}`).join(", ") + (items.length > 12 ? ` (+${items.length - 12} more)` : "");
  if (missing.length) problems.push(`${label}: ${missing.length} write(s) of the log never delivered: ${list(missing)}`);
  if (extra.length) problems.push(`${label}: ${extra.length} write(s) delivered that the log does not hold after ${since}: ${list(extra)}`);
  if (wrongData.length) problems.push(`${label}: data differs from the log at ${list(wrongData)}`);
  return problems;
}

// The acknowledged POSTs are in the log, with their data, each once; and no
// body is in the log twice (a re-sent publish is stored once).
export function ackProblems(results, log) {
  const problems = [];
  const bySeq = new Map(log.map((e) => [e.seq, e]));
  const byData = new Map();
  for (const e of log) byData.set(e.data, (byData.get(e.data) || []).concat(e.seq));
  for (const r of results) {
    if (r.status !== 200) continue;
    if (!Number.isInteger(r.seq)) problems.push(`POST ${short(r.body)} to :${r.port}: 200 without a seq`);
    else if (!bySeq.has(r.seq)) problems.push(`POST ${short(r.body)} to :${r.port}: acknowledged as seq ${r.seq}, which the log does not hold`);
    else if (bySeq.get(r.seq).data !== r.body) problems.push(`POST ${short(r.body)} to :${r.port}: acknowledged as seq ${r.seq}, but the log holds ${JSON.stringify(short(bySeq.get(r.seq).data))} there`);
  }
  for (const [data, seqs] of byData) {
    if (seqs.length > 1) problems.push(`the log holds ${JSON.stringify(short(data))} ${seqs.length} times: seqs ${seqs.join(", ")}`);
  }
  return problems;
}

// ---------------------------------------------------------------------------
// Pausing a node

const paused = new Set();

// The process id of a partyline node started by this test process (found by
// its configuration file among this process's children).
export function pidOfNode(node) {
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let args;
    let stat;
    try {
      args = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid === process.pid && args.includes("serve") && args.includes(node.configFile)) return Number(entry);
  }
  throw new Error(`no child process runs the node with ${node.configFile}`);
}

export function pauseProcess(pid) {
  paused.add(pid);
  process.kill(pid, "SIGSTOP");
}

export function resumeProcess(pid) {
  try {
    process.kill(pid, "SIGCONT");
  } catch {}
  paused.delete(pid);
}

function resumeAll() {
  for (const pid of [...paused]) resumeProcess(pid);
}
after(resumeAll);
process.once("exit", resumeAll);

// ---------------------------------------------------------------------------
// A NATS link that can be cut: a TCP relay on 127.0.0.1 between a node and
// nats-server. cut() drops every relayed connection and refuses new ones
// (as a network partition would) until restore(); cutAfter(bytes) and
// cutAfterText(text) do so in the middle of a transfer. Any TCP service can be
// behind it (a node, for a client's network cut), and retarget(port) sends
// new connections to another one (a node started in place of the first).

const links = new Set();

export async function startNatsLink(natsPort) {
  const sockets = new Set();
  let down = false;
  let cuts = 0;
  let trip = null; // {remaining, restoreAfterMs}: cut once that many more bytes went to the node
  let upstreamPort = natsPort;
  const server = net.createServer((client) => {
    if (down) return client.destroy();
    const upstream = net.connect({ host: "127.0.0.1", port: upstreamPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
    }
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.pipe(upstream);
    upstream.on("data", (chunk) => {
      if (!trip) return client.write(chunk);
      let forward = chunk;
      let fire = false;
      if (trip.text !== undefined) {
        // Forward up to the end of the protocol line (or payload) holding the text.
        const at = chunk.indexOf(trip.text);
        if (at >= 0) {
          const end = chunk.indexOf("\r\n", at);
          forward = end >= 0 ? chunk.subarray(0, end + 2) : chunk;
          fire = true;
        }
      } else {
        trip.remaining -= chunk.length;
        fire = trip.remaining <= 0;
      }
      client.write(forward);
      if (fire) {
        const { restoreAfterMs } = trip;
        trip = null;
        link.cut();
        setTimeout(() => link.restore(), restoreAfterMs);
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const link = {
    port: server.address().port,
    url: `nats://127.0.0.1:${server.address().port}`,
    get cuts() {
      return cuts;
    },
    cut() {
      down = true;
      cuts++;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      down = false;
    },
    // New connections go to `port` from now on; those relayed already stay.
    retarget(port) {
      upstreamPort = port;
    },
    // Cuts the link once `bytes` more bytes went from nats-server to the
    // node (in the middle of whatever it is reading), and restores it
    // restoreAfterMs later.
    cutAfter(bytes, restoreAfterMs = 200) {
      trip = { remaining: bytes, restoreAfterMs };
    },
    // Cuts the link right after the node received the message holding
    // `text` (nothing after it in the same read is forwarded).
    cutAfterText(text, restoreAfterMs = 200) {
      trip = { text, restoreAfterMs };
    },
    // Forgets a cutAfter/cutAfterText that has not fired; true if one had.
    disarm() {
      const armed = Boolean(trip);
      trip = null;
      return armed;
    },
    async close() {
      down = true;
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      links.delete(link);
    },
  };
  links.add(link);
  return link;
}

after(async () => {
  await Promise.allSettled([...links].map((link) => link.close()));
});

// ---------------------------------------------------------------------------
// A nats-server with settings the harness does not pass (a configuration file)

const ownServers = new Set();

// True once a NATS server on the port sends its INFO line.
function natsGreets(port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let received = "";
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1");
      if (received.startsWith("INFO ")) done(true);
    });
    socket.once("error", () => done(false));
    socket.once("close", () => done(false));
  });
}

// Starts `nats-server -c <file>` with JetStream on a free 127.0.0.1 port, its
// own store directory, and `settings` (top-level configuration lines, e.g.
// {write_deadline: '"500ms"', max_pending: 1048576}). Killed by an `after`
// hook. Resolves once it greets clients (at most 10 s).
export async function startNatsWithSettings(settings = {}) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "partyline-nats-settings-"));
  const file = path.join(dir, "nats.conf");
  const lines = [`listen: "127.0.0.1:${port}"`, `jetstream { store_dir: ${JSON.stringify(path.join(dir, "store"))} }`];
  for (const [key, value] of Object.entries(settings)) lines.push(`${key}: ${value}`);
  fs.writeFileSync(file, lines.join("\n") + "\n");
  const output = [];
  const proc = spawn(natsServerBin(), ["-c", file], { stdio: ["ignore", "pipe", "pipe"] });
  const server = { proc, dir, port, url: `nats://127.0.0.1:${port}`, output };
  const exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
  for (const stream of [proc.stdout, proc.stderr]) {
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      output.push(...chunk.split("\n").filter(Boolean));
      if (output.length > 2000) output.splice(0, output.length - 2000);
      if (process.env.PARTYLINE_TEST_VERBOSE === "1") process.stderr.write(`[nats-settings:${port}] ${chunk}`);
    });
  }
  server.logs = () => output.join("\n");
  server.stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    }
    ownServers.delete(server);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  ownServers.add(server);
  const deadline = Date.now() + 10000;
  while (!(await natsGreets(port))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      await server.stop();
      throw new Error(`nats-server -c ${file} did not start:\n${output.slice(-20).join("\n")}`);
    }
    await sleep(50);
  }
  return server;
}

after(async () => {
  await Promise.allSettled([...ownServers].map((s) => s.stop()));
});
process.once("exit", () => {
  for (const server of ownServers) {
    try {
      server.proc.kill("SIGKILL");
      fs.rmSync(server.dir, { recursive: true, force: true });
    } catch {}
  }
});

// ---------------------------------------------------------------------------
// JetStream API and partitions

// A JetStream API request ($JS.API.<api>, e.g. "STREAM.INFO.PARTYLINE-0") in the NATS text
// protocol, on a connection of its own to the server on `natsPort`; resolves with the answer's
// JSON (which carries `error` when JetStream refused).
export function jetStreamApi(natsPort, api, body = "", timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port: natsPort });
    let buffer = "";
    let asked = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to $JS.API.${api} within ${timeoutMs} ms: ${buffer.slice(0, 300)}`));
    }, timeoutMs);
    socket.on("data", (chunk) => {
      buffer += chunk.toString("utf8");
      if (!asked && buffer.startsWith("INFO ")) {
        asked = true;
        const payload = Buffer.from(body);
        socket.write(`CONNECT {"verbose":false}\r\nSUB _INBOX.api 1\r\nPUB $JS.API.${api} _INBOX.api ${payload.length}\r\n`);
        socket.write(Buffer.concat([payload, Buffer.from("\r\n")]));
      }
      const start = buffer.indexOf("MSG _INBOX.api ");
      if (start < 0) return;
      const lineEnd = buffer.indexOf("\r\n", start);
      if (lineEnd < 0) return;
      const length = Number(buffer.slice(start, lineEnd).split(" ").at(-1));
      const answer = Buffer.from(buffer.slice(lineEnd + 2));
      if (answer.length < length) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(JSON.parse(answer.subarray(0, length).toString("utf8")));
    });
    socket.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

// The partition of a room among `count`, as a node computes it (host/bus/Partition.h):
// FNV-1a 64 over the party's bytes, a zero byte and the room id's bytes, modulo count.
export function partitionOf(party, room, count) {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.concat([Buffer.from(party), Buffer.from([0]), Buffer.from(room)])) {
    hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return Number(hash % BigInt(count));
}
