// Integration harness: real nats-server and partyline processes on loopback
// ports, and WebSocket clients that record what they receive.
//
// Every process started here is killed by a node:test `after` hook and again on
// process exit; every temporary directory is removed. Every wait is bounded.
// Only 127.0.0.1 listens; clients may connect from another loopback address
// (connect's and rawHttp's localAddress, such as 127.0.0.2).
//
// Environment:
//   PARTYLINE_BIN         the partyline binary (default <source>/build/partyline)
//   PARTYLINE_SOURCE_DIR  the repository root (default: two levels up from here)
//   NATS_SERVER_BIN       nats-server (default: the newest of tools/bin/nats-server beside
//                         PARTYLINE_BIN, PATH, /usr/sbin, /usr/local/bin, /usr/bin; the node's
//                         embedded server chooses the same way)
//   PARTYLINE_TEST_VERBOSE=1  copy every child's output to stderr as it arrives
//
// When a test file fails, the last lines each partyline node logged are
// printed at exit, so a failure report carries the node's side of the story.

import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after } from "node:test";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = path.resolve(process.env.PARTYLINE_SOURCE_DIR || path.join(HERE, "..", ".."));
export const TESTS_DIR = path.join(SOURCE_DIR, "tests");
export const SCRIPTS_DIR = path.join(HERE, "scripts");
export const PARTYLINE_BIN = process.env.PARTYLINE_BIN || path.join(SOURCE_DIR, "build", "partyline");
const VERBOSE = process.env.PARTYLINE_TEST_VERBOSE === "1";
const HOST = "127.0.0.1";

// ESM ignores NODE_PATH, so the npm packages are resolved from tests/ itself,
// where `npm ci` puts them, whatever the working directory is.
const requireFromTests = createRequire(path.join(TESTS_DIR, "package.json"));
function requireDependency(name) {
  try {
    return requireFromTests(name);
  } catch (err) {
    throw new Error(`cannot load npm package "${name}" from ${TESTS_DIR}/node_modules: run "npm ci" in tests/ (${err.message})`);
  }
}
export const WebSocket = requireDependency("ws");
export function loadPartySocket() {
  return requireDependency("partysocket").PartySocket;
}

// ---------------------------------------------------------------------------
// Small utilities

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Resolves with fn's value, or rejects after ms with `what` in the message.
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Polls fn until it returns a truthy value; rejects after timeoutMs.
export async function until(fn, { timeoutMs = 5000, intervalMs = 50, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError.message}` : ""}`);
}

// Ports for the processes a test starts. A port the kernel handed out for
// port 0 lies in its ephemeral range, where any outgoing connection of any
// process (a nats-server's routes, a client) may take it before the server
// that was meant to bind it does. So test ports come from below that range
// (or above it), and each is reserved across every test process running at
// once (ctest -j) by a file named after it, created exclusively and holding
// the owner's pid; a reservation whose owner died is taken over. A test
// process keeps its ports until it exits, so a server restarted on the same
// port finds it still free.
const PORT_DIR = path.join(os.tmpdir(), "partyline-test-ports");
const reservedPorts = new Set();

function testPortRange() {
  let low = 32768;
  let high = 60999;
  try {
    [low, high] = fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
  } catch {}
  if (low - 1 - 10000 >= 2000) return [10000, low - 1];
  if (65535 - (high + 1) >= 2000) return [high + 1, 65535];
  return [1024, 65535]; // no room outside the ephemeral range: reservations still keep tests apart
}

function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === "EPERM";
  }
}

// Reserves `port` for this process; false when another live test process holds it.
function reservePort(port) {
  fs.mkdirSync(PORT_DIR, { recursive: true });
  const file = path.join(PORT_DIR, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: "wx" });
      reservedPorts.add(port);
      return true;
    } catch (err) {
      if (err.code !== "EEXIST") throw err;
      const owner = Number(fs.readFileSync(file, "utf8")) || 0;
      if (owner && processAlive(owner)) return false;
      try {
        fs.unlinkSync(file); // its owner died: take it over
      } catch {}
    }
  }
  return false;
}

function releasePorts() {
  for (const port of reservedPorts) {
    try {
      if (Number(fs.readFileSync(path.join(PORT_DIR, String(port)), "utf8")) === process.pid) {
        fs.unlinkSync(path.join(PORT_DIR, String(port)));
      }
    } catch {}
  }
  reservedPorts.clear();
}

function canBind(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen({ port, host: HOST, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

// A loopback port outside the kernel's ephemeral range, free now and reserved
// for this test process (see above).
export async function freePort() {
  const [low, high] = testPortRange();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + crypto.randomInt(high - low + 1);
    if (reservedPorts.has(port) || !reservePort(port)) continue;
    if (await canBind(port)) return port;
  }
  throw new Error(`no free loopback port found in ${low}-${high} after 200 tries`);
}

// True when a child's output says a port it was given was taken.
export function bindFailed(output) {
  return /address already in use|EADDRINUSE|cannot bind/i.test(output);
}

// True when something accepts TCP connections on the port.
export function canConnect(port, timeoutMs = 500) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

// fetch with a bounded wait; the default signal makes a hung node fail the test, not hang it.
// An HTTP request on a fresh connection, answered as a fetch Response.
//
// Each request has its own connection (Connection: close): a reused keep-alive
// connection can be closed by the server's idle timer just as the next
// request is written, and a POST is not retried, so pooling would make tests
// flaky for a reason that is not theirs. Bounded by timeoutMs.
export function httpFetch(url, init = {}, timeoutMs = 5000) {
  const method = init.method || "GET";
  return new Promise((resolve, reject) => {
    const body = init.body === undefined || init.body === null ? null : Buffer.from(init.body);
    const headers = { Connection: "close", ...(init.headers || {}) };
    if (body) headers["Content-Length"] = String(body.length);
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () => {
        clearTimeout(timer);
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of [].concat(value)) responseHeaders.append(name, v);
        }
        const status = res.statusCode;
        const payload = status === 204 || status === 304 || method === "HEAD" ? null : Buffer.concat(chunks);
        resolve(new Response(payload, { status, statusText: res.statusMessage, headers: responseHeaders }));
      });
      res.on("error", fail);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    function fail(err) {
      clearTimeout(timer);
      reject(describeFetchError(err, method, url));
    }
    req.on("error", fail);
    req.end(body);
  });
}

