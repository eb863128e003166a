// fetch in room scripts with real processes: a partyline node on a real nats-server calling real
// Node.js HTTP backends on free loopback ports (scripts/fetch.lua). The allow list (a listed
// backend, an unlisted one, a redirect to an unlisted host, a listed name that resolves to
// loopback, a party's narrower list), bad input refused before anything is sent, a backend that
// never answers in one room while another room is served, 200 rooms fetching at once, a slow drip
// and a 10 MiB answer cut, the session check in onBeforeConnect, and the metrics.

import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";

import { connect, fetchJson, httpFetch, startNats, startNode } from "./harness.mjs";

const T = { timeout: 120000 };
const HOST = "127.0.0.1";
const MiB = 1024 * 1024;

// A backend on a free loopback port. `routes` maps a path to (req, res, body); it counts requests
// by path and the requests of /delay in progress at once. close() ends every open connection.
async function startBackend(routes) {
  const stats = { requests: 0, byPath: {}, inFlight: 0, peak: 0 };
  const sockets = new Set();
  const timers = new Set();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url, `http://${HOST}`);
      stats.requests++;
      stats.byPath[url.pathname] = (stats.byPath[url.pathname] || 0) + 1;
      const route = routes[url.pathname];
      if (!route) {
        res.writeHead(404).end("no route\n");
        return;
      }
      route(req, res, Buffer.concat(chunks).toString("utf8"), { stats, timers, url });
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  const port = server.address().port;
  return {
    port,
    stats,
    url: (path) => `http://${HOST}:${port}${path}`,
    async close() {
      for (const timer of timers) clearInterval(timer), clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

let nats, backend, unlisted, named, node;

// The node allows `backend` by address, `named` only by the name localhost (which resolves to
// loopback), and never `unlisted`.
before(async () => {
  nats = await startNats();
  unlisted = await startBackend({ "/": (req, res) => res.end("unlisted") });
  named = await startBackend({ "/": (req, res) => res.end("named") });
  backend = await startBackend({
    "/hello": (req, res, body) => {
      res.writeHead(200, { "content-type": "application/json", "X-Backend": "Yes" });
      res.end(JSON.stringify({ method: req.method, body, test: req.headers["x-test"] ?? null }));
    },
    "/session": (req, res, body, { url }) => {
      res.writeHead(url.searchParams.get("session") === "good" ? 200 : 401).end();
    },
    "/to-unlisted": (req, res) => res.writeHead(302, { location: unlisted.url("/") }).end(),
    "/to-hello": (req, res) => res.writeHead(302, { location: "/hello" }).end(),
    // Every answer 300 ms late, counting how many wait at once.
    "/delay": (req, res, body, { stats, timers }) => {
      stats.inFlight++;
      stats.peak = Math.max(stats.peak, stats.inFlight);
      const timer = setTimeout(() => {
        timers.delete(timer);
        stats.inFlight--;
        res.end("late");
      }, 300);
      timers.add(timer);
    },
    "/never": () => {},
    // Promises 1000 bytes and sends one every 200 ms.
    "/drip": (req, res, body, { timers }) => {
      res.writeHead(200, { "content-length": "1000" });
      res.flushHeaders();
      const timer = setInterval(() => res.write("x"), 200);
      timers.add(timer);
      res.on("close", () => clearInterval(timer));
    },
    "/big": (req, res) => {
      res.writeHead(200, { "content-length": String(10 * MiB) });
      res.end(Buffer.alloc(10 * MiB, 0x61));
    },
    "/big-chunked": (req, res) => {
      res.writeHead(200);
      for (let i = 0; i < 10; i++) res.write(Buffer.alloc(MiB, 0x62));
      res.end();
    },
    "/exact": (req, res) => res.end(Buffer.alloc(MiB, 0x63)),
  });
  node = await startNode({
    natsUrl: nats.url,
    nodeId: "fetch-node",
    parties: {
      fetch: { script: "fetch.lua", env: { SESSION_URL: backend.url("/session") } },
      narrow: { script: "fetch.lua", fetch: { allow: [`localhost:${named.port}`] } },
    },
    // 200 rooms opened at once from one address: no per-address new-room rate.
    limits: { max_message_bytes: "64KiB", max_connections: 512, max_new_rooms_per_ip_per_second: 0 },
    config: {
      fetch: { allow: [`${HOST}:${backend.port}`, `localhost:${named.port}`], timeout_ms: 10000 },
    },
  });
});

after(async () => {
  await node?.kill();
  await Promise.all([backend?.close(), unlisted?.close(), named?.close()]);
  await nats?.stop();
});

// A request to room `room` of `party` whose onRequest fetches `url`; resolves with fetch's result.
async function roomFetch(room, url, { party = "fetch", query = {}, body, timeoutMs = 30000 } = {}) {
  const init = body === undefined ? {} : { method: "POST", body };
  const res = await fetchJson(node.httpUrl(party, room, "", { url, ...query }), init, timeoutMs);
  assert.equal(res.status, 200, res.text);
  return res.json;
}

describe("the allow list", () => {
  test("a listed backend is called, with the method, headers and body the script gives", T, async () => {
    const got = await roomFetch("allowed", backend.url("/hello"), { query: { method: "PUT", header: "t-1" }, body: "state" });
    assert.equal(got.status, 200);
    assert.deepEqual(JSON.parse(got.body), { method: "PUT", body: "state", test: "t-1" });
    assert.equal(got.headers["x-backend"], "Yes");
    assert.equal(got.headers["content-type"], "application/json");
    // A redirect within the listed host is followed.
    const followed = await roomFetch("allowed", backend.url("/to-hello"));
    assert.equal(followed.status, 200);
    assert.equal(JSON.parse(followed.body).method, "GET");
  });

  test("a host or port not listed is refused by name, and nothing is sent", T, async () => {
    assert.deepEqual(await roomFetch("refused", unlisted.url("/")), { err: `not allowed: host ${HOST}` });
    assert.deepEqual(await roomFetch("refused", "http://api.example.invalid/"), { err: "not allowed: host api.example.invalid" });
    assert.equal(unlisted.stats.requests, 0);
  });

  test("a redirect to a host not listed is refused at that hop", T, async () => {
    const before = backend.stats.byPath["/to-unlisted"] || 0;
    assert.deepEqual(await roomFetch("redirect", backend.url("/to-unlisted")), { err: `not allowed: host ${HOST}` });
    assert.equal(backend.stats.byPath["/to-unlisted"], before + 1);
    assert.equal(unlisted.stats.requests, 0);
  });

  test("a listed name that resolves to loopback is refused by address; its address is not listed", T, async () => {
    assert.deepEqual(await roomFetch("rebinding", `http://localhost:${named.port}/`), { err: "not allowed: host localhost" });
    assert.deepEqual(await roomFetch("rebinding", `http://${HOST}:${named.port}/`), { err: `not allowed: host ${HOST}` });
    assert.equal(named.stats.requests, 0);
  });

  test("a party's fetch.allow narrows the node's: the node's other hosts are refused to it", T, async () => {
    assert.deepEqual(await roomFetch("r", backend.url("/hello"), { party: "narrow" }), { err: `not allowed: host ${HOST}` });
    assert.deepEqual(await roomFetch("r", `http://localhost:${named.port}/`, { party: "narrow" }), {
      err: "not allowed: host localhost",
    });
    assert.equal((await roomFetch("r", backend.url("/hello"))).status, 200);
  });
});

describe("bad input", () => {
  test("a URL that does not parse or another scheme: bad url", T, async () => {
    assert.deepEqual(await roomFetch("bad", "not a url"), { err: "bad url" });
    assert.deepEqual(await roomFetch("bad", `ftp://${HOST}:${backend.port}/`), { err: "bad url" });
    assert.deepEqual(await roomFetch("bad", `file:///etc/passwd`), { err: "bad url" });
  });

  test("a header value or name with CR, LF or NUL is refused before anything is sent", T, async () => {
    const before = backend.stats.requests;
    for (const header of ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\0b"]) {
      assert.deepEqual(await roomFetch("headers", backend.url("/hello"), { query: { header } }), { err: "bad header" }, JSON.stringify(header));
    }
    assert.deepEqual(await roomFetch("headers", backend.url("/hello"), { query: { header_name: "x\r\ny" } }), { err: "bad header" });
    assert.equal(backend.stats.requests, before);
    const fine = await roomFetch("headers", backend.url("/hello"), { query: { header: "fine value" } });
    assert.equal(JSON.parse(fine.body).test, "fine value");
  });

  test("a body over limits.max_message_bytes: too large; one at the limit is sent", T, async () => {
    const before = backend.stats.requests;
    assert.deepEqual(await roomFetch("body", backend.url("/hello"), { query: { method: "POST", body_bytes: String(64 * 1024 + 1) } }), {
      err: "too large",
    });
    assert.equal(backend.stats.requests, before);
    const sent = await roomFetch("body", backend.url("/hello"), { query: { method: "POST", body_bytes: String(64 * 1024) } });
    assert.equal(JSON.parse(sent.body).body.length, 64 * 1024);
  });

  test("fetch inside a coroutine of the script raises an error naming the script's line", T, async () => {
    const res = await httpFetch(node.httpUrl("fetch", "co", "", { in: "coroutine", url: backend.url("/hello") }));
    assert.equal(res.status, 500);
    assert.match(await res.text(), /fetch\.lua:36: fetch must be called from a handler, not inside a coroutine/);
  });
});

describe("slow and large answers", () => {
  test("a backend that never answers times out in its room while another room is served meanwhile", T, async () => {
    const watcher = await connect(node.wsUrl("fetch", "stuck", { session: "good" }));
    const started = Date.now();
    let stuckDone = false;
    const stuck = roomFetch("stuck", backend.url("/never"), { query: { timeout_ms: "8000" } }).then((r) => {
      stuckDone = true;
      return r;
    });
    // Wait until the backend holds the call, then another room answers and the stuck room still
    // delivers its log to its connection.
    for (let i = 0; i < 400 && !backend.stats.byPath["/never"]; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(backend.stats.byPath["/never"], 1);
    const other = await roomFetch("served", backend.url("/hello"));
    assert.equal(other.status, 200);
    const write = await node.broadcast("fetch", "stuck", "while waiting");
    assert.equal(write.status, 200, write.body);
    assert.equal((await watcher.waitFor((m) => m.text === "while waiting", 10000)).text, "while waiting");
    assert.equal(stuckDone, false, "the stuck room answered before the others were served");
    assert.deepEqual(await stuck, { err: "timeout" });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 7900, `timed out after ${elapsed} ms, before its 8000 ms`);
    await watcher.close();
  });

  test("200 rooms fetching a backend that answers 300 ms late finish in about one round trip, not 200", T, async () => {
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => roomFetch(`many-${i}`, backend.url("/delay"), { timeoutMs: 60000 })),
    );
    const elapsed = Date.now() - started;
    for (const result of results) assert.deepEqual([result.status, result.body], [200, "late"]);
    assert.ok(elapsed < 20000, `200 fetches took ${elapsed} ms; one after another they take 60000`);
    assert.ok(backend.stats.peak > 1, `the backend never had two calls at once (peak ${backend.stats.peak})`);
  });

  test("an answer dripped a byte at a time is cut at the call's timeout", T, async () => {
    const started = Date.now();
    assert.deepEqual(await roomFetch("drip", backend.url("/drip"), { query: { timeout_ms: "1500" } }), { err: "timeout" });
    assert.ok(Date.now() - started >= 1400);
  });

  test("a 10 MiB answer is cut at max_response_bytes (1 MiB): too large, with or without Content-Length", T, async () => {
    assert.deepEqual(await roomFetch("big", backend.url("/big")), { err: "too large" });
    assert.deepEqual(await roomFetch("big", backend.url("/big-chunked")), { err: "too large" });
    const exact = await roomFetch("big", backend.url("/exact"));
    assert.equal(exact.status, 200);
    assert.equal(exact.bytes, MiB);
  });
});

