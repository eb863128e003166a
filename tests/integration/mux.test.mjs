// Many rooms over one WebSocket (GET /v1/connect, partyline.mux.v1) against a
// real node on a real nats-server: each join is a connection of its room in
// every sense (onBeforeConnect with the socket's headers and the join's query,
// the party's auth, onConnect, conn.state, conn:send, onClose on leave and at
// the socket's close, replay with since), each bad frame gets an error frame
// and the socket stays open, and PartylineMux (clients/js) carries 50 rooms on
// one socket through a reconnect with every write once and in order.

import assert from "node:assert/strict";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";

import { SOURCE_DIR, TESTS_DIR, WebSocket, connect, httpFetch, scriptPath, startNats, startNode, until } from "./harness.mjs";
import { metricsOf, post, readLog } from "./fault-tools.mjs";

// The installed copy of partyline-client (tests/node_modules, by `npm ci`) must be clients/js as it is now.
for (const file of ["package.json", "index.js", "mux.js", "index.d.ts", "README.md"]) {
  const installed = path.join(TESTS_DIR, "node_modules", "partyline-client", file);
  const copy = fs.existsSync(installed) ? fs.readFileSync(installed, "utf8") : undefined;
  if (copy !== fs.readFileSync(path.join(SOURCE_DIR, "clients", "js", file), "utf8"))
    throw new Error(`${installed} is missing or differs from clients/js/${file}: run "npm ci" in tests/`);
}
const require = createRequire(path.join(TESTS_DIR, "package.json"));
const { SignJWT } = require("jose");
const entry = require.resolve("partyline-client");
const { PartylineMux, MUX_PROTOCOL } = await import(pathToFileURL(entry).href);

const T = { timeout: 120000 };
const SECRET = "a-connection-secret-of-at-least-32-bytes!";
const MAX_ROOMS = 60;

let nats;
let node;
const opened = [];

