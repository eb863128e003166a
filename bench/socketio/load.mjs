// Load generator for the Socket.IO peer (bench/socketio/server.mjs): what partyline-bench --mode
// ws --spread room does against partyline, with socket.io-client, and the same accounting.
//
//   node bench/socketio/load.mjs --url http://127.0.0.1:P1 --url http://127.0.0.1:P2 --rooms 500 \
//       --clients 2000 --writers 2000 --rate 4000 --duration 30 --cpu socketio-1=PID ... [--json]
//
// Who may use it: a benchmark harness (bench/socketio/peer.sh, bench/targets.sh, the bench smoke
// test). Client i joins room i mod K on server (i div K) mod U, so each room's clients alternate
// between the servers; clients 0..W-1 write. The run sends exactly round(rate * duration) writes
// on a fixed schedule (write j at start + j / rate, by writer j mod W), each a payload
// "plb1.<run>.<room>.<writer>.<counter>.<sent-ns>." padded with '-' to --size bytes, and every
// client records what it receives. Threads: the main thread only coordinates and reads /proc;
// --threads T worker threads each run every T-th client (one Node event loop cannot read 16,000
// messages/s and write 4,000/s over 2,000 sockets on a busy core). Send times are
// process.hrtime (CLOCK_MONOTONIC), one clock for every thread.
// Output: the summary on stderr (the lines of partyline-bench's), with --json one JSON object on
// stdout. Exit 0 when every client opened and every expected delivery arrived once and in order,
// 1 when the run finished but not clean, 2 for bad flags.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

const NS_PER_S = 1e9;

// ---- flags (main thread) ----

const USAGE = `usage: node bench/socketio/load.mjs --url URL [--url URL ...] [FLAGS]
  --url URL             a Socket.IO server, http://HOST:PORT; client i uses server (i div K) mod U
  --rooms K             rooms "<prefix>0" .. ; client i joins room i mod K (1)
  --room-prefix P       (bench-)
  --clients N           clients (100)
  --writers W           clients 0..W-1 write; 0 = one per room (0)
  --rate R              writes per second over all writers (100)
  --duration S          seconds of writing: round(R * S) writes in all (10)
  --drain S             after the last write, wait up to S seconds for deliveries (5)
  --size B              pad every payload to B bytes (64)
  --settle S            pause after the last client opened, before writing (1)
  --warm S              also report the latency of the writes sent after the first S seconds (5)
  --connect-rate R      new connections per second (1000)
  --connect-timeout S   a client not connected after S seconds fails (60)
  --threads T           worker threads running the clients, every T-th each (1)
  --cpu NAME=PID        report PID's CPU-seconds and context switches over the run (repeatable)
  --json                one JSON object on stdout; the summary goes to stderr
  --quiet               no progress lines
Exit 0: every client opened, every expected delivery arrived once and in order; 1: not clean; 2: bad flags.`;

function usage(message) {
    console.error(`load.mjs: ${message}`);
    console.error(USAGE);
    process.exit(2);
}

function number(values, name, min, max, integer) {
    const text = values[name];
    const value = Number(text);
    if (text === "" || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value)))
        usage(`--${name} ${text}: must be ${integer ? "an integer" : "a number"} in [${min}, ${max}]`);
    return value;
}