// httpFetch, resolved with {status, text, json}: json is the parsed body, or
// undefined when the body is not JSON.
export async function fetchJson(url, init = {}, timeoutMs = 5000) {
  const res = await httpFetch(url, init, timeoutMs);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, text };
}

// "fetch failed" alone does not say which request failed, nor why.
export function describeFetchError(err, method, url) {
  const detail = err.cause || (err.code ? err : null);
  const cause = detail ? ` (${[detail.code, detail.message].filter(Boolean).join(": ")})` : "";
  const described = new Error(`${method} ${url}: ${err.message}${cause}`);
  described.cause = err;
  return described;
}

function makeTempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `partyline-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

// The nats-server the tests start: NATS_SERVER_BIN, else the newest one installed (by the
// version its --version prints), as the node's embedded server chooses. Found once per process.
let natsServer = null;
export function natsServerBin() {
  if (process.env.NATS_SERVER_BIN) return process.env.NATS_SERVER_BIN;
  if (natsServer) return natsServer;
  const dirs = [path.join(path.dirname(PARTYLINE_BIN), "tools", "bin")]
    .concat((process.env.PATH || "").split(path.delimiter), ["/usr/sbin", "/usr/local/bin", "/usr/bin"]);
  let best = null;
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, "nats-server");
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
    } catch {
      continue;
    }
    const printed = spawnSync(candidate, ["--version"], { encoding: "utf8", timeout: 5000 }).stdout || "";
    const match = printed.match(/(\d+)\.(\d+)\.(\d+)/);
    if (!match) continue;
    const version = match.slice(1, 4).map(Number);
    const order = best ? version.map((part, i) => part - best.version[i]).find((d) => d !== 0) ?? 0 : 1;
    if (order > 0) best = { candidate, version };
  }
  if (!best) throw new Error("nats-server not found beside PARTYLINE_BIN, on PATH or in /usr/sbin; set NATS_SERVER_BIN");
  natsServer = best.candidate;
  return natsServer;
}

function findExecutable(name, envVar, fallbacks) {
  if (process.env[envVar]) return process.env[envVar];
  const dirs = (process.env.PATH || "").split(path.delimiter).concat(fallbacks);
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {}
  }
  throw new Error(`${name} not found on PATH or in ${fallbacks.join(", ")}; set ${envVar}`);
}

// ---------------------------------------------------------------------------
// Child processes: tracked so that nothing outlives the test file.

const children = new Set();
const tempDirs = new Set();
const nodesStarted = []; // partyline children, kept after they exit for the failure report

// A running child with its output kept (the last maxLines lines).
class Child {
  constructor(label, command, args, options = {}) {
    this.label = label;
    this.lines = [];
    this.maxLines = 5000;
    this.proc = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
    this.exited = new Promise((resolve) => {
      this.proc.once("exit", (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        children.delete(this);
        resolve({ code, signal });
      });
      this.proc.once("error", (err) => {
        this.lines.push(`[harness] spawn failed: ${err.message}`);
        children.delete(this);
        resolve({ code: null, signal: null, error: err });
      });
    });
    children.add(this);
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      let partial = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk) => {
        const parts = (partial + chunk).split("\n");
        partial = parts.pop();
        for (const line of parts) this.record(line);
      });
      stream.on("end", () => partial && this.record(partial));
    }
  }

  record(line) {
    this.lines.push(line);
    if (this.lines.length > this.maxLines) this.lines.splice(0, this.lines.length - this.maxLines);
    if (VERBOSE) process.stderr.write(`[${this.label}] ${line}\n`);
  }

  get running() {
    return this.exitCode === undefined && this.exitSignal === undefined && children.has(this);
  }

  logs() {
    return this.lines.join("\n");
  }

  tail(n = 40) {
    return this.lines.slice(-n).join("\n");
  }

  // SIGTERM, then SIGKILL if it has not exited after graceMs.
  async stop(graceMs = 5000) {
    if (!this.running) return this.exited;
    this.proc.kill("SIGTERM");
    let timer;
    const grace = new Promise((resolve) => (timer = setTimeout(resolve, graceMs, null)));
    const result = await Promise.race([this.exited, grace]).finally(() => clearTimeout(timer));
    if (result) return result;
    this.record(`[harness] no exit ${graceMs} ms after SIGTERM: SIGKILL`);
    return this.kill();
  }

  async kill() {
    if (this.running) this.proc.kill("SIGKILL");
    return withTimeout(this.exited, 5000, `${this.label} to exit after SIGKILL`);
  }
}

function killAllNow() {
  for (const child of children) {
    try {
      child.proc.kill("SIGKILL");
    } catch {}
  }
  children.clear();
  for (const dir of tempDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {}
  }
  tempDirs.clear();
}

// Stops partyline nodes first, then nats-servers, so nodes do not spend their
// shutdown reconnecting to a NATS that is already gone.
export async function cleanupAll() {
  const nodes = [...children].filter((child) => child.label.startsWith("node:"));
  await Promise.allSettled(nodes.map((child) => child.stop(3000)));
  await Promise.allSettled([...children].map((child) => child.stop(3000)));
  killAllNow();
}

after(cleanupAll);
process.once("exit", (code) => {
  killAllNow();
  releasePorts();
  if ((code || process.exitCode) && !VERBOSE) {
    for (const child of nodesStarted) {
      process.stderr.write(`\n----- last lines of ${child.label} -----\n${child.tail(60)}\n`);
    }
  }
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, () => {
    killAllNow();
    process.exit(128 + os.constants.signals[signal]);
  });
}

// Starts `partyline ARGS...` without waiting for anything, for tests of how
// it starts and stops. The handle has exited ({code, signal}), running,
// logs(), tail(), stop() and kill(); the process is killed with the others.
export function spawnPartyline(args, { label = "partyline", env = process.env } = {}) {
  if (!fs.existsSync(PARTYLINE_BIN)) {
    throw new Error(`partyline binary not found at ${PARTYLINE_BIN}: build it (scripts/build.sh) or set PARTYLINE_BIN`);
  }
  const child = new Child(`node:${label}`, PARTYLINE_BIN, args, { cwd: SOURCE_DIR, env });
  nodesStarted.push(child);
  return child;
}

// A fresh temporary directory, removed when the test file ends.
export function tempDir(prefix = "test") {
  return makeTempDir(prefix);
}

// ---------------------------------------------------------------------------
// nats-server

// Starts a real `nats-server -js` on a free loopback port. Resolves once it
// accepts TCP connections and has sent its INFO line.
export async function startNats({ dir, port } = {}) {
  const bin = natsServerBin();
  const storeDir = dir || makeTempDir("nats");
  let natsPort = port || (await freePort());
  let child = null;

  async function start() {
    const args = ["-js", "-a", HOST, "-p", String(natsPort), "-sd", storeDir];
    child = new Child(`nats:${natsPort}`, bin, args);
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      if (!child.running) {
        throw new Error(`nats-server exited before accepting connections (${JSON.stringify(await child.exited)}):\n${child.tail()}`);
      }
      if (await natsAnswers(natsPort)) return;
      await sleep(50);
    }
    await child.kill();
    throw new Error(`nats-server did not accept connections on ${natsPort} within 10 s:\n${child.tail()}`);
  }

  // A port of our own was taken after all (by a process outside the tests): another one.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (err) {
      if (port || attempt >= 3 || !bindFailed(child.logs())) throw err;
      natsPort = await freePort();
    }
  }
  return {
    get url() {
      return `nats://${HOST}:${natsPort}`;
    },
    get port() {
      return natsPort;
    },
    dir: storeDir,
    get running() {
      return child.running;
    },
    logs: () => child.logs(),
    stop: () => child.stop(),
    kill: () => child.kill(),
    // Stops it if it runs, and starts it again on the same port and store directory.
    async restart() {
      await child.stop();
      await start();
    },
  };
}

