// Operations: how a node starts and stops, and what it tells the people who
// run it: a taken listen address stops the node with a message naming it;
// /metrics is valid Prometheus text (promtool check metrics passes it) whose
// counters and histograms move with traffic, refusals by the access gate
// included; /readyz follows NATS going away and coming back; SIGTERM drains:
// the listener closes, clients get 1001, a request in flight finishes and is
// stored, and the process exits 0 within limits.drain_seconds.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import net from "node:net";
import { after, before, describe, test } from "node:test";

import {
  canConnect,
  connect,
  freePort,
  httpFetch,
  spawnPartyline,
  startNats,
  startNode,
  tempDir,
  until,
  withTimeout,
} from "./harness.mjs";

const T = { timeout: 60000 };

// Parses the Prometheus text format: {types: {name: type}, help: {name: text},
// samples: [{name, labels, value}]}. Throws on a line that is not valid.
export function parsePrometheus(text) {
  const types = {};
  const help = {};
  const samples = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    let match;
    if ((match = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line))) help[match[1]] = match[2];
    else if ((match = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line))) types[match[1]] = match[2];
    else if ((match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (-?[0-9.e+-]+|\+Inf|NaN)$/.exec(line))) {
      const labels = {};
      for (const pair of (match[2] || "").split(",").filter(Boolean)) {
        const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"$/.exec(pair);
        if (!m) throw new Error(`bad label in: ${line}`);
        labels[m[1]] = m[2];
      }
      samples.push({ name: match[1], labels, value: Number(match[3]) });
    } else throw new Error(`not Prometheus text: ${JSON.stringify(line)}`);
  }
  return { types, help, samples };
}