describe("handlers that wait for a backend", () => {
  test("onBeforeConnect checks the session with the backend; onMessage fetches too", T, async () => {
    await assert.rejects(connect(node.wsUrl("fetch", "gate", { session: "bad" })), (err) => err.statusCode === 401 && err.body === "no session");
    const client = await connect(node.wsUrl("fetch", "gate", { session: "good" }));
    client.send(`fetch ${backend.url("/hello")}`);
    client.send(`fetch ${unlisted.url("/")}`);
    const texts = (await client.waitFor(2, 15000)).map((m) => m.text);
    assert.deepEqual(texts, ["200", `not allowed: host ${HOST}`]);
    await client.close();
  });
});

describe("metrics", () => {
  test("partyline_fetch_total by status, partyline_fetch_seconds and partyline_fetch_in_flight", T, async () => {
    await roomFetch("metrics", backend.url("/hello"));
    await roomFetch("metrics", unlisted.url("/"));
    const text = await (await httpFetch(`${node.url}/metrics`)).text();
    const value = (name) => {
      const line = text.split("\n").find((l) => l.startsWith(`${name} `));
      assert.ok(line, `${name} in /metrics`);
      return Number(line.split(" ")[1]);
    };
    assert.ok(value('partyline_fetch_total{status="ok"}') >= 2);
    assert.ok(value('partyline_fetch_total{status="not_allowed"}') >= 1);
    // The stuck room and the slow drip above timed out; the two 10 MiB answers were cut.
    assert.ok(value('partyline_fetch_total{status="timeout"}') >= 2);
    assert.ok(value('partyline_fetch_total{status="too_large"}') >= 2);
    assert.ok(value('partyline_fetch_total{status="bad_request"}') >= 1);
    assert.ok(value("partyline_fetch_seconds_count") >= 2);
    assert.equal(value("partyline_fetch_in_flight"), 0);
    assert.match(text, /# TYPE partyline_fetch_seconds histogram/);
  });
});