async function token(claims = {}, expires = "1h") {
  return new SignJWT({ sub: "alice", ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime(expires)
    .sign(new TextEncoder().encode(SECRET));
}

// One nats-server for every node of the file, stopped once all are.
after(() => nats?.stop());

// A hand-driven mux socket: `frames` holds every frame the node sent, parsed.
class Mux {
  static async open({ headers } = {}) {
    const client = await connect(`ws://${node.host}/v1/connect`, { protocols: [MUX_PROTOCOL], headers });
    opened.push(client);
    assert.equal(client.protocol, MUX_PROTOCOL);
    return new Mux(client);
  }

  constructor(client) {
    this.client = client;
    this.nextRef = 1;
  }

  get frames() {
    return this.client.messages.map((m) => JSON.parse(m.text));
  }

  send(frame) {
    return this.client.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  // Sends `frame` with a fresh ref and resolves with the node's answer to it.
  async ask(frame, timeoutMs = 10000) {
    const ref = this.nextRef++;
    await this.send({ ...frame, ref });
    const answer = await this.client.waitFor((m) => JSON.parse(m.text).ref === ref, timeoutMs);
    return answer.json();
  }

  async join(party, room, fields = {}) {
    const answer = await this.ask({ op: "join", party, room, ...fields });
    assert.equal(answer.op, "joined", `join ${party}/${room}: ${JSON.stringify(answer)}`);
    return answer;
  }

  // The first frame for `room` that `match` accepts.
  async frameOf(room, match, timeoutMs = 10000) {
    const found = await this.client.waitFor((m) => {
      const frame = JSON.parse(m.text);
      return frame.room === room && match(frame);
    }, timeoutMs);
    return found.json();
  }

  hello(room) {
    return this.frameOf(room, (f) => f.seq === undefined && typeof f.data === "string" && f.data.includes('"hello"')).then((f) => JSON.parse(f.data));
  }

  writes(room) {
    return this.frames.filter((f) => f.room === room && f.seq !== undefined);
  }
}

// A plain WebSocket on a room's own URL, watching its writes.
async function watch(party, room) {
  const client = await connect(node.wsUrl(party, room));
  opened.push(client);
  await client.waitFor((m) => m.text.includes('"hello"'));
  return client;
}

describe("many rooms over one WebSocket (partyline.mux.v1)", () => {
  before(async () => {
    nats = await startNats();
    const script = scriptPath("mux-room.lua");
    node = await startNode({
      natsUrl: nats.url,
      nodeId: "mux",
      limits: { max_rooms_per_connection: MAX_ROOMS },
      config: {
        parties: {
          mux: { script },
          other: { script },
          secure: { script, auth: { jwt: { secret: SECRET, algorithms: ["HS256"], leeway_seconds: 0 } } },
          routed: { router: { target: "mux", shards: 3, strategy: "round-robin" } },
        },
      },
    });
  });

  after(async () => {
    for (const client of opened) client.terminate();
    await node?.stop();
  });

  test("a join is a connection of its room: onBeforeConnect's request, onConnect, conn:send, conn.state, writes, leave and onClose", T, async () => {
    const watcher = await watch("mux", "lobby");
    const mux = await Mux.open({ headers: { "X-Probe": "from the upgrade" } });
    const joined = await mux.join("mux", "lobby", { query: { name: "ann" } });
    assert.equal(joined.room, "mux/lobby");
    assert.ok(joined.id);
    const hello = await mux.hello("mux/lobby");
    assert.deepEqual(hello, { type: "hello", id: joined.id, room: "mux/lobby", count: 2, probe: "from the upgrade", name: "ann", sub: null });

    await mux.send({ op: "send", room: "mux/lobby", data: "hi all" });
    const write = await mux.frameOf("mux/lobby", (f) => f.seq !== undefined && f.data === "hi all");
    assert.deepEqual(Object.keys(write), ["room", "seq", "data"]);
    await watcher.waitFor((m) => m.text === "hi all");
    await mux.send({ op: "send", room: "mux/lobby", data: "state" });
    assert.deepEqual(await mux.frameOf("mux/lobby", (f) => f.data === "state 2"), { room: "mux/lobby", data: "state 2" });
    await mux.send({ op: "send", room: "mux/lobby", binary: true, data: Buffer.from([0, 1, 255]).toString("base64") });
    const binary = await mux.frameOf("mux/lobby", (f) => f.binary === true);
    assert.deepEqual(Buffer.from(binary.data, "base64"), Buffer.from([0, 1, 255]));

    assert.deepEqual(await mux.ask({ op: "leave", room: "mux/lobby" }), { op: "left", ref: 2, room: "mux/lobby" });
    await watcher.waitFor((m) => m.text === `closed ${joined.id} 1000`);
    // Nothing of the room reaches the socket after `left`.
    const count = mux.client.messages.length;
    await post(node, "mux", "lobby", "after the leave");
    await watcher.waitFor((m) => m.text === "after the leave");
    assert.deepEqual(await mux.ask({ op: "join", party: "mux", room: "probe" }).then((a) => a.op), "joined");
    assert.equal(mux.frames.slice(count).filter((f) => f.room === "mux/lobby").length, 0);
  });

  test("a room's own close ends that room only; the socket's close runs onClose in every room", T, async () => {
    const a = await watch("mux", "close-a");
    const b = await watch("mux", "close-b");
    const mux = await Mux.open();
    const ja = await mux.join("mux", "close-a");
    const jb = await mux.join("mux", "close-b");
    await mux.send({ op: "send", room: "mux/close-a", data: "close-me" });
    assert.deepEqual(await mux.frameOf("mux/close-a", (f) => f.op === "closed"), { op: "closed", room: "mux/close-a", code: 4000, reason: "asked to" });
    await a.waitFor((m) => m.text === `closed ${ja.id} 4000`);
    await mux.send({ op: "send", room: "mux/close-b", data: "still here" });
    await b.waitFor((m) => m.text === "still here");
    const again = await mux.join("mux", "close-a"); // a room it was closed out of can be joined again
    await mux.client.close(1000, "bye");
    await a.waitFor((m) => m.text === `closed ${again.id} 1000`);
    await b.waitFor((m) => m.text === `closed ${jb.id} 1000`);
  });

  test("each bad frame gets an error frame naming the problem, with its ref, and the socket stays open", T, async () => {
    const mux = await Mux.open();
    const bad = async (frame, status, pattern) => {
      const before = mux.client.messages.length;
      await mux.send(frame);
      const answer = (await mux.client.waitFor(before + 1)).at(before).json();
      assert.equal(answer.op, "error", JSON.stringify(answer));
      assert.equal(answer.status, status, JSON.stringify(answer));
      assert.match(answer.error, pattern);
      return answer;
    };
    await bad("{not json", 400, /^malformed JSON: /);
    await bad("[1]", 400, /a frame must be a JSON object/);
    assert.equal((await bad({ op: "dance", ref: 7 }, 400, /unknown op "dance"/)).ref, 7);
    assert.equal((await bad({ ref: 8 }, 400, /missing "op"/)).ref, 8);
    await bad({ op: "join", ref: 9, room: "r" }, 400, /missing "party"/);
    await bad({ op: "join", ref: 10, party: "mux" }, 400, /missing "room"/);
    await bad({ op: "join", ref: 11, party: "mux", room: "r", since: -3 }, 400, /"since" must be a sequence number/);
    await bad({ op: "send", ref: 12, room: "mux/r" }, 400, /missing "data"/);
    await bad({ op: "refresh", ref: 13 }, 400, /missing "token"/);
    await bad({ op: "leave", ref: 14, room: "mux/nowhere" }, 404, /not in room mux\/nowhere/);
    await bad({ op: "send", ref: 15, room: "mux/nowhere", data: "x" }, 404, /not in room mux\/nowhere/);
    await bad({ op: "join", ref: 16, party: "nobody", room: "r" }, 404, /no party named 'nobody'/);
    const before = mux.client.messages.length;
    await mux.client.send(Buffer.from("{}"), { binary: true });
    assert.match((await mux.client.waitFor(before + 1)).at(before).json().error, /binary frames are not part of partyline.mux.v1/);

    mux.nextRef = 100; // past the refs given by hand above
    await mux.join("mux", "twice");
    const twice = await mux.ask({ op: "join", party: "mux", room: "twice" });
    assert.equal(twice.status, 409);
    assert.match(twice.error, /already joined mux\/twice/);

    for (let i = 1; i < MAX_ROOMS; i++) await mux.join("mux", `limit-${i}`);
    const over = await mux.ask({ op: "join", party: "mux", room: "one-too-many" });
    assert.equal(over.status, 429);
    assert.match(over.error, /limits\.max_rooms_per_connection \(60\)/);
    // Still open and serving: a leave makes room for the join.
    assert.equal((await mux.ask({ op: "leave", room: "mux/limit-1" })).op, "left");
    await mux.join("mux", "one-too-many");
    assert.equal(mux.client.closeInfo, null);
  });

  test("the party's auth checks each join's token; onBeforeConnect refuses with its status; refresh renews before expiry", T, async () => {
    const mux = await Mux.open();
    const none = await mux.ask({ op: "join", party: "secure", room: "vault" });
    assert.equal(none.status, 401);
    assert.match(none.error, /token/);
    const forged = await mux.ask({ op: "join", party: "secure", room: "vault", token: "a.b.c" });
    assert.equal(forged.status, 401);
    const elsewhere = await mux.ask({ op: "join", party: "secure", room: "vault", token: await token({ rooms: ["secure/other"] }) });
    assert.equal(elsewhere.status, 403);
    const denied = await mux.ask({ op: "join", party: "mux", room: "door", query: { deny: "1" } });
    assert.deepEqual([denied.status, denied.error], [403, "denied by the room"]);

    // Two rooms whose tokens expire in a few seconds; the first is refreshed and stays.
    const kept = await mux.join("secure", "kept", { token: await token({}, "5s") });
    assert.equal((await mux.hello("secure/kept")).sub, "alice");
    const refusedRefresh = await mux.ask({ op: "refresh", token: await token({ sub: "mallory" }) });
    assert.equal(refusedRefresh.status, 403);
    assert.match(refusedRefresh.error, /another subject/);
    assert.equal((await mux.ask({ op: "refresh", token: "not.a.token" })).status, 401);
    assert.deepEqual(await mux.ask({ op: "refresh", token: await token() }), { op: "refreshed", ref: mux.nextRef - 1, rooms: 1 });
    await mux.join("secure", "lapses", { token: await token({}, "5s") });
    assert.deepEqual(await mux.frameOf("secure/lapses", (f) => f.op === "closed", 15000), {
      op: "closed",
      room: "secure/lapses",
      code: 4001,
      reason: "token expired",
    });
    // Joined before the room that lapsed, with the same lifetime: the refresh kept it.
    await mux.send({ op: "send", room: "secure/kept", data: "state" });
    assert.equal((await mux.frameOf("secure/kept", (f) => f.data === "state 1")).data, "state 1");
    assert.ok(kept.id);
  });

  test("one socket's rooms in two parties and behind a router, each frame naming its room", T, async () => {
    const mux = await Mux.open();
    await mux.join("mux", "pair");
    await mux.join("other", "pair");
    const routed = await mux.join("routed", "hall");
    assert.match(routed.room, /^mux\/hall-[123]$/);
    assert.equal((await mux.hello(routed.room)).room, routed.room);
    await post(node, "mux", "pair", "to mux");
    await post(node, "other", "pair", "to other");
    const [, routedRoom] = routed.room.split("/");
    await post(node, "mux", routedRoom, "to the shard room");
    assert.equal((await mux.frameOf("other/pair", (f) => f.seq !== undefined)).data, "to other");
    assert.equal((await mux.frameOf("mux/pair", (f) => f.seq !== undefined)).data, "to mux");
    assert.equal((await mux.frameOf(routed.room, (f) => f.seq !== undefined)).data, "to the shard room");
    // A router party's join is left by the room it was given.
    assert.equal((await mux.ask({ op: "leave", room: routed.room })).op, "left");
  });

  test("a join with since replays the room's log, then the live stream; a since of another epoch is told so", T, async () => {
    for (let i = 1; i <= 5; i++) assert.equal((await post(node, "mux", "replayed", `r${i}`)).status, 200);
    const log = await readLog(node, "mux", "replayed");
    const mux = await Mux.open();
    const joined = await mux.join("mux", "replayed", { since: log[1].seq });
    assert.equal(typeof joined.epoch, "string");
    await post(node, "mux", "replayed", "r6");
    await mux.frameOf("mux/replayed", (f) => f.data === "r6");
    assert.deepEqual(
      mux.writes("mux/replayed").map((f) => f.data),
      ["r3", "r4", "r5", "r6"],
    );

    // A since of another generation of the log: the truncation frame names the room and the
    // epoch now, and everything the log holds follows.
    const other = await Mux.open();
    const again = await other.join("mux", "replayed", { since: 4, epoch: "an-older-log" });
    assert.equal(again.epoch, joined.epoch);
    assert.deepEqual(await other.frameOf("mux/replayed", (f) => f.truncated === true), {
      room: "mux/replayed",
      truncated: true,
      since: 4,
      first: log[0].seq,
      epoch: joined.epoch,
    });
    await other.frameOf("mux/replayed", (f) => f.data === "r6");
    assert.deepEqual(
      other.writes("mux/replayed").map((f) => f.data),
      ["r1", "r2", "r3", "r4", "r5", "r6"],
    );
  });

  test("PartylineMux: 50 rooms on one socket, every write once and in order through a reconnect and a cut connection", T, async () => {
    const ROOMS = 50;
    const names = Array.from({ length: ROOMS }, (_, i) => `many-${i}`);
    // The other tests' sockets close first: the gauge then counts this one alone.
    await Promise.all(opened.map((c) => c.close()));
    await until(async () => (await metricsOf(node)).partyline_connections === 0, { what: "no WebSocket left open" });
    const mux = new PartylineMux({ host: node.host, WebSocket, minReconnectionDelay: 20, maxReconnectionDelay: 200, maxRetries: 50 });
    const got = new Map(names.map((n) => [n, []]));
    const rooms = names.map((name) => {
      const room = mux.room("mux", name, { query: { name } });
      room.opens = 0;
      room.addEventListener("open", () => room.opens++);
      room.addEventListener("message", (e) => {
        if (e.seq !== undefined) got.get(name).push({ seq: e.seq, data: e.data });
      });
      return room;
    });
    try {
      await until(() => rooms.every((r) => r.joined), { timeoutMs: 30000, what: "every room joined" });
      const metrics = await metricsOf(node);
      assert.equal(metrics.partyline_connections, 1, "50 rooms, one WebSocket");
      assert.equal(metrics.partyline_mux_rooms, ROOMS);

      const postAll = async (label) => {
        for (const name of names) assert.equal((await post(node, "mux", name, `${label} ${name}`)).status, 200);
      };
      await postAll("first");
      await until(() => names.every((n) => got.get(n).length >= 1), { timeoutMs: 30000, what: "the first writes" });

      // The socket goes away; writes go on meanwhile; the rooms rejoin with since.
      mux.socket.close();
      await until(() => rooms.every((r) => !r.joined), { what: "every room left by the close" });
      await postAll("meanwhile");
      mux.reconnect();
      await until(() => rooms.every((r) => r.joined), { timeoutMs: 30000, what: "every room joined again" });
      await postAll("after");
      // The connection cut under it (no Close): the socket reconnects by itself, each room
      // rejoins with since, and what was written meanwhile comes once.
      await until(() => names.every((n) => got.get(n).some((e) => e.data === `after ${n}`)), { timeoutMs: 30000, what: "the writes after the reconnect" });
      mux.socket._ws.terminate();
      await postAll("cut");
      await until(() => rooms.every((r) => r.opens === 3 && r.joined), { timeoutMs: 30000, what: "every room joined a third time" });
      await postAll("last");

      for (const name of names) {
        const log = await readLog(node, "mux", name);
        const wanted = log.map((e) => ({ seq: e.seq, data: e.data }));
        await until(() => got.get(name).length >= wanted.length, { timeoutMs: 30000, what: `every write of ${name}` });
        assert.deepEqual(got.get(name), wanted, `${name}: the writes seen are the log, once and in order`);
        for (const label of ["first", "meanwhile", "after", "cut", "last"]) assert.ok(wanted.some((e) => e.data === `${label} ${name}`));
      }
    } finally {
      mux.close();
    }
    await until(async () => (await metricsOf(node)).partyline_mux_rooms === 0, { what: "every room of the closed socket given up" });
  });

  test("PartylineMux: tokens from a function, a refused join's error event, a router room's name, close() and refresh()", T, async () => {
    const watcher = await watch("mux", "lib-left");
    const mux = new PartylineMux({ host: `http://${node.host}`, WebSocket, maxRetries: 5 });
    try {
      let tokens = 0;
      const secure = mux.room("secure", "lib", { token: async () => (tokens++, token({}, "1h")) });
      const refused = mux.room("secure", "lib-refused");
      const routed = mux.room("routed", "lib-hall");
      const left = mux.room("mux", "lib-left");
      const errors = [];
      refused.addEventListener("error", (e) => errors.push([e.status, e.error]));
      const hellos = [];
      secure.addEventListener("message", (e) => hellos.push(JSON.parse(e.data)));
      await until(() => secure.joined && routed.joined && left.joined && errors.length === 1, { timeoutMs: 15000, what: "the joins answered" });
      assert.equal(tokens, 1);
      assert.deepEqual(errors, [[401, "token refused: token required"]]);
      assert.equal(refused.joined, false);
      assert.match(routed.name, /^mux\/lib-hall-[123]$/);
      await until(() => hellos.length === 1, { what: "the secure room's hello" });
      assert.equal(hellos[0].sub, "alice");
      assert.equal(await mux.refresh(await token()), 1);
      await assert.rejects(mux.refresh("not.a.token"), (err) => err.status === 401);

      const closes = [];
      left.addEventListener("close", (e) => closes.push(e.code));
      left.close();
      assert.deepEqual(closes, [1000]);
      await watcher.waitFor((m) => m.text === `closed ${left.id} 1000`);
      assert.throws(() => left.send("after close"), /send after close/);
    } finally {
      mux.close();
    }
  });

  test("GET /v1/connect takes no control key and needs partyline.mux.v1", T, async () => {
    const plain = await httpFetch(`${node.url}/v1/connect`);
    assert.equal(plain.status, 426);
    const err = await connect(`ws://${node.host}/v1/connect`, { protocols: ["partyline.v1"] }).then(
      (c) => {
        c.close();
        throw new Error("accepted without partyline.mux.v1");
      },
      (e) => e,
    );
    assert.equal(err.statusCode, 400);
    assert.match(err.body, /partyline\.mux\.v1/);
 
    // A web page of another origin is refused as on a room's URL (the node lists no origins);
    // its own origin is a page of the node.
    const foreign = await connect(`ws://${node.host}/v1/connect`, { protocols: [MUX_PROTOCOL], headers: { Origin: "https://evil.example" } }).then(
      (c) => {
        c.close();
        throw new Error("accepted from another origin");
      },
      (e) => e,
    );
    assert.equal(foreign.statusCode, 403);
    assert.match(foreign.body, /origins/);
    const own = await Mux.open({ headers: { Origin: `http://${node.host}` } });
    await own.join("mux", "from-a-page");
  });
});

// The socket's own limits hold for the socket as a whole (one message rate, one send buffer);
// the write limits hold for each room's connection, as on its own URL.
describe("a multiplexed socket's limits", () => {
  const KiB = 1024;
  let limitsNode;
  let writesNode;

  before(async () => {
    nats ??= await startNats();
    const parties = { mux: { script: scriptPath("mux-room.lua") } };
    limitsNode = await startNode({
      natsUrl: nats.url,
      nodeId: "mux-limits",
      limits: { max_messages_per_second: 5, message_burst: 10, send_buffer_bytes: 64 * KiB },
      config: { parties },
    });
    writesNode = await startNode({
      natsUrl: nats.url,
      nodeId: "mux-writes",
      limits: { max_write_bytes_per_second_per_ip: 16 * KiB, max_connections_per_ip: 2 },
      config: { parties },
    });
  });

  after(async () => {
    for (const client of opened) client.terminate();
    await limitsNode?.stop();
    await writesNode?.stop();
  });

  async function openOn(target) {
    const client = await connect(`ws://${target.host}/v1/connect`, { protocols: [MUX_PROTOCOL] });
    opened.push(client);
    return new Mux(client);
  }

  async function watchOn(target, room) {
    const client = await connect(target.wsUrl("mux", room));
    opened.push(client);
    await client.waitFor((m) => m.text.includes('"hello"'));
    return client;
  }

  test("one message rate for all of the socket's rooms: past it the socket is closed 1008 and every room runs onClose", T, async () => {
    const a = await watchOn(limitsNode, "rate-a");
    const b = await watchOn(limitsNode, "rate-b");
    const mux = await openOn(limitsNode);
    const ja = await mux.join("mux", "rate-a");
    const jb = await mux.join("mux", "rate-b");
    // 40 messages at once, half to each room: the burst of 10 is the socket's, not each room's.
    for (let i = 0; i < 40; i++) mux.send({ op: "send", room: i % 2 ? "mux/rate-b" : "mux/rate-a", data: `flood ${i}` }).catch(() => {});
    const closed = await mux.client.waitClose(10000);
    assert.equal(closed.code, 1008);
    assert.equal(closed.reason, "message rate over limits.max_messages_per_second (5/s)");
    await a.waitFor((m) => m.text === `closed ${ja.id} 1008`, 10000);
    await b.waitFor((m) => m.text === `closed ${jb.id} 1008`, 10000);
  });

  test("one send buffer: a socket that stops reading is closed 1013 and every room runs onClose", T, async () => {
    const a = await watchOn(limitsNode, "slow-a");
    const b = await watchOn(limitsNode, "slow-b");
    const mux = await openOn(limitsNode);
    const ja = await mux.join("mux", "slow-a");
    const jb = await mux.join("mux", "slow-b");
    mux.client.ws._socket.pause();
    const padding = "x".repeat(32 * KiB);
    // The kernel's socket buffers take a few MB before the node's own queue grows: 600 writes of
    // 32 KiB are well past both.
    let writes = 0;
    while (writes < 600 && mux.client.closeInfo === null) {
      const res = await post(limitsNode, "mux", writes % 2 ? "slow-b" : "slow-a", `${writes}:${padding}`);
      assert.equal(res.status, 200, res.body);
      writes++;
      if (writes % 10 === 0 && (await metricsOf(limitsNode)).partyline_slow_consumer_closes_total >= 1) break;
    }
    assert.ok(writes < 600, "the stalled socket was not closed");
    await a.waitFor((m) => m.text === `closed ${ja.id} 1013`, 20000);
    await b.waitFor((m) => m.text === `closed ${jb.id} 1013`, 20000);
    mux.client.terminate();
  });

  test("a socket counts once against max_connections_per_ip, however many rooms it is in", T, async () => {
    const first = await openOn(writesNode);
    for (let i = 0; i < 10; i++) await first.join("mux", `per-ip-${i}`);
    const second = await openOn(writesNode);
    await second.join("mux", "per-ip-0");
    const refused = await connect(`ws://${writesNode.host}/v1/connect`, { protocols: [MUX_PROTOCOL] }).then(
      (c) => {
        c.close();
        throw new Error("a third connection from the address was accepted");
      },
      (e) => e,
    );
    assert.equal(refused.statusCode, 503);
    await first.client.close();
    await second.client.close();
    // The slots come back once the node has seen both closes.
    const again = await until(() => connect(`ws://${writesNode.host}/v1/connect`, { protocols: [MUX_PROTOCOL] }).catch(() => null), { what: "a connection after the closes" });
    await again.close();
  });

  test("a room's write past max_write_bytes_per_second_per_ip closes that room 1008, not the socket", T, async () => {
    const mux = await openOn(writesNode);
    await mux.join("mux", "bytes");
    await mux.join("mux", "bytes-other");
    await mux.send({ op: "send", room: "mux/bytes", data: "y".repeat(17 * KiB) });
    await mux.frameOf("mux/bytes", (f) => f.seq !== undefined, 20000);
    await mux.send({ op: "send", room: "mux/bytes", data: "one more" });
    assert.deepEqual(await mux.frameOf("mux/bytes", (f) => f.op === "closed", 20000), {
      op: "closed",
      room: "mux/bytes",
      code: 1008,
      reason: "write rate over limits.max_write_bytes_per_second_per_ip (16384 bytes/s)",
    });
    assert.equal((await mux.ask({ op: "leave", room: "mux/bytes-other" })).op, "left");
    assert.equal(mux.client.closeInfo, null);
  });
});

// A room whose log dropped writes a join resumes after: the truncation frame names the room,
// and PartylineMux turns it into the room's `truncated` event.
describe("a bounded log over a multiplexed socket (nats.max_msgs_per_room: 3)", () => {
  let retained;

  before(async () => {
    nats ??= await startNats();
    retained = await startNode({
      natsUrl: nats.url,
      nodeId: "mux-retain",
      config: {
        nats: { url: nats.url, stream: "MUXRETAIN3", subject_prefix: "muxretain", max_msgs_per_room: 3 },
        parties: { mux: { script: scriptPath("mux-room.lua") } },
      },
    });
  });

  after(async () => {
    for (const client of opened) client.terminate();
    await retained?.stop();
  });

  test("a join with a since the log no longer holds gets the room's truncation frame, then what it keeps", T, async () => {
    for (let i = 1; i <= 6; i++) assert.equal((await post(retained, "mux", "short", `s${i}`)).status, 200);
    const client = await connect(`ws://${retained.host}/v1/connect`, { protocols: [MUX_PROTOCOL] });
    opened.push(client);
    const mux = new Mux(client);
    await mux.join("mux", "short", { since: 1 });
    assert.deepEqual(await mux.frameOf("mux/short", (f) => f.truncated === true), { room: "mux/short", truncated: true, since: 1, first: 4 });
    await mux.frameOf("mux/short", (f) => f.data === "s6");
    assert.deepEqual(mux.writes("mux/short").map((f) => [f.seq, f.data]), [[4, "s4"], [5, "s5"], [6, "s6"]]);

    const lib = new PartylineMux({ host: retained.host, WebSocket, maxRetries: 5 });
    try {
      const room = lib.room("mux", "short", { since: 2 });
      const events = [];
      room.addEventListener("truncated", (e) => events.push({ since: e.since, first: e.first }));
      room.addEventListener("message", (e) => e.seq !== undefined && events.push({ seq: e.seq, data: e.data }));
      await until(() => events.length === 4, { timeoutMs: 15000, what: "the marker and three writes" });
      assert.deepEqual(events, [{ since: 2, first: 4 }, { seq: 4, data: "s4" }, { seq: 5, data: "s5" }, { seq: 6, data: "s6" }]);
      assert.equal(room.lastSeq, 6);
    } finally {
      lib.close();
    }
  });
});