// /metrics, checked: every sample belongs to a metric with a TYPE and HELP, every histogram's
// buckets rise to +Inf, which equals its _count. Returns {value(name), histogram(name), text}.
async function scrape(node) {
  const res = await httpFetch(`${node.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const { types, help, samples } = parsePrometheus(text);
  const family = (name) => name.replace(/_(bucket|sum|count)$/, "");
  for (const sample of samples) {
    const base = types[sample.name] ? sample.name : family(sample.name);
    assert.ok(types[base], `${sample.name} has no TYPE`);
    assert.ok(help[base], `${sample.name} has no HELP`);
  }
  const histogram = (name) => {
    assert.equal(types[name], "histogram", `${name} is not a histogram`);
    const buckets = samples.filter((s) => s.name === `${name}_bucket`);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i].value >= buckets[i - 1].value, `${name} buckets fall`);
    const inf = buckets.find((b) => b.labels.le === "+Inf");
    const count = samples.find((s) => s.name === `${name}_count`).value;
    assert.equal(inf.value, count, `${name}: +Inf bucket and _count differ`);
    return { count, sum: samples.find((s) => s.name === `${name}_sum`).value, buckets };
  };
  const value = (name) => {
    const sample = samples.find((s) => s.name === name);
    assert.ok(sample, `no metric ${name}`);
    return sample.value;
  };
  return { value, histogram, types, text };
}

// Prometheus's own linter on a scrape: names, types, help, histogram and counter conventions.
function promtoolCheck(text) {
  const lint = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 15000 });
  assert.equal(lint.error, undefined, `promtool: ${lint.error}`);
  assert.equal(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);
}

describe("operations", () => {
  let nats;

  before(async () => {
    nats = await startNats();
  });

  after(async () => {
    await nats?.stop();
  });

  test("/metrics: connections, rooms, messages, deliveries, latency histograms, Lua errors and budget stops move with traffic", T, async () => {
    const node = await startNode({
      natsUrl: nats.url,
      nodeId: "metrics",
      parties: { faulty: "faulty.lua" },
      limits: { lua_instructions_per_call: 100000 },
    });
    try {
      const before = await scrape(node);
      for (const name of ["partyline_publish_seconds", "partyline_delivery_seconds"]) before.histogram(name);
      assert.equal(before.value("partyline_connections"), 0);

      const a = await connect(node.wsUrl("faulty", "m"));
      const b = await connect(node.wsUrl("faulty", "m"));
      await a.send("from a client");
      for (let i = 0; i < 3; i++) assert.equal((await node.broadcast("faulty", "m", `post ${i}`)).status, 200);
      await a.send("fail");
      await a.send("spin");
      await a.send("last");
      for (const client of [a, b]) await client.waitFor((m) => m.text === "last");
      // A web page may reach neither the control surface (no keys: loopback and no Origin) nor a
      // room when its origin is not listed.
      const page = { headers: { Origin: "https://page.example" } };
      assert.equal((await httpFetch(`${node.url}/metrics`, page)).status, 403);
      assert.equal((await httpFetch(node.httpUrl("faulty", "m"), page)).status, 403);

      const after = await scrape(node);
      const grew = (name) => after.value(name) - before.value(name);
      assert.equal(after.value("partyline_connections"), 2);
      assert.ok(after.value("partyline_rooms") >= 1);
      assert.ok(grew("partyline_messages_in_total") >= 4, "messages in");
      assert.ok(grew("partyline_messages_out_total") >= 10, "messages out");
      assert.ok(grew("partyline_deliveries_total") >= 10, "deliveries");
      assert.ok(grew("partyline_log_writes_in_total") >= 5, "writes from the log");
      assert.ok(grew("partyline_publishes_total") >= 2, "script publishes");
      assert.ok(grew("partyline_lua_errors_total") >= 2, "Lua errors");
      assert.ok(grew("partyline_lua_budget_stops_total") >= 1, "budget stops");
      assert.equal(after.value("partyline_slow_consumer_closes_total"), 0);
      assert.equal(grew("partyline_api_refused_total"), 1);
      assert.equal(grew("partyline_origin_refused_total"), 1);
      for (const name of ["partyline_api_refused_total", "partyline_origin_refused_total"]) assert.equal(after.types[name], "counter");
      promtoolCheck(before.text);
      promtoolCheck(after.text);
      const published = after.histogram("partyline_publish_seconds").count - before.histogram("partyline_publish_seconds").count;
      assert.ok(published >= 5, `publish latency observations: ${published}`);
      const delivered = after.histogram("partyline_delivery_seconds").count - before.histogram("partyline_delivery_seconds").count;
      assert.ok(delivered >= 5, `delivery latency observations: ${delivered}`);
      assert.ok(after.histogram("partyline_delivery_seconds").sum > 0);
      await until(async () => (await scrape(node)).value("partyline_log_lag_writes") === 0, { what: "no log lag once idle" });

      await a.close();
      await b.close();
      await until(async () => (await scrape(node)).value("partyline_connections") === 0, { what: "connections back to 0" });
    } finally {
      await node.stop();
    }
  });

  test("/readyz says 503 while nats-server is down and 200 once it is back; the publish in between is re-sent", T, async () => {
    const node = await startNode({ natsUrl: nats.url, nodeId: "ready", parties: { faulty: "faulty.lua" } });
    try {
      assert.equal((await httpFetch(`${node.url}/readyz`)).status, 200);
      const resendsBefore = (await scrape(node)).value("partyline_publish_resends_total");
      await nats.kill();
      const down = await until(
        async () => {
          const res = await httpFetch(`${node.url}/readyz`);
          return res.status === 503 && (await res.text());
        },
        { timeoutMs: 10000, what: "/readyz to say 503" },
      );
      assert.match(down, /not ready/);
      assert.equal((await httpFetch(`${node.url}/healthz`)).status, 200, "liveness does not follow NATS");
      // A broadcast made now waits for the log, and is re-sent until NATS is back.
      const pending = node.broadcast("faulty", "r", "during the outage", 20000);
      await until(async () => (await scrape(node)).value("partyline_publish_resends_total") > resendsBefore, {
        timeoutMs: 10000,
        what: "a publish re-sent",
      });
      await nats.restart();
      await until(async () => (await httpFetch(`${node.url}/readyz`)).status === 200, { timeoutMs: 20000, what: "/readyz back to 200" });
      const outcome = await pending;
      assert.ok(outcome.status === 200 || outcome.status === 503, `broadcast answered ${outcome.status}: ${outcome.body}`);
      if (outcome.status === 200) {
        // Re-sent with the same message id: stored once.
        const history = await (await httpFetch(`${node.url}/v1/parties/faulty/r/history?since=0`)).json();
        assert.equal(history.entries.filter((e) => e.data === "during the outage").length, 1, JSON.stringify(history));
      }
      assert.ok((await scrape(node)).value("partyline_nats_reconnects_total") >= 1);
    } finally {
      if (!nats.running) await nats.restart();
      await node.stop();
    }
  });

  test("SIGTERM drains: listener closed, clients closed 1001, the request in flight answered and stored, exit 0 in time", T, async () => {
    const DRAIN = 6;
    const node = await startNode({
      natsUrl: nats.url,
      nodeId: "drain",
      parties: { slow: "slow-request.lua" },
      limits: { drain_seconds: DRAIN, lua_instructions_per_call: 10000000000, lua_cpu_ms_per_call: 10000 },
    });
    const clients = [];
    for (let i = 0; i < 3; i++) {
      const client = await connect(node.wsUrl("slow", "d"));
      await client.waitFor((m) => m.text.includes('"joined"'));
      clients.push(client);
    }
    // A request whose handler is busy for about 2 s when the signal comes.
    const inFlight = httpFetch(node.httpUrl("slow", "d", "/work"), { method: "POST", body: "made before SIGTERM" }, 20000);
    await until(() => node.logs().includes("work started"), { what: "the request's handler to start" });
    const signalled = Date.now();
    node.signal("SIGTERM");

    // Clients are told to go elsewhere at once; new connections are refused while the request runs.
    for (const client of clients) {
      const { code, reason } = await client.waitClose(3000);
      assert.equal(code, 1001);
      assert.match(reason, /shutting down/);
    }
    await until(async () => !(await canConnect(node.port, 300)), { timeoutMs: 1500, what: "the listener to close" });
    assert.ok(node.running, "the node exited before its request finished");

    const answer = await inFlight;
    assert.equal(answer.status, 200, await answer.clone().text());
    const { seq } = await answer.json();
    assert.ok(seq > 0);
    const { code, signal } = await withTimeout(node.exited, (DRAIN + 2) * 1000, "the node to exit");
    const tookMs = Date.now() - signalled;
    assert.equal(signal, null);
    assert.equal(code, 0, node.tail(20));
    assert.ok(tookMs < DRAIN * 1000, `exit ${tookMs} ms after SIGTERM`);
    assert.match(node.logs(), /msg="draining: closing clients with 1001/);
    assert.match(node.logs(), /msg=drained ms=\d+/);

    // The write acknowledged during the drain is in the log: another node reads it.
    const reader = await startNode({ natsUrl: nats.url, nodeId: "reader", parties: { slow: "slow-request.lua" } });
    try {
      const history = await (await httpFetch(`${reader.url}/v1/parties/slow/d/history?since=${seq - 1}&limit=1`)).json();
      assert.deepEqual(history.entries.map((e) => [e.seq, e.data]), [[seq, "made before SIGTERM"]]);
    } finally {
      await reader.stop();
    }
  });

  test("a taken listen address stops the node with a non-zero status and a message naming the address", T, async () => {
    const port = await freePort();
    const squatter = net.createServer();
    await new Promise((resolve, reject) => {
      squatter.once("error", reject);
      squatter.listen(port, "127.0.0.1", resolve);
    });
    try {
      const address = `127.0.0.1:${port}`;
      const node = spawnPartyline(["serve", "--listen", address, "--nats-url", nats.url, "--data", tempDir("port")], {
        label: "port-taken",
      });
      const { code, signal } = await withTimeout(node.exited, 20000, "the node to exit on a taken port");
      assert.equal(signal, null, `killed by ${signal}:\n${node.tail(20)}`);
      assert.notEqual(code, 0, `exit status 0:\n${node.tail(20)}`);
      assert.match(node.logs(), new RegExp(`cannot listen on ${address.replace(/\./g, "\\.")}`), node.tail(20));
      assert.match(node.logs(), /in use/i, node.tail(20));
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });
});
