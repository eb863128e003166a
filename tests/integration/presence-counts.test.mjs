// Presence counts only (a party with presence: count) on three partyline nodes and one
// nats-server: 300 connections join and leave over the nodes, and room:count() (over the room's
// onRequest) and GET /v1/parties/:party/:room/presence agree on the total on every node;
// room:presence() raises an error naming the setting; onPresence is never called, and the node
// warns at load that the script defines it; conn.presence is kept on the connection's node. A raw NATS client on the presence subjects weighs
// what the nodes announce for the same connections with presence: count and with lists. A
// least-connections router whose target party announces counts still spreads connections evenly.

import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";

import { connect, fetchJson, scriptPath, startNats, startNode } from "./harness.mjs";

const T = { timeout: 180000 };
const COUNTS = "tally";
const LISTS = "roster";
const ROOM = "stadium";
const KEY = "pl-presence-counts-key-3a8e1f6b2c9d4e7a";
const AUTH = { Authorization: `Bearer ${KEY}` };

let nats;
let nodes = [];
const clients = [];

// Polls `check` (null when converged, else what is still wrong) at most `tries` times.
async function converge(what, check, { tries = 100, pauseMs = 200 } = {}) {
  let wrong;
  for (let i = 0; i < tries; i++) {
    wrong = await check();
    if (wrong === null) return;
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  assert.fail(`${what} did not converge after ${tries} tries: ${wrong}`);
}

async function controlCounts(node) {
  const res = await fetchJson(`${node.url}/v1/parties/${COUNTS}/${ROOM}/presence`, { headers: AUTH }, 10000);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.room, `${COUNTS}/${ROOM}`);
  assert.equal(res.json.connections, undefined, "a count party lists no connection");
  return res.json;
}

async function scriptView(node) {
  const res = await fetchJson(node.httpUrl(COUNTS, ROOM), {}, 10000);
  assert.equal(res.status, 200, res.text);
  return res.json;
}

// Null when every node's room:count() and GET presence count `total` (and its nodes add up).
async function mismatch(total, perNode) {
  for (const node of nodes) {
    const script = await scriptView(node);
    if (script.count !== total) return `${node.id} room:count() ${script.count}, want ${total}`;
    const control = await controlCounts(node);
    if (control.count !== total) return `${node.id} GET presence count ${control.count}, want ${total}`;
    const byNode = Object.fromEntries(control.nodes.map((n) => [n.node, n.count]));
    for (const [id, want] of Object.entries(perNode))
      if ((byNode[id] ?? 0) !== want) return `${node.id} sees ${byNode[id] ?? 0} on ${id}, want ${want}`;
  }
  return null;
}

// A raw NATS client subscribed to `subject`: every message's subject and payload, in order.
function natsWatch(port, subject) {
  const messages = [];
  const socket = net.connect({ host: "127.0.0.1", port });
  let buffer = Buffer.alloc(0);
  let subscribed;
  const ready = new Promise((resolve) => (subscribed = resolve));
  socket.on("data", (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const lineEnd = buffer.indexOf("\r\n");
      if (lineEnd < 0) return;
      const line = buffer.subarray(0, lineEnd).toString("utf8");
      if (line.startsWith("MSG ")) {
        const fields = line.split(" ");
        const length = Number(fields.at(-1));
        if (buffer.length < lineEnd + 2 + length + 2) return;
        messages.push({ subject: fields[1], text: buffer.subarray(lineEnd + 2, lineEnd + 2 + length).toString("utf8") });
        buffer = buffer.subarray(lineEnd + 2 + length + 2);
        continue;
      }
      buffer = buffer.subarray(lineEnd + 2);
      if (line.startsWith("INFO ")) socket.write(`CONNECT {"verbose":false}\r\nSUB ${subject} 1\r\nPING\r\n`);
      else if (line === "PING") socket.write("PONG\r\n");
      else if (line === "PONG") subscribed();
    }
  });
  return {
    messages,
    ready,
    publish(to, text) {
      socket.write(`PUB ${to} ${Buffer.byteLength(text)}\r\n${text}\r\n`);
    },
    close: () => socket.destroy(),
  };
}