// True when a NATS server on the port sends its INFO greeting.
function natsAnswers(port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
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

// ---------------------------------------------------------------------------
// A NATS cluster: several nats-servers with JetStream, routed to each other

// Starts `size` real nats-servers on loopback, each with JetStream, its own
// store directory and server name (nats-1, nats-2, ...), its monitoring port,
// and routes to all the others under one cluster name. Resolves once every
// server accepts clients and JetStream has a meta leader that every server
// follows (so a stream with replicas = size can be created), at most
// readyTimeoutMs. `url` lists every server, as a partyline node's nats.url.
export async function startNatsCluster({ size = 3, name = "partyline-test", readyTimeoutMs = 30000 } = {}) {
  const bin = natsServerBin();
  let servers;
  for (let attempt = 1; ; attempt++) {
    const specs = [];
    for (let i = 1; i <= size; i++) {
      specs.push({
        name: `nats-${i}`,
        port: await freePort(),
        clusterPort: await freePort(),
        monitorPort: await freePort(),
        dir: makeTempDir(`nats-${i}`),
      });
    }
    servers = specs.map((spec) => makeClusterServer(bin, spec, specs, name));
    const started = await Promise.allSettled(servers.map((server) => server.start()));
    const failed = started.find((result) => result.status === "rejected");
    if (!failed) break;
    // Every server names every other's ports: a taken one means new ports for all.
    await Promise.allSettled(servers.map((server) => server.kill()));
    if (attempt >= 3 || !servers.some((server) => bindFailed(server.logs()))) throw failed.reason;
  }
  const cluster = {
    name,
    servers,
    url: servers.map((s) => s.url).join(","),
    // Resolves with the meta leader's name once every running server answers
    // /healthz 200 and names the same JetStream meta leader.
    async waitJetStream(timeoutMs = readyTimeoutMs) {
      return until(() => jetStreamLeader(servers.filter((s) => s.running)), {
        timeoutMs,
        intervalMs: 200,
        what: `a JetStream meta leader followed by every server of ${name}`,
      }).catch((err) => {
        throw new Error(`${err.message}\n${servers.map((s) => `----- ${s.name} -----\n${s.tail(20)}`).join("\n")}`);
      });
    },
    async stop() {
      await Promise.allSettled(servers.map((s) => s.stop()));
    },
  };
  await cluster.waitJetStream();
  return cluster;
}

function makeClusterServer(bin, spec, all, clusterName) {
  const routes = all.filter((other) => other !== spec).map((other) => `nats://${HOST}:${other.clusterPort}`);
  const args = [
    "-js", "-a", HOST, "-p", String(spec.port), "-m", String(spec.monitorPort), "-sd", spec.dir,
    "--server_name", spec.name, "--cluster_name", clusterName,
    "--cluster", `nats://${HOST}:${spec.clusterPort}`, "--routes", routes.join(","),
  ];
  let child = null;
  const server = {
    ...spec,
    bin,
    url: `nats://${HOST}:${spec.port}`,
    monitorUrl: `http://${HOST}:${spec.monitorPort}`,
    get running() {
      return Boolean(child?.running);
    },
    logs: () => child?.logs() ?? "",
    tail: (n) => child?.tail(n) ?? "",
    // Starts it on its ports and store directory; resolves once it accepts clients.
    async start() {
      child = new Child(`nats:${spec.name}:${spec.port}`, bin, args);
      const deadline = Date.now() + 10000;
      while (Date.now() < deadline) {
        if (!child.running) {
          throw new Error(`${spec.name} exited before accepting connections (${JSON.stringify(await child.exited)}):\n${child.tail()}`);
        }
        if (await natsAnswers(spec.port)) return;
        await sleep(50);
      }
      await child.kill();
      throw new Error(`${spec.name} did not accept connections on ${spec.port} within 10 s:\n${child.tail()}`);
    },
    stop: () => child?.stop(),
    kill: () => child?.kill(),
    async restart() {
      await child?.stop();
      await server.start();
    },
    // GET on the monitoring port (/jsz, /healthz, /routez); resolves with {status, json}.
    monitor: (pathAndQuery) => fetchJson(server.monitorUrl + pathAndQuery, {}, 2000),
  };
  return server;
}

// The meta leader's name when every server is healthy and names it, else null.
async function jetStreamLeader(servers) {
  let leader = null;
  for (const server of servers) {
    const health = await server.monitor("/healthz");
    if (health.status !== 200) return null;
    const jsz = await server.monitor("/jsz");
    const meta = jsz.json?.meta_cluster;
    if (!meta?.leader || (leader && meta.leader !== leader)) return null;
    leader = meta.leader;
  }
  return leader;
}

// ---------------------------------------------------------------------------
// HAProxy

// The haproxy binary, or null when it is not installed (HAPROXY_BIN overrides).
export function findHaproxy() {
  try {
    const bin = findExecutable("haproxy", "HAPROXY_BIN", ["/usr/sbin", "/usr/local/sbin", "/usr/bin"]);
    fs.accessSync(bin, fs.constants.X_OK);
    return bin;
  } catch {
    return null;
  }
}

export const HAPROXY_CONFIG = path.join(SOURCE_DIR, "deploy", "haproxy.cfg");

// A self-signed certificate for 127.0.0.1 and localhost, made by the openssl
// command in `dir`: {cert (PEM text, for a client's `ca`), pemFile (certificate
// and key in one file, as HAProxy's `crt` takes it)}.
export function makeSelfSignedCert(dir) {
  const key = path.join(dir, "tls.key");
  const crt = path.join(dir, "tls.crt");
  const made = spawnSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", crt,
  ], { encoding: "utf8" });
  if (made.status !== 0) throw new Error(`openssl could not make a certificate: ${made.stderr || made.error}`);
  const pemFile = path.join(dir, "tls.pem");
  const cert = fs.readFileSync(crt, "utf8");
  fs.writeFileSync(pemFile, cert + fs.readFileSync(key, "utf8"));
  return { cert, pemFile };
}

