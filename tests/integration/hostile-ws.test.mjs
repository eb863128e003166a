// Hostile WebSocket clients and room scans against real nodes, with real
// nats-server, ws clients and HTTP, each refusal next to a well-behaved client
// on another loopback address (127.0.0.2) that is served throughout:
// - limits.max_pending_input_bytes: sockets holding unfinished fragmented
//   messages past the node's budget are closed 1013, newest first;
// - limits.message_timeout_ms: a message begun and not finished (one fragment
//   and silence, or fragments trickling) is closed 1008;
// - pings count against limits.max_messages_per_second: a ping flood is
//   closed 1008;
// - limits.max_new_rooms_per_ip_per_second and limits.max_rooms: requests and
//   joins that would open a room past them get 429 / 503 with Retry-After,
//   rooms that exist stay reachable.

import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";

import { connect, startNats, startNode, withTimeout } from "./harness.mjs";

const T = { timeout: 120000 };
const KiB = 1024;
const MiB = 1024 * KiB;
const OTHER = "127.0.0.2"; // the well-behaved client's address

let nats;
const nodes = [];

async function nodeWith(limits, nodeId) {
  const node = await startNode({ natsUrl: nats.url, nodeId, parties: { main: "echo.lua" }, limits });
  nodes.push(node);
  return node;
}

// GET over HTTP from `localAddress`: {status, headers, body}.
function getFrom(localAddress, url) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const request = http.get(url, { localAddress, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
      });
      request.on("error", reject);
    }),
    10000,
    `GET ${url} from ${localAddress}`,
  );
}

// An upgrade's outcome: the client, or the refusal's {statusCode, body, headers}.
async function tryJoin(url, options) {
  try {
    return { client: await connect(url, options) };
  } catch (err) {
    if (!err.statusCode) throw err;
    return { refused: err };
  }
}

// A well-behaved client from another address: joins, is echoed, leaves.
async function servedFrom(node, room, text) {
  const client = await connect(node.wsUrl("main", room), { localAddress: OTHER });
  await client.send(text);
  await client.waitFor((m) => m.text === text, 10000);
  await client.close();
}

// Sends a ping and resolves with "pong", or with the close once the node closed the socket.
function pingOrClose(client) {
  return withTimeout(
    new Promise((resolve) => {
      if (client.closeInfo) return resolve(client.closeInfo);
      const onPong = () => resolve("pong");
      client.ws.once("pong", onPong);
      client.closed.then((info) => {
        client.ws.off("pong", onPong);
        resolve(info);
      });
      client.ws.ping();
    }),
    15000,
    `a pong or a close on ${client.url}`,
  );
}