function options(argv) {
    let values;
    try {
        ({ values } = parseArgs({
            args: argv,
            options: {
                url: { type: "string", multiple: true, default: [] },
                rooms: { type: "string", default: "1" },
                clients: { type: "string", default: "100" },
                writers: { type: "string", default: "0" },
                rate: { type: "string", default: "100" },
                duration: { type: "string", default: "10" },
                drain: { type: "string", default: "5" },
                size: { type: "string", default: "64" },
                settle: { type: "string", default: "1" },
                warm: { type: "string", default: "5" },
                "connect-rate": { type: "string", default: "1000" },
                "connect-timeout": { type: "string", default: "60" },
                threads: { type: "string", default: "1" },
                "room-prefix": { type: "string", default: "bench-" },
                cpu: { type: "string", multiple: true, default: [] },
                json: { type: "boolean", default: false },
                quiet: { type: "boolean", default: false },
                help: { type: "boolean", default: false },
            },
        }));
    } catch (error) {
        usage(error.message);
    }
    if (values.help) {
        console.log(USAGE);
        process.exit(0);
    }
    if (values.url.length === 0) usage("at least one --url is required");
    for (const url of values.url) if (!/^https?:\/\/[^/]+\/?$/.test(url)) usage(`--url ${url}: must be http://HOST:PORT`);
    const o = {
        urls: values.url,
        rooms: number(values, "rooms", 1, 1e6, true),
        clients: number(values, "clients", 1, 1e6, true),
        writers: number(values, "writers", 0, 1e6, true),
        rate: number(values, "rate", 0.001, 1e7, false),
        duration: number(values, "duration", 0.001, 86400, false),
        drain: number(values, "drain", 0, 3600, false),
        size: number(values, "size", 1, 1 << 20, true),
        settle: number(values, "settle", 0, 3600, false),
        warm: number(values, "warm", 0, 86400, false),
        connectRate: number(values, "connect-rate", 1, 1e6, false),
        connectTimeout: number(values, "connect-timeout", 0.001, 3600, false),
        threads: number(values, "threads", 1, 64, true),
        roomPrefix: values["room-prefix"],
        json: values.json,
        quiet: values.quiet,
        cpu: values.cpu.map((spec) => {
            const match = /^([^=]+)=([1-9][0-9]*)$/.exec(spec);
            if (!match) usage(`--cpu ${spec}: must be NAME=PID`);
            return { name: match[1], pid: Number(match[2]) };
        }),
    };
    if (o.writers === 0) o.writers = Math.min(o.rooms, o.clients);
    if (o.writers > o.clients) usage("--writers must not exceed --clients");
    if (o.rooms > o.clients) usage("--rooms must not exceed --clients");
    if (o.threads > o.clients) o.threads = o.clients;
    o.planned = Math.round(o.rate * o.duration);
    return o;
}

// ---- /proc (main thread) ----

const CLOCK_TICKS = (() => {
    try {
        return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
        return 100;
    }
})();

// CPU-seconds (utime + stime) of a process and the context switches of all its threads, or null
// when the process is gone. As partyline-bench's --cpu reads them.
function readCpu(pid) {
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        // Fields after the command, which is in parentheses and may hold spaces: utime is field 14.
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        const seconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
        let switches = 0;
        for (const task of readdirSync(`/proc/${pid}/task`)) {
            let status;
            try {
                status = readFileSync(`/proc/${pid}/task/${task}/status`, "utf8");
            } catch {
                continue; // a thread that ended meanwhile
            }
            for (const match of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) switches += Number(match[1]);
        }
        return { seconds, switches };
    } catch {
        return null;
    }
}

// ---- the run (main thread) ----

function roomOf(o, client) {
    return client % o.rooms;
}

function serverOf(o, client) {
    return Math.floor(client / o.rooms) % o.urls.length;
}

function progress(o, text) {
    if (!o.quiet) console.error(`load.mjs: ${text}`);
}

// Posts to every worker and waits for one answer of type `type` from each.
function fromAll(workers, type) {
    return Promise.all(
        workers.map(
            (worker) =>
                new Promise((resolve, reject) => {
                    const onMessage = (message) => {
                        if (message.type !== type) return;
                        worker.off("message", onMessage);
                        resolve(message);
                    };
                    worker.on("message", onMessage);
                    worker.once("error", reject);
                }),
        ),
    );
}