// Null once the proxy accepts connections on `port`, else the error (the child is stopped).
async function haproxyListening(child, port, text) {
  const deadline = Date.now() + 10000;
  for (;;) {
    if (!child.running) {
      return new Error(`haproxy exited (${JSON.stringify(await child.exited)}):\n${child.tail()}\nconfiguration:\n${text}`);
    }
    if (await canConnect(port)) return null;
    if (Date.now() > deadline) {
      await child.kill();
      return new Error(`haproxy did not accept connections on ${port} within 10 s:\n${child.tail()}`);
    }
    await sleep(50);
  }
}

// Rewrites an HAProxy configuration for loopback: every `bind` gets a free
// 127.0.0.1 port (returned by the name of its frontend), and the `server` lines
// of the backend become one line per backend ({name, port}), each keeping the
// options of the first original server line. Throws when the file has no bind
// or no server line, so a configuration this cannot rewrite fails loudly.
export async function loopbackHaproxyConfig(text, backends, { certFile } = {}) {
  const out = [];
  const ports = {};
  let section = "";
  let serversWritten = false;
  for (const line of text.split("\n")) {
    const header = /^(global|defaults|frontend|backend|listen|resolvers|peers|userlist)\b\s*(\S*)/.exec(line);
    if (header) section = header[2] || header[1];
    const bind = /^(\s+)bind\s+\S+(.*)$/.exec(line);
    if (bind) {
      ports[section] = await freePort();
      const options = certFile ? bind[2].replace(/\bcrt\s+\S+/, `crt ${certFile}`) : bind[2];
      out.push(`${bind[1]}bind ${HOST}:${ports[section]}${options}`);
      continue;
    }
    const server = /^(\s+)server\s+\S+\s+\S+(.*)$/.exec(line);
    if (server) {
      if (!serversWritten) {
        backends.forEach((b, i) => out.push(`${server[1]}server ${b.name || `node-${i + 1}`} ${HOST}:${b.port}${server[2]}`));
        serversWritten = true;
      }
      continue;
    }
    out.push(line);
  }
  if (!Object.keys(ports).length) throw new Error("the HAProxy configuration has no bind line to rewrite");
  if (!serversWritten) throw new Error("the HAProxy configuration has no server line to rewrite");
  return { text: out.join("\n"), ports };
}

