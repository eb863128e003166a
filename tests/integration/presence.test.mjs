// Presence across three partyline nodes on one nats-server (scripts/presence.lua): 300
// connections join and leave over the three nodes, and every node's view converges to the
// truth, read three ways: GET /v1/parties/:party/:room/presence, room:presence() and the view
// the script's onPresence calls built (both over the room's onRequest). conn.presence set on one
// node is seen on the others; a value over 1 KiB or that JSON cannot hold is refused; a node
// without a shard of the room answers with the others' connections; the endpoint needs the
// control key; a node killed with SIGKILL drops out within its expiry.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { connect, fetchJson, startNats, startNode, until } from "./harness.mjs";

const T = { timeout: 180000 };
const PARTY = "pres";
const ROOM = "hall";
const KEY = "pl-presence-test-key-5d7f9b1c3e5a7c9e";
const AUTH = { Authorization: `Bearer ${KEY}` };
// A node unheard for this long is forgotten (Presence::kRemoteExpiry), checked about once a second.
const EXPIRY_MS = 15000;

let nats;
let nodes = [];

// Polls `check` (which returns null when converged, else what is still wrong) at most `tries`
// times, `pauseMs` apart.
async function converge(what, check, { tries = 100, pauseMs = 200 } = {}) {
  let wrong;
  for (let i = 0; i < tries; i++) {
    wrong = await check();
    if (wrong === null) return i;
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  assert.fail(`${what} did not converge after ${tries} tries: ${wrong}`);
}

// "node/id=info" lines, sorted, from any list of {id, node, info}.
function lines(entries) {
  return entries.map((e) => `${e.node}/${e.id}=${JSON.stringify(e.info ?? null)}`).sort();
}

async function controlView(node) {
  const res = await fetchJson(`${node.url}/v1/parties/${PARTY}/${ROOM}/presence`, { headers: AUTH }, 10000);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.room, `${PARTY}/${ROOM}`);
  return res.json.connections;
}

async function scriptView(node) {
  const res = await fetchJson(node.httpUrl(PARTY, ROOM), {}, 10000);
  assert.equal(res.status, 200, res.text);
  return res.json;
}

// Null when every live node's three views and count equal `truth` (a Map "node/id" -> info).
async function mismatch(truth, live) {
  const expected = [...truth].map(([k, info]) => `${k}=${JSON.stringify(info)}`).sort();
  for (const node of live) {
    const control = lines(await controlView(node));
    const script = await scriptView(node);
    const views = { "GET presence": control, "room:presence()": lines(script.presence), onPresence: lines(script.seen) };
    for (const [name, got] of Object.entries(views)) {
      if (got.join("\n") !== expected.join("\n"))
        return `${node.id} ${name}: ${got.length} entries, want ${expected.length}`;
    }
    if (script.count !== truth.size) return `${node.id} room:count() ${script.count}, want ${truth.size}`;
  }
  return null;
}