function percentile(sorted, p) {
    if (sorted.length === 0) return 0;
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

function addCounts(into, from) {
    for (const [key, n] of Object.entries(from)) into[key] = (into[key] ?? 0) + n;
}

async function run(o) {
    const runId = randomBytes(4).toString("hex");
    const self = fileURLToPath(import.meta.url);
    const workers = [];
    for (let t = 0; t < o.threads; ++t) workers.push(new Worker(self, { workerData: { o, runId, thread: t } }));
    progress(o, `opening ${o.clients} clients on ${o.threads} thread(s)`);
    const opened = await fromAll(workers, "opened");

    const openAtStart = new Uint8Array(o.clients);
    const r = { runId, open: 0, failed: 0, errors: {}, closes: {}, firstOpen: 0n, lastOpen: 0n };
    for (const m of opened) {
        for (const c of m.open) openAtStart[c] = 1;
        r.open += m.open.length;
        r.failed += m.failed;
        addCounts(r.errors, m.errors);
        if (m.firstOpen && (!r.firstOpen || m.firstOpen < r.firstOpen)) r.firstOpen = m.firstOpen;
        if (m.lastOpen > r.lastOpen) r.lastOpen = m.lastOpen;
    }

    const startNs = process.hrtime.bigint() + BigInt(Math.round(o.settle * NS_PER_S));
    await new Promise((resolve) => setTimeout(resolve, o.settle * 1000));
    const cpuBefore = o.cpu.map(({ pid }) => readCpu(pid));
    const selfBefore = readCpu(process.pid);
    for (const worker of workers) worker.postMessage({ type: "write", startNs });
    progress(o, `writing ${o.planned} messages over ${o.duration} s`);
    const wrote = await fromAll(workers, "wrote");

    const sent = new Float64Array(o.writers);
    r.sent = 0;
    r.maxLagNs = 0n;
    for (const m of wrote) {
        for (const [writer, n] of m.sent) sent[writer] = n;
        r.sent += m.sent.reduce((sum, [, n]) => sum + n, 0);
        if (m.maxLagNs > r.maxLagNs) r.maxLagNs = m.maxLagNs;
    }
    // Every client open when writing began expects every write of each writer of its room.
    const sentToRoom = new Float64Array(o.rooms);
    for (let w = 0; w < o.writers; ++w) sentToRoom[roomOf(o, w)] += sent[w];
    progress(o, `draining (at most ${o.drain} s)`);
    for (const [t, worker] of workers.entries()) {
        let expected = 0;
        for (let c = t; c < o.clients; c += o.threads) if (openAtStart[c]) expected += sentToRoom[roomOf(o, c)];
        worker.postMessage({ type: "drain", expected });
    }
    const drained = await fromAll(workers, "drained");
    const cpuAfter = o.cpu.map(({ pid }) => readCpu(pid));
    const selfAfter = readCpu(process.pid);

    Object.assign(r, { expected: 0, delivered: 0, duplicates: 0, order: 0, unexpected: 0, foreign: 0, misrouted: 0 });
    r.lastDelivery = 0n;
    const latencies = [];
    const warmLatencies = [];
    for (const m of drained) {
        for (const key of ["expected", "delivered", "duplicates", "order", "unexpected", "foreign", "misrouted"]) r[key] += m[key];
        addCounts(r.closes, m.closes);
        if (m.lastDelivery > r.lastDelivery) r.lastDelivery = m.lastDelivery;
        latencies.push(m.latencies);
        warmLatencies.push(m.warmLatencies);
    }
    await Promise.all(workers.map((worker) => worker.terminate()));
    r.lost = r.expected - r.delivered;
    r.latency = latencySummary(latencies);
    r.warmLatency = latencySummary(warmLatencies);
    r.connectSeconds = r.firstOpen ? Number(r.lastOpen - r.firstOpen) / NS_PER_S : 0;
    r.deliverySeconds = r.lastDelivery > startNs ? Number(r.lastDelivery - startNs) / NS_PER_S : 0;
    r.behind = o.planned - Math.min(o.planned, r.sent);
    r.cpu = o.cpu.map(({ name, pid }, i) => cpuUse(name, pid, cpuBefore[i], cpuAfter[i]));
    r.client = cpuUse("load", process.pid, selfBefore, selfAfter);
    r.clean = r.failed === 0 && r.lost === 0 && r.duplicates === 0 && r.order === 0 && r.misrouted === 0 && r.behind === 0 &&
        Object.keys(r.closes).length === 0;
    return r;
}

// p50, p99 and max of the latency samples of every thread, in ms.
function latencySummary(lists) {
    const all = new Float64Array(lists.reduce((n, l) => n + l.length, 0));
    let at = 0;
    for (const l of lists) {
        all.set(l, at);
        at += l.length;
    }
    all.sort();
    return { samples: all.length, p50: percentile(all, 0.5), p99: percentile(all, 0.99), max: all.length ? all[all.length - 1] : 0 };
}

function cpuUse(name, pid, before, after) {
    if (!before || !after) return { name, pid, read: false, seconds: 0, switches: 0 };
    return { name, pid, read: true, seconds: after.seconds - before.seconds, switches: after.switches - before.switches };
}

// ---- output (main thread) ----

function cpuLine(use, deliveries, writes) {
    if (!use.read) return `cpu        ${use.name}: could not be read`;
    const perM = deliveries > 0 ? (use.seconds * 1e6) / deliveries : 0;
    const perWrite = writes > 0 ? use.switches / writes : 0;
    return `cpu        ${use.name}: ${use.seconds.toFixed(2)} CPU-s, ${perM.toFixed(1)} CPU-s per million deliveries, ` +
        `${perWrite.toFixed(1)} context switches per write`;
}

function summary(o, r) {
    const lines = [];
    lines.push(
        `socketio-load: ${o.clients} clients in ${o.rooms} room${o.rooms === 1 ? "" : "s"} on ${o.urls.length} ` +
            `server${o.urls.length === 1 ? "" : "s"}, ${o.rate} writes/s for ${o.duration} s (run ${r.runId}, ` +
            `${o.threads} client thread${o.threads === 1 ? "" : "s"})`,
    );
    lines.push(`clients    ${r.open} open, ${r.failed} failed, opened in ${r.connectSeconds.toFixed(2)} s`);
    for (const [why, n] of Object.entries(r.errors)) lines.push(`           ${n} x ${why}`);
    for (const [why, n] of Object.entries(r.closes)) lines.push(`           ${n} closed during the run: ${why}`);
    lines.push(
        `writes     ${o.planned} planned, ${r.sent} sent, ${r.sent} counted, 0 failed` +
            (r.behind ? `, ${r.behind} not sent in time` : "") +
            `; ${(r.sent / o.duration).toFixed(0)}/s; at most ${(Number(r.maxLagNs) / 1e6).toFixed(1)} ms behind schedule`,
    );
    lines.push(
        `delivered  ${r.delivered} of ${r.expected} expected: lost ${r.lost}, duplicates ${r.duplicates}, ` +
            `order violations ${r.order}, unexpected ${r.unexpected}, foreign ${r.foreign}`,
    );
    const perSecond = r.deliverySeconds > 0 ? r.delivered / r.deliverySeconds : 0;
    lines.push(`rate       ${perSecond.toFixed(0)} deliveries/s over ${r.deliverySeconds.toFixed(2)} s (first write -> last delivery)`);
    lines.push(
        `latency    p50 ${r.latency.p50.toFixed(3)} ms  p99 ${r.latency.p99.toFixed(3)} ms  max ${r.latency.max.toFixed(3)} ms ` +
            `(send -> receive, ${r.latency.samples} samples)`,
    );
    if (o.warm > 0 && r.warmLatency.samples > 0)
        lines.push(
            `warm       p50 ${r.warmLatency.p50.toFixed(3)} ms  p99 ${r.warmLatency.p99.toFixed(3)} ms  max ` +
                `${r.warmLatency.max.toFixed(3)} ms (writes sent after the first ${o.warm} s, ${r.warmLatency.samples} samples)`,
        );
    const deliveries = r.delivered + r.unexpected;
    for (const use of r.cpu) lines.push(cpuLine(use, deliveries, r.sent));
    const server = r.cpu.reduce((sum, use) => sum + use.seconds, 0);
    if (r.cpu.length > 1)
        lines.push(`cpu        all: ${server.toFixed(2)} CPU-s, ${(deliveries > 0 ? (server * 1e6) / deliveries : 0).toFixed(1)} CPU-s per million deliveries`);
    lines.push(`${cpuLine(r.client, deliveries, r.sent)} (the clients: not counted in all)`);
    lines.push(`result     ${r.clean ? "OK" : "NOT CLEAN (see above)"}`);
    return lines.join("\n");
}

function toJson(o, r) {
    const deliveries = r.delivered + r.unexpected;
    const cpu = (use) => ({ name: use.name, read: use.read, cpu_s: Math.round(use.seconds * 1000) / 1000, context_switches: use.switches });
    const server = r.cpu.reduce((sum, use) => sum + use.seconds, 0);
    return JSON.stringify({
        tool: "socketio-load",
        run: r.runId,
        config: {
            mode: "ws", urls: o.urls, rooms: o.rooms, clients: o.clients, writers: o.writers, rate: o.rate,
            duration_s: o.duration, size: o.size, threads: o.threads,
        },
        clients: { open: r.open, failed: r.failed, connect_s: r.connectSeconds, errors: r.errors, server_closes: r.closes },
        writes: { planned: o.planned, sent: r.sent, behind: r.behind, max_send_lag_ms: Number(r.maxLagNs) / 1e6 },
        deliveries: {
            expected: r.expected, delivered: r.delivered, lost: r.lost, duplicates: r.duplicates,
            order_violations: r.order, unexpected: r.unexpected, foreign: r.foreign, misrouted: r.misrouted,
            per_second: r.deliverySeconds > 0 ? r.delivered / r.deliverySeconds : 0, seconds: r.deliverySeconds,
            latency_ms: r.latency,
            warm: { after_s: o.warm, latency_ms: r.warmLatency },
        },
        cpu: r.cpu.map(cpu),
        server_cpu_s_per_million: deliveries > 0 ? (server * 1e6) / deliveries : 0,
        client_cpu: cpu(r.client),
        clean: r.clean,
    });
}

// ---- the clients (each worker thread) ----

async function workerMain({ o, runId, thread }) {
    const { io } = await import("socket.io-client");
    const mine = [];
    for (let c = thread; c < o.clients; c += o.threads) mine.push(c);
    const perWriter = Math.ceil(o.planned / o.writers);
    const state = { delivered: 0, duplicates: 0, order: 0, unexpected: 0, foreign: 0, misrouted: 0, lastDelivery: 0n };
    const latencies = [];
    const warmLatencies = [];
    let warmNs = Infinity;
    const closes = {};
    let draining = null; // { expected, sent } once the main thread asks for the drain
    const prefix = `plb1.${runId}.`;

    // What client `c` received: per writer of its room, the counters seen and the highest.
    const seen = new Map();
    function receive(c, payload) {
        const now = process.hrtime.bigint();
        if (typeof payload !== "string" || !payload.startsWith(prefix)) {
            ++state.foreign;
            return;
        }
        const [room, writer, counter, sentNs] = payload.slice(prefix.length).split(".", 4).map(Number);
        if (room !== roomOf(o, c) || roomOf(o, writer) !== room) {
            ++state.misrouted;
            return;
        }
        let per = seen.get(c * o.writers + writer);
        if (!per) seen.set(c * o.writers + writer, (per = { bits: new Uint8Array(perWriter), last: -1 }));
        if (!(counter >= 0 && counter < perWriter)) {
            ++state.unexpected;
            return;
        }
        if (per.bits[counter]) {
            ++state.duplicates;
            return;
        }
        per.bits[counter] = 1;
        if (counter < per.last) ++state.order;
        per.last = Math.max(per.last, counter);
        ++state.delivered;
        const latency = Number(now - BigInt(sentNs)) / 1e6;
        latencies.push(latency);
        if (sentNs >= warmNs) warmLatencies.push(latency);
        state.lastDelivery = now;
        if (draining && state.delivered >= draining.expected) finishDrain();
    }

    // Open the clients at the connect rate, this thread's share of it.
    const sockets = new Map();
    const errors = {};
    let failed = 0;
    let firstOpen = 0n;
    let lastOpen = 0n;
    await new Promise((resolve) => {
        let pending = mine.length;
        const done = () => {
            if (--pending === 0) resolve();
        };
        const interval = (1000 * o.threads) / o.connectRate;
        mine.forEach((c, i) => {
            setTimeout(() => {
                const room = `${o.roomPrefix}${roomOf(o, c)}`;
                const socket = io(o.urls[serverOf(o, c)], {
                    transports: ["websocket"], forceNew: true, reconnection: false,
                    timeout: o.connectTimeout * 1000, query: { room },
                });
                let settled = false;
                socket.on("connect", () => {
                    if (settled) return;
                    settled = true;
                    const now = process.hrtime.bigint();
                    if (!firstOpen) firstOpen = now;
                    lastOpen = now;
                    sockets.set(c, socket);
                    done();
                });
                socket.on("connect_error", (error) => {
                    if (settled) return;
                    settled = true;
                    ++failed;
                    errors[error.message] = (errors[error.message] ?? 0) + 1;
                    socket.close();
                    done();
                });
                socket.on("disconnect", (reason) => {
                    if (reason === "io client disconnect") return;
                    closes[reason] = (closes[reason] ?? 0) + 1;
                });
                socket.on("m", (payload) => receive(c, payload));
            }, i * interval);
        });
    });
    parentPort.postMessage({ type: "opened", open: [...sockets.keys()], failed, errors, firstOpen, lastOpen });

    const { startNs } = await new Promise((resolve) => parentPort.once("message", resolve));
    warmNs = Number(startNs) + o.warm * NS_PER_S;
    const sent = new Map();
    for (let w = thread; w < o.writers; w += o.threads) sent.set(w, 0);
    let maxLagNs = 0n;
    const payload = (room, writer, counter, sentNs) => {
        const text = `${prefix}${room}.${writer}.${counter}.${sentNs}.`;
        return text.length >= o.size ? text : text + "-".repeat(o.size - text.length);
    };
    // Write j is due at startNs + j / rate and belongs to writer j mod W: this thread's are those of
    // its writers, in order. Each turn of the loop sends what is due, then sleeps until the next.
    const stepNs = NS_PER_S / o.rate;
    let j = thread < o.writers ? thread : o.planned;
    await new Promise((resolve) => {
        const turn = () => {
            const now = process.hrtime.bigint();
            while (j < o.planned) {
                const dueNs = startNs + BigInt(Math.round(j * stepNs));
                if (dueNs > now) break;
                const writer = j % o.writers;
                const socket = sockets.get(writer);
                if (socket?.connected) {
                    const counter = Math.floor(j / o.writers);
                    const sentNs = process.hrtime.bigint();
                    if (sentNs - dueNs > maxLagNs) maxLagNs = sentNs - dueNs;
                    socket.emit("m", payload(roomOf(o, writer), writer, counter, sentNs));
                    sent.set(writer, counter + 1);
                }
                j += nextOwned(j);
            }
            if (j >= o.planned) {
                resolve();
                return;
            }
            const waitNs = startNs + BigInt(Math.round(j * stepNs)) - process.hrtime.bigint();
            setTimeout(turn, Math.max(0, Number(waitNs) / 1e6));
        };
        turn();
    });
    // A writer that missed writes (closed) still counts those it sent: 0..n-1 in order.
    parentPort.postMessage({ type: "wrote", sent: [...sent.entries()], maxLagNs });

    // From write j, the step to this thread's next write: writers t, t+T, ... of W, cyclically.
    function nextOwned(from) {
        const writer = from % o.writers;
        return writer + o.threads < o.writers ? o.threads : o.writers - writer + thread;
    }

    let drainTimer;
    function finishDrain() {
        clearTimeout(drainTimer);
        const expected = draining.expected;
        draining = null;
        for (const socket of sockets.values()) socket.close();
        const l = Float64Array.from(latencies);
        const w = Float64Array.from(warmLatencies);
        parentPort.postMessage({ type: "drained", expected, ...state, closes, latencies: l, warmLatencies: w }, [l.buffer, w.buffer]);
    }
    const message = await new Promise((resolve) => parentPort.once("message", resolve));
    draining = { expected: message.expected };
    if (state.delivered >= draining.expected) finishDrain();
    else drainTimer = setTimeout(finishDrain, o.drain * 1000);
}

if (isMainThread) {
    const o = options(process.argv.slice(2));
    const r = await run(o);
    console.error(summary(o, r));
    if (o.json) console.log(toJson(o, r));
    process.exit(r.clean ? 0 : 1);
} else {
    await workerMain(workerData);
}