// Starts HAProxy in the foreground (-db) with `configFile` (default: the
// deployment's deploy/haproxy.cfg) rewritten by loopbackHaproxyConfig to
// balance over `backends` ({name, port}). The first frontend is the proxy
// (`port`, `url`); a frontend named "stats" with `stats uri /` gives
// serverStates(). Resolves once the proxy accepts connections (at most 10 s).
export async function startHaproxy({ backends, configFile = HAPROXY_CONFIG, frontend = "partyline" } = {}) {
  const bin = findHaproxy();
  if (!bin) throw new Error("haproxy not found on PATH nor in /usr/sbin: install it (scripts/install-deps.sh) or set HAPROXY_BIN");
  const dir = makeTempDir("haproxy");
  const generated = path.join(dir, "haproxy.cfg");
  const source = fs.readFileSync(configFile, "utf8");
  // A TLS frontend gets a certificate of its own, made for this run.
  const tls = /^\s+bind\s.*\bssl\b/m.test(source) ? makeSelfSignedCert(dir) : null;
  let text, ports, port, child;
  for (let attempt = 1; ; attempt++) {
    ({ text, ports } = await loopbackHaproxyConfig(source, backends, { certFile: tls?.pemFile }));
    port = ports[frontend];
    if (!port) throw new Error(`${configFile} has no frontend "${frontend}" with a bind line`);
    fs.writeFileSync(generated, text);
    child = new Child(`haproxy:${port}`, bin, ["-db", "-f", generated]);
    nodesStarted.push(child); // its log lines join the failure report
    const failure = await haproxyListening(child, port, text);
    if (!failure) break;
    // A bind port was taken after all (by a process outside the tests): new ports.
    if (attempt >= 3 || !/cannot bind|address already in use/i.test(child.logs())) throw failure;
  }

  const statsUrl = ports.stats ? `http://${HOST}:${ports.stats}/` : null;
  const proxy = {
    port,
    url: `http://${HOST}:${port}`,
    ports, // by frontend name
    tlsCert: tls?.cert ?? null, // the PEM a client trusts to reach the TLS frontend
    statsUrl,
    configFile: generated,
    config: text,
    get running() {
      return child.running;
    },
    logs: () => child.logs(),
    tail: (n) => child.tail(n),
    // Sends a signal ("SIGTERM", "SIGHUP", ...) without waiting.
    signal: (name) => child.proc.kill(name),
    stop: () => child.stop(),
    kill: () => child.kill(),
    // The check state of each server of `backend`, by name ("UP", "DOWN", ...).
    async serverStates(backend = "nodes") {
      if (!statsUrl) throw new Error(`${configFile} has no "stats" frontend`);
      const res = await httpFetch(`${statsUrl};csv`, {}, 2000);
      const [header, ...rows] = (await res.text()).trim().split("\n");
      const columns = header.replace(/^# /, "").split(",");
      const states = {};
      for (const row of rows) {
        const cells = Object.fromEntries(row.split(",").map((cell, i) => [columns[i], cell]));
        if (cells.pxname === backend && cells.svname !== "BACKEND") states[cells.svname] = cells.status;
      }
      return states;
    },
    // Resolves once every server of `backend` passed its health check.
    async waitServersUp(timeoutMs = 15000, backend = "nodes") {
      let last = {};
      return until(
        async () => {
          last = await proxy.serverStates(backend);
          const states = Object.values(last);
          return states.length > 0 && states.every((s) => s === "UP") && last;
        },
        { timeoutMs, intervalMs: 200, what: `every server of ${backend} UP in HAProxy` },
      ).catch((err) => {
        throw new Error(`${err.message} (last: ${JSON.stringify(last)})`);
      });
    },
    // ws://…/parties/:party/:room through the proxy.
    wsUrl(party, room, query) {
      const qs = query ? `?${new URLSearchParams(query)}` : "";
      return `ws://${HOST}:${port}/parties/${encodeURIComponent(party)}/${encodeURIComponent(room)}${qs}`;
    },
  };
  return proxy;
}

// ---------------------------------------------------------------------------
// partyline nodes

// A script name without a directory is one of tests/integration/scripts; other
// relative paths are relative to the repository root.
export function scriptPath(name) {
  if (path.isAbsolute(name)) return name;
  if (!name.includes("/")) return path.join(SCRIPTS_DIR, name);
  return path.join(SOURCE_DIR, name);
}

// Minimal YAML writer for nested objects of strings, numbers and booleans.
// Strings are written double-quoted with JSON escapes, which YAML accepts; an
// array of them is written as a JSON flow sequence (also YAML).
export function toYaml(value, indent = "") {
  let out = "";
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined || item === null) continue;
    if (Array.isArray(item)) {
      out += `${indent}${key}: ${JSON.stringify(item)}\n`;
    } else if (typeof item === "object") {
      out += `${indent}${key}:\n${toYaml(item, indent + "  ")}`;
    } else {
      out += `${indent}${key}: ${typeof item === "string" ? JSON.stringify(item) : String(item)}\n`;
    }
  }
  return out;
}

// Limits every test node gets unless the test sets them: CivetWeb keeps a
// worker thread per possible connection, and the default of 20000 makes a node
// slow to start and heavy for a test that opens a dozen connections. Every
// test client is 127.0.0.1, so the per-address limits are off unless a test
// sets them (hostile-http.test.mjs does).
export const TEST_LIMITS = {
  max_connections: 256,
  max_connections_per_ip: 0,
  max_new_connections_per_ip_per_second: 0,
  max_http_workers_per_ip: 0,
};

// Starts a partyline process. `parties` maps party names to a script (a name
// from tests/integration/scripts or a path) or to {script, ...}. `config` is
// merged over the generated configuration for keys this signature lacks.
// Resolves once /healthz and /readyz answer 200 (at most readyTimeoutMs).
export async function startNode({
  natsUrl,
  parties = {},
  limits,
  nodeId,
  stream,
  config = {},
  args = [],
  readyTimeoutMs = 15000,
} = {}) {
  const dir = makeTempDir("node");
  const partyConfig = {};
  for (const [name, spec] of Object.entries(parties)) {
    const entry = typeof spec === "string" ? { script: spec } : { ...spec };
    entry.script = scriptPath(entry.script);
    partyConfig[name] = entry;
  }

  const configFile = path.join(dir, "partyline.yaml");
  return launchOnFreePort(nodeId, readyTimeoutMs, (port) => {
    const yaml = toYaml({
      listen: `${HOST}:${port}`,
      node_id: nodeId,
      data_dir: path.join(dir, "data"),
      nats: natsUrl || stream ? { url: natsUrl, stream } : undefined,
      parties: Object.keys(partyConfig).length ? partyConfig : undefined,
      limits: { ...TEST_LIMITS, ...limits },
      ...config,
    });
    fs.writeFileSync(configFile, yaml);
    return { args: ["serve", "--config", configFile, ...args], configFile, yaml, describe: `configuration:\n${yaml}` };
  });
}