describe("presence on three nodes", () => {
  const clients = new Map(); // id -> {client, node}
  const truth = new Map(); // "node/id" -> info

  before(async () => {
    nats = await startNats();
    const options = { natsUrl: nats.url, parties: { [PARTY]: "presence.lua" }, config: { api: { keys: [KEY] } } };
    nodes = await Promise.all(["n1", "n2", "n3"].map((nodeId) => startNode({ ...options, nodeId })));
    nodes.forEach((node, i) => (node.id = `n${i + 1}`));
  });

  after(async () => {
    for (const { client } of clients.values()) client.terminate();
    await Promise.all(nodes.map((node) => (node.running ? node.stop() : null)));
    await nats?.stop();
  });

  test("300 connections join and leave over three nodes; every view converges", T, async () => {
    const BATCHES = 6;
    const PER_BATCH = 50;
    for (let batch = 0; batch < BATCHES; batch++) {
      const joining = [];
      for (let j = 0; j < PER_BATCH; j++) {
        const n = batch * PER_BATCH + j;
        const node = nodes[n % 3];
        const id = `c${n}`;
        joining.push(
          connect(node.wsUrl(PARTY, ROOM, { _pk: id, name: `user ${n}` })).then((client) => {
            clients.set(id, { client, node });
            truth.set(`${node.id}/${id}`, { name: `user ${n}` });
          }),
        );
      }
      await Promise.all(joining);
    }
    assert.equal(truth.size, 300);
    const joined = Date.now();
    await converge("300 joined", () => mismatch(truth, nodes));
    console.log(`every view of the 300 joins right ${Date.now() - joined} ms after the last join`);
    for (const node of nodes) {
      const { calls } = await scriptView(node);
      assert.ok(calls > 0 && calls < 300, `${node.id}: ${calls} onPresence calls for 300 joins (coalesced)`);
    }

    // Every other connection leaves.
    const leaving = [];
    for (let n = 0; n < 300; n += 2) {
      const id = `c${n}`;
      const { client, node } = clients.get(id);
      clients.delete(id);
      truth.delete(`${node.id}/${id}`);
      leaving.push(client.close());
    }
    await Promise.all(leaving);
    assert.equal(truth.size, 150);
    const left = Date.now();
    await converge("150 left", () => mismatch(truth, nodes));
    console.log(`every view of the 150 leaves right ${Date.now() - left} ms after the last close`);
  });

  test("conn.presence set on one node is seen on the others; bad values are refused", T, async () => {
    const { client, node } = clients.get("c1");
    await client.send("name Zed");
    await client.waitFor((m) => m.text === "done name Zed");
    truth.set(`${node.id}/c1`, { name: "Zed" });
    await converge("a changed info", () => mismatch(truth, nodes));

    for (const bad of ["big", "fn"]) {
      await client.send(bad);
      await client.waitFor((m) => m.text === `done ${bad}`);
    }
    for (const refusal of [
      /conn\.presence refused, the value before stays: conn\.presence is 2011 bytes as JSON, over the limit of 1024/,
      /conn\.presence refused, the value before stays: conn\.presence must be a value JSON can hold/,
    ]) {
      await until(() => refusal.test(node.logs()), { what: `${refusal} in the log` });
    }
    await converge("the value before the refusals", () => mismatch(truth, nodes), { tries: 10 });
  });

  test("a node without a shard of the room answers with the connections on the others", T, async () => {
    const solo = await connect(nodes[0].wsUrl(PARTY, "solo", { _pk: "only", name: "Solo" }));
    await solo.send("ping");
    await solo.waitFor((m) => m.text === "done ping");
    const expected = [`n1/only=${JSON.stringify({ name: "Solo" })}`];
    // n2 and n3 open a shard of the room for the request and gather the others' lists first.
    for (const node of [nodes[1], nodes[2]]) {
      await converge(`${node.id}'s first view of a room it had no shard of`, async () => {
        const res = await fetchJson(`${node.url}/v1/parties/${PARTY}/solo/presence`, { headers: AUTH }, 10000);
        assert.equal(res.status, 200, res.text);
        const got = lines(res.json.connections);
        return got.join() === expected.join() ? null : `${node.id}: ${got.join(" ")}`;
      }, { tries: 20 });
    }
    await solo.close();
  });

  test("GET .../presence needs the control key, GET, and a known party", T, async () => {
    const url = `${nodes[0].url}/v1/parties/${PARTY}/${ROOM}/presence`;
    for (const headers of [{}, { Authorization: "Bearer wrong-key" }]) {
      const res = await fetchJson(url, { headers });
      assert.equal(res.status, 401, res.text);
      assert.equal(res.json, undefined, "a refusal lists no one");
    }
    const post = await fetchJson(url, { method: "POST", headers: AUTH, body: "" });
    assert.equal(post.status, 405);
    const unknown = await fetchJson(`${nodes[0].url}/v1/parties/nobody/${ROOM}/presence`, { headers: AUTH });
    assert.equal(unknown.status, 404);
    assert.match(unknown.text, /no party named 'nobody'/);
  });

  test("a node killed with SIGKILL drops out of the others' views within its expiry", T, async () => {
    const [n1, n2, n3] = nodes;
    const killedAt = Date.now();
    await n3.kill();
    for (const [id, { client, node }] of clients) {
      if (node !== n3) continue;
      client.terminate();
      clients.delete(id);
      truth.delete(`${n3.id}/${id}`);
    }
    await converge("n3's connections gone", () => mismatch(truth, [n1, n2]), { tries: 60, pauseMs: 500 });
    const took = Date.now() - killedAt;
    // The expiry, one heartbeat (1 s) to notice it, the poll's own pause, and room for a busy
    // machine's late timers.
    assert.ok(took <= EXPIRY_MS + 5000, `n3 dropped out after ${took} ms`);
    console.log(`n3 dropped out of the views ${took} ms after SIGKILL (expiry ${EXPIRY_MS} ms)`);
  });
});
