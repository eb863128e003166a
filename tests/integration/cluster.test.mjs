// The deployment of docker-compose.yml as plain processes on loopback: a
// three-server NATS cluster with JetStream, three partyline nodes pointed at
// all three servers with nats.replicas 3, and HAProxy in front running
// deploy/haproxy.cfg (addresses swapped for loopback ports). One room works
// through the proxy: clients spread over the nodes by round robin all receive
// every write, WebSocket and HTTP alike, in one order.
//
// Needs haproxy (scripts/install-deps.sh installs it). Without it the tests
// are skipped, except under CI, where they fail.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import {
  HAPROXY_CONFIG,
  PARTYLINE_BIN,
  SOURCE_DIR,
  connect,
  findHaproxy,
  httpFetch,
  makeSelfSignedCert,
  startHaproxy,
  startNatsCluster,
  startNode,
  tempDir,
  until,
} from "./harness.mjs";

const T = { timeout: 90000 };
const UNDER_CI = Boolean(process.env.CI) && !["0", "false"].includes(process.env.CI.toLowerCase());
const HAPROXY = findHaproxy();
const SKIP = !HAPROXY && !UNDER_CI ? "haproxy is not installed (scripts/install-deps.sh installs it); skipping the cluster topology" : null;

// Writes per source in the ordering test.
const PER_SOURCE = 20;

let cluster;
let nodes = [];
let proxy;

// The payload of a frame: partyline.v1 clients get {"seq","data"} for writes.
function unwrap(client, message) {
  if (client.protocol === "partyline.v1") {
    try {
      const value = JSON.parse(message.text);
      if (value && typeof value === "object" && "seq" in value) return value;
    } catch {}
  }
  return { data: message.text };
}

function welcomeOf(client) {
  for (const message of client.messages) {
    const { data } = unwrap(client, message);
    try {
      const value = JSON.parse(data);
      if (value?.type === "welcome") return value;
    } catch {}
  }
  return undefined;
}

// Opens `count` clients through the proxy, each as its own TCP connection so
// round robin sends them to the nodes in turn; resolves once each was welcomed
// by the node that serves it (client.node).
async function joinThroughProxy(room, count, { protocols = () => undefined } = {}) {
  const clients = [];
  for (let i = 0; i < count; i++) {
    const client = await connect(proxy.wsUrl("where", room, { _pk: `${room}-${i}` }), { protocols: protocols(i) });
    client.name = `${room}-${i}`;
    await client.waitFor(() => welcomeOf(client), 10000);
    client.node = welcomeOf(client).node;
    clients.push(client);
  }
  return clients;
}

async function postThroughProxy(room, body) {
  const res = await httpFetch(`${proxy.url}/v1/parties/where/${encodeURIComponent(room)}/broadcast`, { method: "POST", body }, 15000);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, body: text, json };
}

// The PARTYLINE stream as one server of the cluster reports it in /jsz, or undefined.
async function streamOn(server) {
  const jsz = await server.monitor("/jsz?streams=true&config=true");
  return (jsz.json?.account_details || []).flatMap((a) => a.stream_detail || []).find((s) => s.name === "PARTYLINE");
}

const writes = (client, prefix) =>
  client.messages.map((m) => unwrap(client, m)).filter((w) => typeof w.data === "string" && w.data.startsWith(prefix));