// Starts `partyline serve --config FILE` with the file as it is (an example's
// configuration, say), as a user runs it, pointed at the test's nats-server:
// --listen (a free loopback port), --nats-url, --data and --node-id override
// the file. The node runs in `cwd` (default: the repository root); a relative
// FILE is relative to it and passed as written. Resolves like startNode.
export async function startNodeWithConfig(configFile, { natsUrl, nodeId, cwd, readyTimeoutMs = 15000 } = {}) {
  const file = path.resolve(cwd || SOURCE_DIR, configFile);
  const yaml = fs.readFileSync(file, "utf8");
  const dir = makeTempDir("node");
  const named = cwd ? configFile : file;
  return launchOnFreePort(nodeId, readyTimeoutMs, (port) => {
    const args = ["serve", "--config", named, "--listen", `${HOST}:${port}`, "--data", path.join(dir, "data")];
    if (natsUrl) args.push("--nats-url", natsUrl);
    if (nodeId) args.push("--node-id", nodeId);
    return { args, configFile: file, yaml, describe: `partyline ${args.join(" ")} (in ${cwd || SOURCE_DIR})` };
  }, cwd);
}

// Starts a node on a free port; `prepare(port)` gives {args, configFile, yaml,
// describe}. A port can be taken between freePort() and the node's bind: then
// it tries again.
async function launchOnFreePort(label, readyTimeoutMs, prepare, cwd = SOURCE_DIR) {
  if (!fs.existsSync(PARTYLINE_BIN)) {
    throw new Error(`partyline binary not found at ${PARTYLINE_BIN}: build it (scripts/build.sh) or set PARTYLINE_BIN`);
  }
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const { args, configFile, yaml, describe } = prepare(port);
    const child = new Child(`node:${label || port}`, PARTYLINE_BIN, args, { cwd, env: process.env });
    nodesStarted.push(child);
    try {
      await waitReady(child, port, readyTimeoutMs);
    } catch (err) {
      await child.kill().catch(() => {});
      if (attempt < 3 && bindFailed(child.logs())) continue;
      throw new Error(`${err.message}\n${describe}\npartyline output:\n${child.tail(60)}`);
    }
    return makeNodeHandle(child, port, configFile, yaml);
  }
}

async function waitReady(child, port, timeoutMs) {
  const base = `http://${HOST}:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (const probe of ["/healthz", "/readyz"]) {
    let last = "no answer";
    for (;;) {
      if (!child.running) {
        const { code, signal } = await child.exited;
        throw new Error(`partyline exited (code ${code}, signal ${signal}) before ${probe} answered 200`);
      }
      if (Date.now() > deadline) throw new Error(`partyline ${probe} not 200 within ${timeoutMs} ms (last: ${last})`);
      try {
        const res = await httpFetch(base + probe, {}, 1000);
        const body = await res.text();
        if (res.status === 200) break;
        last = `${res.status} ${body.slice(0, 200)}`;
      } catch (err) {
        last = err.cause?.code || err.message;
      }
      await sleep(100);
    }
  }
}

function makeNodeHandle(child, port, configFile, yaml) {
  const url = `http://${HOST}:${port}`;
  return {
    url,
    port,
    host: `${HOST}:${port}`,
    configFile,
    config: yaml,
    pid: child.proc.pid,
    get running() {
      return child.running;
    },
    exited: child.exited,
    // ws://…/parties/:party/:room; the room id is URL-encoded here.
    wsUrl(party, room, query) {
      const qs = query ? `?${new URLSearchParams(query)}` : "";
      return `ws://${HOST}:${port}/parties/${encodeURIComponent(party)}/${encodeURIComponent(room)}${qs}`;
    },
    httpUrl(party, room, rest = "", query) {
      const qs = query ? `?${new URLSearchParams(query)}` : "";
      return `${url}/parties/${encodeURIComponent(party)}/${encodeURIComponent(room)}${rest}${qs}`;
    },
    // POST /v1/parties/:party/:room/broadcast; resolves with {status, body, json}.
    async broadcast(party, room, body, timeoutMs = 5000) {
      const res = await httpFetch(
        `${url}/v1/parties/${encodeURIComponent(party)}/${encodeURIComponent(room)}/broadcast`,
        { method: "POST", body },
        timeoutMs,
      );
      const text = await res.text();
      let json;
      try {
        json = JSON.parse(text);
      } catch {}
      return { status: res.status, body: text, json };
    },
    logs: () => child.logs(),
    tail: (n) => child.tail(n),
    // Sends a signal ("SIGTERM", "SIGHUP", ...) without waiting.
    signal: (name) => child.proc.kill(name),
    stop: () => child.stop(),
    kill: () => child.kill(),
  };
}

// ---------------------------------------------------------------------------
// WebSocket clients (the `ws` package)

// One received frame: `data` is a string for text frames, a Buffer for binary.
class Received {
  constructor(raw, binary) {
    this.binary = binary;
    this.data = binary ? Buffer.from(raw) : raw.toString("utf8");
  }
  get text() {
    return this.binary ? this.data.toString("utf8") : this.data;
  }
  json() {
    return JSON.parse(this.text);
  }
}

function describeMessages(messages, n = 8) {
  const shown = messages.slice(-n).map((m) => (m.binary ? `<binary ${m.data.toString("hex").slice(0, 40)}>` : JSON.stringify(m.data.slice(0, 200))));
  return `${messages.length} received${messages.length > n ? `, last ${n}` : ""}: [${shown.join(", ")}]`;
}

// The node's welcome frame to a partyline.v1 connection, or null for any other frame.
export function welcomeOf(text) {
  try {
    const value = JSON.parse(text);
    const keys = value && typeof value === "object" ? Object.keys(value).sort().join() : "";
    return (keys === "epoch,id,resume,welcome" || keys === "id,resume,welcome") && value.welcome === true ? value : null;
  } catch {
    return null;
  }
}

// What a partyline.v1 text frame carries when it is a conn:send wrapped by the node
// ({"data":"..."} or {"binary":true,"data":"<base64>"}): {data, binary}, else null.
export function directOf(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!value || typeof value !== "object" || typeof value.data !== "string") return null;
  const keys = Object.keys(value).sort().join();
  if (keys === "data") return { data: value.data, binary: false };
  if (keys === "binary,data" && value.binary === true) return { data: value.data, binary: true };
  return null;
}