describe("hostile WebSocket clients", () => {
  before(async () => {
    nats = await startNats();
  });

  after(async () => {
    for (const node of nodes) await node.stop();
    await nats?.stop();
  });

  test("sockets holding unfinished fragmented messages past the node's budget are closed 1013, newest first", T, async () => {
    // Deadlines out of reach, so only the budget closes anything.
    const node = await nodeWith({ max_pending_input_bytes: "2MiB", message_timeout_ms: 600000 }, "budget");
    const part = Buffer.alloc(600 * KiB, 0x61); // held as 600 KiB to 1.2 MiB (buffer growth)
    const holders = [];
    for (let i = 0; i < 6; i++) {
      const client = await connect(node.wsUrl("main", "held"));
      holders.push(client);
      await client.send(part, { binary: true, fin: false });
      client.answer = await pingOrClose(client); // the part was read by then
    }
    // At most three parts fit in 2 MiB; the first came first, so it is never the newest.
    assert.equal(holders[0].answer, "pong", "the oldest holder was closed");
    const refused = holders.filter((c) => c.answer !== "pong");
    assert.ok(refused.length >= 3, `only ${refused.length} of 6 holders were closed`);
    for (const client of refused) {
      assert.equal(client.answer.code, 1013);
      assert.match(client.answer.reason, /limits\.max_pending_input_bytes/);
    }
    await servedFrom(node, "held", "served while others hold");

    // The oldest holder finishes its message and the room gets all of it.
    const first = holders[0];
    await first.send(Buffer.from("!"), { binary: true, fin: true });
    const whole = await first.waitFor((m) => m.binary, 10000);
    assert.equal(whole.data.length, part.length + 1);
    for (const client of holders) await client.close();
  });

  test("a message begun and not finished within limits.message_timeout_ms is closed 1008", T, async () => {
    const node = await nodeWith({ message_timeout_ms: 1000 }, "deadline");
    const silent = await connect(node.wsUrl("main", "slow"));
    await silent.send("the first part", { fin: false });
    const trickler = await connect(node.wsUrl("main", "slow"));
    await trickler.send("a", { fin: false });
    // Fragments keep coming (each a sign of life), never the last one.
    for (let i = 0; i < 100 && !trickler.closeInfo; i++) {
      await trickler.send("b", { fin: false }).catch(() => {});
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const client of [silent, trickler]) {
      const closed = await client.waitClose(15000);
      assert.equal(closed.code, 1008);
      assert.equal(closed.reason, "message not finished within limits.message_timeout_ms (1000 ms)");
      assert.equal(client.messages.length, 0);
    }
    // A fragmented message that ends at once is a message like any other.
    const prompt = await connect(node.wsUrl("main", "slow"), { localAddress: OTHER });
    await prompt.send("in ", { fin: false });
    await prompt.send("two", { fin: true });
    await prompt.waitFor((m) => m.text === "in two", 10000);
    await prompt.close();
    await servedFrom(node, "slow", "served after the slow ones");
  });

  test("pings count against limits.max_messages_per_second: a ping flood is closed 1008", T, async () => {
    const node = await nodeWith({ max_messages_per_second: 50, message_burst: 100 }, "pings");
    const flooder = await connect(node.wsUrl("main", "pings"));
    for (let i = 0; i < 5000 && !flooder.closeInfo; i++) flooder.ws.ping();
    const closed = await flooder.waitClose(15000);
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /message rate over limits\.max_messages_per_second \(50\/s\)/);

    const polite = await connect(node.wsUrl("main", "pings"), { localAddress: OTHER });
    for (let i = 0; i < 5; i++) assert.equal(await pingOrClose(polite), "pong");
    await polite.send("after five pings");
    await polite.waitFor((m) => m.text === "after five pings", 10000);
    await polite.close();
  });

  test("new rooms past an address's rate get 429 with Retry-After; rooms that exist and other addresses are served", T, async () => {
    const node = await nodeWith({ max_new_rooms_per_ip_per_second: 1, new_room_burst: 5 }, "room-rate");
    const room = (name) => node.httpUrl("main", name);
    let opened = 0;
    let refusal;
    for (let i = 0; i < 100 && !refusal; i++) {
      const answer = await getFrom("127.0.0.1", room(`scan-${i}`));
      if (answer.status === 429) refusal = answer;
      else opened++;
    }
    assert.ok(refusal, "100 new rooms from one address in a row were all opened");
    assert.ok(opened >= 5, `the burst of 5 was not let through (${opened})`);
    assert.equal(refusal.headers["retry-after"], "1");
    assert.match(refusal.body, /limits\.max_new_rooms_per_ip_per_second/);

    // The same address: WebSocket joins of new rooms are refused the same way (the upgrade's status).
    let joinRefusal;
    for (let i = 0; i < 100 && !joinRefusal; i++) {
      const join = await tryJoin(node.wsUrl("main", `scan-ws-${i}`));
      if (join.refused) joinRefusal = join.refused;
      else await join.client.close();
    }
    assert.ok(joinRefusal, "100 joins of new rooms from one address in a row were all admitted");
    assert.equal(joinRefusal.statusCode, 429);
    assert.equal(joinRefusal.headers["retry-after"], "1");
    // Rooms that exist are not new: the same address reaches them.
    const existing = await getFrom("127.0.0.1", room("scan-0"));
    assert.notEqual(existing.status, 429);
    const member = await connect(node.wsUrl("main", "scan-0"));
    await member.send("existing rooms stay reachable");
    await member.waitFor((m) => m.text === "existing rooms stay reachable", 10000);
    await member.close();

    // Another address has its own budget.
    assert.notEqual((await getFrom(OTHER, room("other-address"))).status, 429);
    await servedFrom(node, "other-address-ws", "served from another address");
  });

  test("past limits.max_rooms new rooms get 503 with Retry-After; rooms that exist stay reachable", T, async () => {
    const node = await nodeWith({ max_rooms: 5, max_new_rooms_per_ip_per_second: 0 }, "room-cap");
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push((await getFrom("127.0.0.1", node.httpUrl("main", `cap-${i}`))).status);
    assert.deepEqual(statuses.slice(0, 5).filter((s) => s === 503), [], `the first five rooms: ${statuses}`);
    const refusal = await getFrom(OTHER, node.httpUrl("main", "one-too-many"));
    assert.equal(refusal.status, 503);
    assert.equal(refusal.headers["retry-after"], "5");
    assert.match(refusal.body, /limit of 5 rooms \(limits\.max_rooms\)/);
    const join = await tryJoin(node.wsUrl("main", "one-too-many-ws"), { localAddress: OTHER });
    assert.ok(join.refused, "a join opened a room past max_rooms");
    assert.equal(join.refused.statusCode, 503);

    // Every room that exists is still served, over HTTP and WebSocket, from any address.
    await servedFrom(node, "cap-0", "the node's rooms still work");
    assert.notEqual((await getFrom(OTHER, node.httpUrl("main", "cap-4"))).status, 503);
  });
});