describe("cluster: 3 NATS servers (JetStream R3), 3 nodes, HAProxy", () => {
  before(async () => {
    if (SKIP) return;
    if (!HAPROXY) throw new Error("haproxy is not installed, and CI is set: run scripts/install-deps.sh");
    cluster = await startNatsCluster({ size: 3 });
    const startClusterNode = (i) =>
      startNode({
        nodeId: `node-${i}`,
        parties: { where: "where.lua" },
        config: { nats: { url: cluster.url, replicas: 3 } },
        readyTimeoutMs: 30000,
      });
    // node-1 creates the replicated stream; the others start once it has a
    // leader. (Started together on a fresh cluster, a node can ask for the
    // stream's info while its three replicas still elect a leader, get no
    // answer, and stop; docker-compose.yml restarts it.)
    const first = await startClusterNode(1);
    await until(async () => (await Promise.all(cluster.servers.map(streamOn))).every((s) => s?.cluster?.leader), {
      timeoutMs: 15000,
      intervalMs: 200,
      what: "the PARTYLINE stream to have a leader known to every NATS server",
    });
    nodes = [first, ...(await Promise.all([2, 3].map(startClusterNode)))];
    proxy = await startHaproxy({ backends: nodes.map((node, i) => ({ name: `node-${i + 1}`, port: node.port })) });
    await proxy.waitServersUp(20000);
  });

  after(async () => {
    await Promise.allSettled(nodes.map((node) => node.stop()));
    await proxy?.stop();
    await cluster?.stop();
  });

  test("the deployment's files are valid for the tools that read them", T, (t) => {
    if (SKIP) return t.skip(SKIP);
    const run = (cmd, args, env = {}) => spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, ...env }, timeout: 15000 });
    // Host names of the compose network do not resolve here: warnings, not errors. The
    // certificate the compose file mounts is the operator's: a test one stands in for it.
    const dir = tempDir("haproxy-check");
    const { pemFile } = makeSelfSignedCert(dir);
    const checked = path.join(dir, "haproxy.cfg");
    fs.writeFileSync(checked, fs.readFileSync(HAPROXY_CONFIG, "utf8").replace(/\bcrt\s+\S+/g, `crt ${pemFile}`));
    const haproxy = run(HAPROXY, ["-c", "-f", checked]);
    assert.equal(haproxy.status, 0, `haproxy -c ${HAPROXY_CONFIG} (certificate ${pemFile}):\n${haproxy.stdout}${haproxy.stderr}`);
    // Prometheus scrapes with the API key from a secret's file: a test file stands in for it.
    const keyFile = path.join(dir, "partyline_api_key");
    fs.writeFileSync(keyFile, "test-key\n");
    const promConfig = path.join(SOURCE_DIR, "deploy", "prometheus.yml");
    const promChecked = path.join(dir, "prometheus.yml");
    fs.writeFileSync(promChecked, fs.readFileSync(promConfig, "utf8").replace(/credentials_file: \S+/, `credentials_file: ${keyFile}`));
    const prom = run("promtool", ["check", "config", promChecked]);
    assert.equal(prom.status, 0, `promtool check config ${promConfig}:\n${prom.stdout}${prom.stderr}`);
    const natsConf = path.join(SOURCE_DIR, "deploy", "nats", "nats.conf");
    const nats = run(cluster.servers[0].bin, ["-t", "-c", natsConf], { NATS_SERVER_NAME: "nats-1" });
    assert.equal(nats.status, 0, `nats-server -t -c ${natsConf}:\n${nats.stdout}${nats.stderr}`);
    const clusterYaml = path.join(SOURCE_DIR, "config", "cluster.yaml");
    // Its script path is relative to config/, where examples links to the examples, as
    // /etc/partyline/examples does in the image; the working directory does not matter.
    const check = spawnSync(PARTYLINE_BIN, ["check-config", clusterYaml], {
      encoding: "utf8", cwd: dir, env: { ...process.env, PARTYLINE_API_KEY: "test-key" }, timeout: 15000,
    });
    assert.equal(check.status, 0, `partyline check-config ${clusterYaml}:\n${check.stdout}${check.stderr}`);
  });

  test("a node's /metrics passes promtool check metrics", T, async (t) => {
    if (SKIP) return t.skip(SKIP);
    const res = await httpFetch(`${nodes[0].url}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^# TYPE partyline_/m);
    const lint = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", timeout: 15000 });
    assert.equal(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);
  });

  test("the proxy answers /readyz, and the stream is replicated on all three servers", T, async (t) => {
    if (SKIP) return t.skip(SKIP);
    const ready = await httpFetch(`${proxy.url}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    assert.deepEqual(await proxy.serverStates(), { "node-1": "UP", "node-2": "UP", "node-3": "UP" });

    // Each server holds a replica, so each lists the stream in its own /jsz.
    const leaders = new Set();
    for (const server of cluster.servers) {
      const stream = await streamOn(server);
      assert.ok(stream, `no PARTYLINE stream in ${server.name}'s /jsz`);
      assert.equal(stream.config.num_replicas, 3, `${server.name}: replicas`);
      leaders.add(stream.cluster?.leader);
    }
    assert.equal(leaders.size, 1, `the servers disagree on the stream's leader: ${[...leaders]}`);
  });

  test("one room through the proxy: clients on different nodes get every write, in one order", T, async (t) => {
    if (SKIP) return t.skip(SKIP);
    const room = "lobby";
    // Six connections, round robin over three nodes; the last one speaks
    // partyline.v1 and so sees each write's sequence.
    const clients = await joinThroughProxy(room, 6, { protocols: (i) => (i === 5 ? ["partyline.v1"] : undefined) });
    const served = new Set(clients.map((c) => c.node));
    assert.ok(served.size >= 2, `every client was served by ${[...served]}: the proxy did not spread them`);
    assert.equal(clients[5].protocol, "partyline.v1", "the subprotocol did not pass through the proxy");

    // The room's log is at the same place on every node once the first write
    // comes back to everyone: wait for it before the interleaved writes.
    await clients[0].send("msg sync");
    await Promise.all(clients.map((c) => c.waitFor(() => writes(c, "msg sync").length, 15000)));

    const sender = clients[0];
    const otherSender = clients.find((c) => c.node !== sender.node);
    const sends = [];
    const posts = [];
    for (let i = 0; i < PER_SOURCE; i++) {
      sends.push(sender.send(`msg ws-a-${i}`).then(() => null, (err) => err));
      sends.push(otherSender.send(`msg ws-b-${i}`).then(() => null, (err) => err));
      posts.push(postThroughProxy(room, `msg http-${i}`).then(
        (r) => ({ i, ...r }),
        (err) => ({ i, status: "no answer", body: err.message }),
      ));
    }
    assert.deepEqual((await Promise.all(sends)).filter(Boolean).map(String), [], "WebSocket sends failed");
    const answers = await Promise.all(posts);
    for (const answer of answers) {
      assert.equal(answer.status, 200, `POST ${answer.i} through the proxy: ${answer.status} ${answer.body}`);
      assert.ok(Number.isInteger(answer.json?.seq), `POST ${answer.i}: ${answer.body}`);
    }

    const total = 1 + 3 * PER_SOURCE;
    await Promise.all(
      clients.map((client) =>
        client.waitFor(() => writes(client, "msg ").length >= total, 20000).catch((err) => {
          throw new Error(`${client.name} (on ${client.node}) has ${writes(client, "msg ").length} of ${total}: ${err.message}`);
        }),
      ),
    );

    const reference = writes(clients[0], "msg ").map((w) => w.data);
    assert.equal(reference.length, total, `${clients[0].name} received more than ${total} writes`);
    assert.equal(new Set(reference).size, total, `${clients[0].name} received duplicates`);
    for (const client of clients) {
      const order = writes(client, "msg ").map((w) => w.data);
      assert.deepEqual(order, reference, `${client.name} (on ${client.node}) saw another order than ${clients[0].name} (on ${clients[0].node})`);
    }
    // Each connection's messages keep the order they were sent in.
    for (const tag of ["a", "b"]) {
      const mine = reference.filter((d) => d.startsWith(`msg ws-${tag}-`));
      assert.deepEqual(mine, Array.from({ length: PER_SOURCE }, (_, i) => `msg ws-${tag}-${i}`));
    }
    // The partyline.v1 client's sequences increase, and a POST's answer is
    // the sequence its write carries.
    const framed = writes(clients[5], "msg ");
    for (let k = 1; k < framed.length; k++) assert.ok(framed[k].seq > framed[k - 1].seq, `seq not increasing at ${k}`);
    const seqOf = new Map(framed.map((w) => [w.data, w.seq]));
    for (const answer of answers) assert.equal(seqOf.get(`msg http-${answer.i}`), answer.json.seq, `seq of POST ${answer.i}`);

    await Promise.all(clients.map((c) => c.close()));
  });

  test("a node that stops is taken out by the /readyz check; the room carries on on the others", T, async (t) => {
    if (SKIP) return t.skip(SKIP);
    const room = "after-a-node-left";
    await nodes[2].stop();
    await until(async () => (await proxy.serverStates())["node-3"] === "DOWN", {
      timeoutMs: 15000,
      intervalMs: 200,
      what: "HAProxy to mark node-3 DOWN",
    });
    const clients = await joinThroughProxy(room, 4);
    assert.deepEqual([...new Set(clients.map((c) => c.node))].sort(), ["node-1", "node-2"]);
    const res = await postThroughProxy(room, "msg still here");
    assert.equal(res.status, 200, res.body);
    await Promise.all(clients.map((c) => c.waitFor((m) => m.text === "msg still here", 10000)));
    await Promise.all(clients.map((c) => c.close()));
  });
});