// A connected client that records every frame it receives (a partyline.v1 client's welcome
// frame apart, as `welcome`). For a partyline.v1 client, a conn:send frame, which the node wraps
// as {"data":...}, is recorded as what the script sent (its wire text in `wire`).
export class Client {
  constructor(ws, url) {
    this.ws = ws;
    this.url = url;
    this.messages = [];
    this.waiters = new Set();
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString("utf8") };
        this.notify();
        resolve(this.closeInfo);
      });
    });
    ws.on("message", (data, isBinary) => {
      const received = new Received(data, isBinary);
      // A partyline.v1 connection's first frame is the node's welcome ({"welcome":true,"id","resume"}):
      // kept apart, so `messages` holds what the room sent.
      if (this.welcome === undefined && ws.protocol === "partyline.v1" && !isBinary) {
        this.welcome = welcomeOf(received.text);
        if (this.welcome) return this.notify();
      }
      if (ws.protocol === "partyline.v1" && !isBinary) {
        const direct = directOf(received.text);
        if (direct) {
          const unwrapped = new Received(direct.binary ? Buffer.from(direct.data, "base64") : Buffer.from(direct.data, "utf8"), direct.binary);
          unwrapped.wire = received.text;
          this.messages.push(unwrapped);
          return this.notify();
        }
      }
      this.messages.push(received);
      this.notify();
    });
    // Errors after open (e.g. ECONNRESET) end in "close"; keep them for messages.
    ws.on("error", (err) => {
      this.lastError = err;
    });
  }

  get protocol() {
    return this.ws.protocol;
  }

  get texts() {
    return this.messages.map((m) => m.text);
  }

  notify() {
    for (const waiter of this.waiters) waiter();
  }

  send(data, options) {
    return new Promise((resolve, reject) => this.ws.send(data, options || {}, (err) => (err ? reject(err) : resolve())));
  }

  // Resolves when `n` messages have arrived (with the messages array), or when
  // a message satisfies `predicate` (with that message). Rejects after
  // timeoutMs, or when the connection closes first.
  waitFor(countOrPredicate, timeoutMs = 5000) {
    const check =
      typeof countOrPredicate === "number"
        ? () => (this.messages.length >= countOrPredicate ? this.messages : undefined)
        : () => this.messages.find(countOrPredicate);
    const what = typeof countOrPredicate === "number" ? `${countOrPredicate} messages` : `a message matching ${countOrPredicate}`;
    return new Promise((resolve, reject) => {
      let timer;
      const waiter = () => {
        const found = check();
        if (found !== undefined) {
          finish();
          resolve(found);
        } else if (this.closeInfo) {
          finish();
          reject(new Error(`${this.url}: closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for ${what}; ${describeMessages(this.messages)}`));
        }
      };
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      timer = setTimeout(() => {
        finish();
        reject(new Error(`${this.url}: timed out after ${timeoutMs} ms waiting for ${what}; ${describeMessages(this.messages)}`));
      }, timeoutMs);
      this.waiters.add(waiter);
      waiter();
    });
  }

  // Resolves with a partyline.v1 connection's welcome frame ({welcome, id, resume}).
  async waitWelcome(timeoutMs = 5000) {
    await until(() => this.welcome || this.closeInfo, { timeoutMs, what: `the welcome frame on ${this.url}` });
    if (!this.welcome) throw new Error(`${this.url}: closed (${this.closeInfo.code} ${this.closeInfo.reason}) before its welcome`);
    return this.welcome;
  }

  // Resolves with {code, reason} once the connection closed.
  waitClose(timeoutMs = 5000) {
    return withTimeout(this.closed, timeoutMs, `${this.url} to close`);
  }

  async close(code = 1000, reason = "") {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason);
    try {
      await this.waitClose(3000);
    } catch {
      this.ws.terminate();
    }
  }

  terminate() {
    this.ws.terminate();
  }
}

const openClients = new Set();
after(() => {
  for (const client of openClients) client.ws.terminate();
  openClients.clear();
});

// Opens a WebSocket and resolves with a Client once it is open. A refused
// upgrade rejects with an error carrying `statusCode` and `body`.
// `localAddress` (such as 127.0.0.2) is the client's own loopback address.
export function connect(url, { protocols, headers, timeoutMs = 5000, localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers, handshakeTimeout: timeoutMs, perMessageDeflate: false, localAddress });
    const client = new Client(ws, url);
    openClients.add(client);
    client.closed.then(() => openClients.delete(client));
    const fail = (err) => {
      ws.terminate();
      reject(err);
    };
    ws.once("open", () => resolve(client));
    ws.once("error", (err) => fail(new Error(`${url}: ${err.message}`)));
    ws.once("unexpected-response", (req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (body += chunk));
      const done = () => {
        const err = new Error(`${url}: upgrade refused with HTTP ${res.statusCode}: ${body.slice(0, 300)}`);
        err.statusCode = res.statusCode;
        err.headers = res.headers;
        err.body = body;
        fail(err);
      };
      res.once("end", done);
      res.once("error", done);
      setTimeout(done, 2000).unref();
    });
  });
}

// ---------------------------------------------------------------------------
// Raw TCP clients, for requests a well-behaved library will not send.

// Parses an HTTP response head ("HTTP/1.1 400 ...\r\nname: value\r\n\r\n").
function parseHead(head) {
  const [statusLine, ...lines] = head.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  const headers = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: match ? Number(match[1]) : null, statusLine, headers };
}

// Sends `request` (a string or Buffer) on a fresh TCP connection and resolves
// with {status, headers, body, raw} once the response is complete (by
// Content-Length or connection close). A connection closed without any answer
// resolves with status null.
export function rawHttp(port, request, { timeoutMs = 5000, localAddress } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port, localAddress });
    let buffer = Buffer.alloc(0);
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const raw = buffer.toString("latin1");
      const end = raw.indexOf("\r\n\r\n");
      if (end < 0) return resolve({ status: null, headers: {}, body: "", raw });
      const head = parseHead(raw.slice(0, end));
      resolve({ ...head, body: buffer.subarray(end + 4).toString("utf8"), raw });
    };
    const timer = setTimeout(() => {
      if (buffer.length) return finish();
      settled = true;
      socket.destroy();
      reject(new Error(`no HTTP answer within ${timeoutMs} ms to ${JSON.stringify(String(request).split("\r\n")[0])}`));
    }, timeoutMs);
    socket.on("connect", () => socket.write(request));
    socket.on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const raw = buffer.toString("latin1");
      const end = raw.indexOf("\r\n\r\n");
      if (end < 0) return;
      const { headers, status } = parseHead(raw.slice(0, end));
      const length = headers["content-length"];
      if (length !== undefined && buffer.length >= end + 4 + Number(length)) finish();
      else if (status === 101) finish();
    });
    socket.on("end", finish);
    socket.on("close", finish);
    socket.on("error", (err) => {
      if (buffer.length) return finish();
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(err);
    });
  });
}

