// Two partyline processes on one real nats-server, one room with clients on
// both: every write reaches every client on both nodes, and every client sees
// the same order (the log's).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { connect, startNats, startNode } from "./harness.mjs";

const T = { timeout: 60000 };
// Messages per source; raise it (PARTYLINE_TEST_MESSAGES=1000) to stress the ordering.
const PER_SOURCE = Number(process.env.PARTYLINE_TEST_MESSAGES) || 50;

let nats;
let nodeA;
let nodeB;

// The payload of a received frame: partyline.v1 clients get {"seq","data"}.
function unwrap(client, message) {
  if (client.protocol !== "partyline.v1") return { data: message.text };
  try {
    const value = JSON.parse(message.text);
    if (value && typeof value === "object" && "seq" in value) return value;
  } catch {}
  return { data: message.text };
}

const payloads = (client, prefix) =>
  client.messages.map((m) => unwrap(client, m)).filter((w) => typeof w.data === "string" && w.data.startsWith(prefix));

// Two plain clients and one partyline.v1 client on each node, all in `room`,
// each proven joined (its shard ran onMessage for it).
async function joinBothNodes(room) {
  const clients = [];
  for (const [name, node] of [["a", nodeA], ["b", nodeB]]) {
    for (const [i, protocols] of [[0, undefined], [1, undefined], [2, ["partyline.v1"]]]) {
      const id = `node-${name}-${i}`;
      const client = await connect(node.wsUrl("echo", room, { _pk: id }), { protocols });
      client.name = id;
      await client.send("whoami");
      await client.waitFor((m) => m.text.includes(id)); // partyline.v1 may wrap the answer
      clients.push(client);
    }
  }
  assert.equal(clients[2].protocol, "partyline.v1");
  assert.equal(clients[5].protocol, "partyline.v1");
  return clients;
}

describe("two nodes, one room", () => {
  before(async () => {
    nats = await startNats();
    const options = { natsUrl: nats.url, parties: { echo: "echo.lua" } };
    [nodeA, nodeB] = await Promise.all([startNode({ ...options, nodeId: "a" }), startNode({ ...options, nodeId: "b" })]);
  });

  after(async () => {
    await Promise.all([nodeA?.stop(), nodeB?.stop()]);
    await nats?.stop();
  });

  test("a write on either node reaches every client on both", T, async () => {
    const clients = await joinBothNodes("hello-both");
    await clients[0].send("sync: from a");
    const res = await nodeB.broadcast("echo", "hello-both", "sync: from b");
    assert.equal(res.status, 200, res.body);
    for (const client of clients) {
      await client.waitFor((m) => unwrap(client, m).data === "sync: from a", 10000);
      await client.waitFor((m) => unwrap(client, m).data === "sync: from b", 10000);
    }
    await Promise.all(clients.map((c) => c.close()));
  });

  test(`${PER_SOURCE} WebSocket messages on node A and ${PER_SOURCE} POSTs on node B, interleaved: all reach all, in one order`, T, async () => {
    const room = "interleaved";
    const clients = await joinBothNodes(room);
    const sender = clients[0];

    const posts = [];
    const sends = [];
    for (let i = 0; i < PER_SOURCE; i++) {
      sends.push(sender.send(`msg ws-${i}`).then(() => null, (err) => err));
      // Settled at once, so a failed POST is reported by the assertion below,
      // not as an unhandled rejection while the loop still runs.
      posts.push(
        nodeB.broadcast("echo", room, `msg http-${i}`, 15000).then(
          (r) => ({ i, ...r }),
          (err) => ({ i, status: "no answer", body: err.message }),
        ),
      );
      if (i % 5 === 4) await new Promise((resolve) => setImmediate(resolve));
    }
    assert.deepEqual((await Promise.all(sends)).filter(Boolean).map(String), [], "WebSocket sends failed");
    const answers = await Promise.all(posts);
    for (const answer of answers) {
      assert.equal(answer.status, 200, `POST ${answer.i}: ${answer.status} ${answer.body}`);
      assert.ok(Number.isInteger(answer.json?.seq), `POST ${answer.i}: ${answer.body}`);
    }
    assert.equal(new Set(answers.map((a) => a.json.seq)).size, PER_SOURCE, "two POSTs got the same seq");

    const total = 2 * PER_SOURCE;
    await Promise.all(
      clients.map((client) =>
        client.waitFor(() => payloads(client, "msg ").length >= total, 20000).catch((err) => {
          throw new Error(`${client.name} has ${payloads(client, "msg ").length} of ${total}: ${err.message}`);
        }),
      ),
    );

    const reference = payloads(clients[0], "msg ").map((w) => w.data);
    assert.equal(reference.length, total, `${clients[0].name} received duplicates`);
    assert.equal(new Set(reference).size, total, `${clients[0].name} received duplicates`);
    for (const client of clients) {
      const order = payloads(client, "msg ").map((w) => w.data);
      assert.deepEqual(order, reference, `${client.name} saw a different order than ${clients[0].name}`);
    }

    // One connection's messages keep the order they were sent in.
    const fromWs = reference.filter((d) => d.startsWith("msg ws-"));
    assert.deepEqual(fromWs, Array.from({ length: PER_SOURCE }, (_, i) => `msg ws-${i}`));

    // partyline.v1 clients on both nodes see the same, increasing seqs, and a
    // POST's answer is the seq its write carries.
    const seqOfPost = new Map(answers.map((a) => [`msg http-${a.i}`, a.json.seq]));
    const framed = [clients[2], clients[5]].map((client) => payloads(client, "msg "));
    assert.deepEqual(framed[0], framed[1], "the two partyline.v1 clients disagree on seqs");
    for (let k = 1; k < framed[0].length; k++) {
      const around = framed[0].slice(Math.max(0, k - 3), k + 3).map((w) => `${w.seq}:${w.data}`);
      assert.ok(framed[0][k].seq > framed[0][k - 1].seq, `seq not increasing at ${k}: ${around.join(", ")}`);
    }
    for (const write of framed[0]) {
      if (seqOfPost.has(write.data)) assert.equal(write.seq, seqOfPost.get(write.data), `seq of ${write.data}`);
    }

    await Promise.all(clients.map((c) => c.close()));
  });

  test("a POST on a node with no connection to the room reaches the room's clients on the other node", T, async () => {
    const client = await connect(nodeA.wsUrl("echo", "only-on-a"));
    await client.send("whoami");
    await client.waitFor((m) => m.text.includes('"whoami"'));
    const res = await nodeB.broadcast("echo", "only-on-a", "from b");
    assert.equal(res.status, 200, res.body);
    await client.waitFor((m) => m.text === "from b", 10000);
    await client.close();
  });
});