describe("presence counts only on three nodes", () => {
  before(async () => {
    nats = await startNats();
    const parties = {
      [COUNTS]: { script: scriptPath("presence-counts.lua"), presence: "count" },
      [LISTS]: { script: scriptPath("presence.lua") },
      // A router party has no script, so the parties go in as configuration as they are.
      spread: { router: { target: COUNTS, shards: 3, strategy: "least-connections" } },
    };
    const options = { natsUrl: nats.url, config: { parties, api: { keys: [KEY] } } };
    nodes = await Promise.all(["n1", "n2", "n3"].map((nodeId) => startNode({ ...options, nodeId })));
    nodes.forEach((node, i) => (node.id = `n${i + 1}`));
  });

  after(async () => {
    for (const client of clients) client.terminate();
    await Promise.all(nodes.map((node) => (node.running ? node.stop() : null)));
    await nats?.stop();
  });

  test("300 connections join and 150 leave; room:count() and GET presence agree on every node", T, async () => {
    const mine = [];
    for (let batch = 0; batch < 6; batch++) {
      const joining = [];
      for (let j = 0; j < 50; j++) {
        const n = batch * 50 + j;
        joining.push(connect(nodes[n % 3].wsUrl(COUNTS, ROOM, { _pk: `c${n}`, name: `user ${n}` })));
      }
      mine.push(...(await Promise.all(joining)));
    }
    clients.push(...mine);
    await converge("300 joined", () => mismatch(300, { n1: 100, n2: 100, n3: 100 }));
    // conn.presence is kept on each connection's own node.
    for (const node of nodes) assert.equal((await scriptView(node)).named, 100, `${node.id}: conn.presence kept`);
    // Every other connection leaves: 50 of each node's 100.
    await Promise.all(mine.filter((_, n) => n % 2 === 0).map((client) => client.close()));
    await converge("150 left", () => mismatch(150, { n1: 50, n2: 50, n3: 50 }));
    for (const node of nodes) assert.equal((await scriptView(node)).calls, 0, `${node.id}: onPresence was called`);
  });

  test("room:presence() raises an error naming presence: count; the node warned about onPresence", T, async () => {
    for (const node of nodes) {
      const view = await scriptView(node);
      assert.equal(view.presenceOk, false);
      assert.match(view.presence, /presence-counts\.lua:\d+: room:presence: party 'tally' announces presence counts only \(presence: count\)/);
      assert.match(node.logs(), /onPresence is never called/);
      assert.match(node.logs(), /presence-counts\.lua/);
    }
  });

  test("for the same connections, presence: count publishes at least 10x fewer bytes than lists", T, async () => {
    // 60 more connections on the count party's room and 210 on the list party's room: 70 a node
    // on each, with the same names.
    const joins = [];
    for (let n = 0; n < 60; n++) joins.push([COUNTS, n]);
    for (let n = 0; n < 210; n++) joins.push([LISTS, n]);
    for (let i = 0; i < joins.length; i += 30) {
      const batch = joins.slice(i, i + 30).map(([party, n]) =>
        connect(nodes[n % 3].wsUrl(party, ROOM, { _pk: `w${n}`, name: `watcher ${n}` })),
      );
      clients.push(...(await Promise.all(batch)));
    }
    await converge("the count room", () => mismatch(150 + 60, { n1: 70, n2: 70, n3: 70 }));

    // Every node answers an ask with its whole announcement: weigh the first whole one of each node.
    const watch = natsWatch(nats.port, "partyline.presence.>");
    await watch.ready;
    const subjectOf = (party) => `partyline.presence.${party}.${ROOM}`;
    const sizes = { [COUNTS]: new Map(), [LISTS]: new Map() };
    const weigh = () => {
      const partial = { [COUNTS]: new Map(), [LISTS]: new Map() };
      for (const party of [COUNTS, LISTS]) sizes[party].clear();
      for (const { subject, text } of watch.messages) {
        const party = subject === subjectOf(COUNTS) ? COUNTS : subject === subjectOf(LISTS) ? LISTS : null;
        const m = JSON.parse(text);
        if (!party || m.ask || sizes[party].has(m.node)) continue;
        if (m.tally) sizes[party].set(m.node, text.length);
        else if (m.full) {
          const sum = (m.part === 0 ? 0 : (partial[party].get(m.node) ?? 0)) + text.length;
          if (m.part + 1 === m.parts) sizes[party].set(m.node, sum);
          else partial[party].set(m.node, sum);
        }
      }
      return sizes[COUNTS].size === 3 && sizes[LISTS].size === 3 ? null : `heard ${sizes[COUNTS].size} and ${sizes[LISTS].size} of 3`;
    };
    for (const party of [COUNTS, LISTS]) watch.publish(subjectOf(party), JSON.stringify({ ask: "probe" }));
    await converge("every node announced on both subjects", async () => weigh());
    watch.close();
    const total = (party) => [...sizes[party].values()].reduce((a, b) => a + b, 0);
    const seenSubjects = new Set(watch.messages.map((m) => m.subject));
    assert.ok(seenSubjects.has(subjectOf(COUNTS)) && seenSubjects.has(subjectOf(LISTS)), [...seenSubjects].join(" "));
    console.log(`one announcement of every node: ${total(COUNTS)} bytes with counts, ${total(LISTS)} with lists`);
    assert.ok(total(COUNTS) * 10 <= total(LISTS), `counts ${total(COUNTS)} bytes, lists ${total(LISTS)}`);
    for (const size of sizes[COUNTS].values()) assert.ok(size < 200, `a count announcement of ${size} bytes`);
  });

  test("a least-connections router over a count party spreads 60 connections over its 3 shard rooms", T, async () => {
    const counts = new Map(); // shard room -> connections the test put there
    for (let i = 0; i < 60; i += 6) {
      const batch = [];
      for (let k = i; k < i + 6; k++) {
        batch.push(
          connect(nodes[k % 3].wsUrl("spread", "arena", { _pk: `s${k}` })).then(async (client) => {
            clients.push(client);
            const joined = await client.waitFor((m) => m.text.includes('"joined"'), 5000);
            return JSON.parse(joined.text).room;
          }),
        );
      }
      for (const room of await Promise.all(batch)) counts.set(room, (counts.get(room) ?? 0) + 1);
      // Every node counts each shard room as the test does before the next batch chooses.
      await converge("the shard rooms' counts", async () => {
        for (const node of nodes)
          for (const [room, want] of counts) {
            const res = await fetchJson(`${node.url}/v1/parties/${COUNTS}/${room}/presence`, { headers: AUTH }, 10000);
            if (res.json?.count !== want) return `${node.id} counts ${res.json?.count} in ${room}, want ${want}`;
          }
        return null;
      });
    }
    const values = [...counts.values()];
    console.log(`least-connections over a count party: ${JSON.stringify(Object.fromEntries([...counts].sort()))}`);
    assert.equal(counts.size, 3, "every shard room is used");
    assert.ok(Math.max(...values) - Math.min(...values) <= 6, `spread ${values.join(", ")}`);
  });
});