// Builds one WebSocket frame. Client frames are masked unless mask is false;
// `declaredLength` puts a length in the header that differs from the payload.
export function encodeFrame({ opcode, payload = Buffer.alloc(0), fin = true, mask = true, declaredLength, rsv = 0 }) {
  payload = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const length = declaredLength ?? payload.length;
  let header;
  if (length < 126) {
    header = Buffer.alloc(2);
    header[1] = length;
  } else if (length < 65536) {
    header = Buffer.alloc(4);
    header[1] = 126;
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(10);
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  header[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  if (!mask) return Buffer.concat([header, payload]);
  header[1] |= 0x80;
  const key = crypto.randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] ^= key[i % 4];
  return Buffer.concat([header, key, masked]);
}

export const OPCODE = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 };

// A WebSocket client written by hand over a TCP socket: the handshake is
// checked (101 and Sec-WebSocket-Accept), then frames are sent as given and
// server frames parsed as they come.
export class RawWebSocket {
  static async open(port, pathAndQuery, { headers = {}, timeoutMs = 5000 } = {}) {
    const key = crypto.randomBytes(16).toString("base64");
    const socket = net.connect({ host: HOST, port });
    await withTimeout(new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    }), timeoutMs, `TCP connect to ${port}`);
    const lines = [
      `GET ${pathAndQuery} HTTP/1.1`,
      `Host: ${HOST}:${port}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      `Sec-WebSocket-Key: ${key}`,
      "Sec-WebSocket-Version: 13",
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    socket.write(lines.join("\r\n") + "\r\n\r\n");
    const raw = new RawWebSocket(socket);
    const head = await withTimeout(raw.headReceived, timeoutMs, `handshake answer from ${port}${pathAndQuery}`);
    if (head.status !== 101) {
      socket.destroy();
      throw new Error(`handshake refused: ${head.statusLine}`);
    }
    const accept = crypto.createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
    if (head.headers["sec-websocket-accept"] !== accept) {
      socket.destroy();
      throw new Error(`bad Sec-WebSocket-Accept: ${head.headers["sec-websocket-accept"]}, expected ${accept}`);
    }
    return raw;
  }

  constructor(socket) {
    this.socket = socket;
    this.frames = [];
    this.buffer = Buffer.alloc(0);
    this.head = null;
    this.ended = false;
    this.waiters = new Set();
    this.headReceived = new Promise((resolve, reject) => {
      this.resolveHead = resolve;
      socket.once("close", () => reject(new Error("connection closed before the handshake answer")));
    });
    this.headReceived.catch(() => {});
    socket.on("data", (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.parse();
    });
    socket.on("error", (err) => (this.error = err));
    socket.on("close", () => {
      this.ended = true;
      this.notify();
    });
    rawSockets.add(socket);
    socket.once("close", () => rawSockets.delete(socket));
  }

  parse() {
    if (!this.head) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      this.head = parseHead(this.buffer.subarray(0, end).toString("latin1"));
      this.buffer = this.buffer.subarray(end + 4);
      this.resolveHead(this.head);
    }
    for (;;) {
      if (this.buffer.length < 2) break;
      const b0 = this.buffer[0];
      const b1 = this.buffer[1];
      let length = b1 & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) break;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) break;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      if (masked) offset += 4;
      if (this.buffer.length < offset + length) break;
      const payload = Buffer.from(this.buffer.subarray(offset, offset + length));
      this.frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, masked, payload });
      this.buffer = this.buffer.subarray(offset + length);
    }
    this.notify();
  }

  notify() {
    for (const waiter of this.waiters) waiter();
  }

  send(frameOptions) {
    this.socket.write(encodeFrame(frameOptions));
  }

  sendRaw(bytes) {
    this.socket.write(bytes);
  }

  // Resolves with the first frame matching predicate; rejects on timeout or
  // when the connection ends first.
  waitFrame(predicate, timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
      let timer;
      const waiter = () => {
        const frame = this.frames.find(predicate);
        if (frame) {
          finish();
          resolve(frame);
        } else if (this.ended) {
          finish();
          reject(new Error(`connection ended before the expected frame; frames: ${this.describe()}`));
        }
      };
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a frame; frames: ${this.describe()}`));
      }, timeoutMs);
      this.waiters.add(waiter);
      waiter();
    });
  }

  // Resolves with {code, reason} from the server's close frame (code null when
  // the frame has no body), or {code: undefined, ended: true} when the TCP
  // connection ended without one.
  async waitClose(timeoutMs = 5000) {
    try {
      const frame = await this.waitFrame((f) => f.opcode === OPCODE.close, timeoutMs);
      if (frame.payload.length < 2) return { code: null, reason: "" };
      return { code: frame.payload.readUInt16BE(0), reason: frame.payload.subarray(2).toString("utf8") };
    } catch (err) {
      if (this.ended) return { code: undefined, ended: true };
      throw err;
    }
  }

  describe() {
    return JSON.stringify(this.frames.map((f) => ({ opcode: f.opcode, fin: f.fin, payload: f.payload.toString("utf8").slice(0, 80) })));
  }

  destroy() {
    this.socket.destroy();
  }
}

const rawSockets = new Set();
after(() => {
  for (const socket of rawSockets) socket.destroy();
  rawSockets.clear();
});
