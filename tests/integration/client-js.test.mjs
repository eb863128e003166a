// partyline-client (clients/js) against real nodes: PartylineSocket, with `ws`
// as its WebSocket, unwraps partyline.v1 frames, tracks the last sequence and
// resumes with ?since= on every reconnect, so that what the application sees
// is the room's log, once, in order, whatever the reconnects. Every check
// compares seq by seq and data by data with the log, read back through the
// history endpoint.
//
// The package is installed into tests/node_modules by `npm ci` in tests/
// (tests/package.json: "partyline-client": "file:../clients/js", copied, not
// linked, by tests/.npmrc's install-links), so that its own
// `import "partysocket"` resolves there. The copy is checked against
// clients/js before anything runs: a stale copy fails with "run npm ci".

import assert from "node:assert/strict";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";

import { SOURCE_DIR, TESTS_DIR, WebSocket, httpFetch, loadPartySocket, startNats, startNode, until } from "./harness.mjs";
import { compareWithLog, orderProblems, post, readLog, roomPath } from "./fault-tools.mjs";

const T = { timeout: 60000 };
const PARTY = "client";
const PARTIES = { [PARTY]: "client-room.lua" };

// The installed copy must be clients/js as it is now.
function checkInstalledCopy() {
  const source = path.join(SOURCE_DIR, "clients", "js");
  const installed = path.join(TESTS_DIR, "node_modules", "partyline-client");
  for (const file of ["package.json", "index.js", "index.d.ts", "README.md"]) {
    let copy;
    try {
      copy = fs.readFileSync(path.join(installed, file), "utf8");
    } catch (err) {
      throw new Error(`partyline-client is not installed in ${TESTS_DIR}/node_modules (${err.code}): run "npm ci" in tests/`);
    }
    if (copy !== fs.readFileSync(path.join(source, file), "utf8")) {
      throw new Error(`${installed}/${file} differs from clients/js/${file}: run "npm ci" in tests/ to install the package as it is now`);
    }
  }
}
checkInstalledCopy();
// Resolved from tests/ through the package's exports, as harness.mjs resolves
// its packages, whatever the working directory is.
const entry = createRequire(path.join(TESTS_DIR, "package.json")).resolve("partyline-client");
const { PartylineSocket, PROTOCOL, classifyFrame } = await import(pathToFileURL(entry).href);

const sockets = [];

// A PartylineSocket on `node` that records what it delivers: `events` holds
// every message ({data, seq}) and truncation ({truncated, since, first}) in
// the order they came. Reconnects are quick and bounded in number, so a
// refused connection fails the test instead of retrying forever.
function open(node, options = {}) {
  const socket = new PartylineSocket({
    host: node.host,
    party: PARTY,
    WebSocket,
    minReconnectionDelay: 20,
    maxReconnectionDelay: 200,
    maxRetries: 200,
    connectionTimeout: 4000,
    ...options,
  });
  socket.binaryType = "arraybuffer";
  sockets.push(socket);
  socket.events = [];
  socket.closes = [];
  socket.problems = [];
  socket.addEventListener("message", (event) => socket.events.push({ data: event.data, seq: event.seq }));
  socket.addEventListener("truncated", (event) => socket.events.push({ truncated: true, since: event.since, first: event.first }));
  socket.addEventListener("close", (event) => socket.closes.push({ code: event.code, reason: event.reason }));
  socket.addEventListener("error", (event) => socket.problems.push(`error: ${event.message || "?"}`));
  return socket;
}

const messagesOf = (socket) => socket.events.filter((e) => !e.truncated);
const writesOf = (socket) => messagesOf(socket).filter((e) => e.seq !== undefined);
const truncationsOf = (socket) => socket.events.filter((e) => e.truncated);

function parseJson(data) {
  try {
    return typeof data === "string" ? JSON.parse(data) : undefined;
  } catch {
    return undefined;
  }
}

// The hellos client-room.lua sent each connection as it was admitted.
const hellosOf = (socket) => messagesOf(socket).map((e) => parseJson(e.data)).filter((v) => v?.type === "hello");

function describeSocket(socket) {
  const shown = socket.events.slice(-8).map((e) => JSON.stringify(e.truncated ? e : { seq: e.seq, data: typeof e.data === "string" ? e.data.slice(0, 80) : "<binary>" }));
  return `${socket.events.length} events, last: [${shown.join(", ")}]; closes ${JSON.stringify(socket.closes.slice(-4))}; ${socket.problems.slice(-3).join("; ")}`;
}

// until(), with what the socket delivered by then in the failure.
async function waitFor(socket, condition, what, timeoutMs = 15000) {
  try {
    return await until(condition, { timeoutMs, what: `${what} on ${socket.roomUrl}` });
  } catch (err) {
    throw new Error(`${err.message}; ${describeSocket(socket)}`);
  }
}

// Resolves once the socket's connection number `n` (1-based) has been admitted.
const admitted = (socket, n) => waitFor(socket, () => hellosOf(socket)[n - 1], `hello #${n}`);

// Resolves once the socket delivered the write with sequence `seq`.
const delivered = (socket, seq) => waitFor(socket, () => writesOf(socket).some((w) => w.seq === seq), `write ${seq}`);

// Posts `bodies` one after the other; resolves with their seqs.
async function postAll(node, room, bodies) {
  const seqs = [];
  for (const body of bodies) {
    const answer = await post(node, PARTY, room, body, 10000);
    assert.equal(answer.status, 200, `POST ${body.slice(0, 40)}: ${answer.status} ${answer.body} ${answer.error ?? ""}`);
    seqs.push(answer.json.seq);
  }
  return seqs;
}

function deferred() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}

after(() => {
  for (const socket of sockets) socket.close();
});

describe("the package", () => {
  test("depends on the partysocket version the tests pin, and nothing else", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, "clients", "js", "package.json"), "utf8"));
    const tests = JSON.parse(fs.readFileSync(path.join(TESTS_DIR, "package.json"), "utf8"));
    assert.equal(pkg.name, "partyline-client");
    assert.equal(pkg.type, "module");
    assert.deepEqual(pkg.dependencies, { partysocket: tests.dependencies.partysocket });
    assert.equal(PROTOCOL, "partyline.v1");
  });

  test("classifyFrame tells the node's frames apart, and takes a script's own JSON for what it is", () => {
    assert.deepEqual(classifyFrame('{"seq":7,"data":"x"}'), { kind: "write", seq: 7, data: "x", binary: false });
    assert.deepEqual(classifyFrame('{"seq":7,"binary":true,"data":"AAE="}'), { kind: "write", seq: 7, data: "AAE=", binary: true });
    assert.deepEqual(classifyFrame('{"truncated":true,"since":3,"first":9}'), { kind: "truncated", since: 3, first: 9 });
    assert.deepEqual(classifyFrame('{"data":"x"}'), { kind: "direct", data: "x", binary: false });
    assert.deepEqual(classifyFrame('{"welcome":true,"id":"p","resume":"0a1b"}'), { kind: "welcome", id: "p", resume: "0a1b" });
    assert.deepEqual(classifyFrame('{"welcome":true,"id":"p","resume":"0a1b","epoch":"17"}'), { kind: "welcome", id: "p", resume: "0a1b", epoch: "17" });
    assert.deepEqual(classifyFrame('{"truncated":true,"since":3,"first":1,"epoch":"18"}'), { kind: "truncated", since: 3, first: 1, epoch: "18" });
    assert.deepEqual(classifyFrame('{"binary":true,"data":"AAE="}'), { kind: "direct", data: "AAE=", binary: true });
    for (const other of ['{"welcome":true,"id":"p","resume":"0a1b","epoch":17}', '{"truncated":true,"since":3,"first":1,"epoch":null}'])
      assert.equal(classifyFrame(other), null, other);
    for (const other of ['{"welcome":true,"id":"p"}', '{"welcome":true,"id":"p","resume":"0a1b","x":1}', '{"welcome":"yes","id":"p","resume":"s"}'])
      assert.equal(classifyFrame(other), null, other);
    for (const other of ['{"seq":7,"data":"x","from":"a"}', '{"seq":"7","data":"x"}', '{"seq":-1,"data":"x"}', '{"type":"hello"}', "[1]", "plain", "", '{"data":1}'])
      assert.equal(classifyFrame(other), null, other);
  });
});

describe("PartylineSocket on one node", () => {
  let nats;
  let node;

  before(async () => {
    nats = await startNats();
    node = await startNode({ natsUrl: nats.url, nodeId: "client-js", stream: "CLIENTJS", parties: PARTIES });
  });

  after(async () => {
    for (const socket of sockets) socket.close();
    await node?.stop();
    await nats?.stop();
  });

  test("log writes arrive unwrapped with their seq, text as text and binary as binary; conn:send frames arrive without a seq", T, async () => {
    const room = "unwrap";
    const socket = open(node, { room });
    const viaOnmessage = [];
    socket.onmessage = (event) => viaOnmessage.push({ data: event.data, seq: event.seq });
    await admitted(socket, 1);
    assert.equal(socket.protocol, "partyline.v1", "the node did not agree to partyline.v1");
    assert.equal(socket.lastSeq, undefined, "a sequence before any write");

    const [textSeq, lookalikeSeq] = await postAll(node, room, ["plain words", '{"seq":1,"data":"not a wrapper"}']);
    const bytes = Buffer.from([0x00, 0xff, 0x80, 0x7f, 0xc3, 0x28]);
    const binary = await httpFetch(`${node.url}${roomPath(PARTY, room)}/broadcast`, {
      method: "POST",
      body: bytes,
      headers: { "Content-Type": "application/octet-stream" },
    });
    const binaryAnswer = await binary.text();
    assert.equal(binary.status, 200, binaryAnswer);
    const binarySeq = JSON.parse(binaryAnswer).seq;
    socket.send("sent on the socket"); // onMessage broadcasts it through the log
    await waitFor(socket, () => writesOf(socket).length >= 4, "4 writes");

    const writes = writesOf(socket);
    const log = await readLog(node, PARTY, room);
    assert.deepEqual(writes.map((w) => w.seq), log.map((e) => e.seq));
    assert.deepEqual(writes.slice(0, 2).map((w) => [w.seq, w.data]), [[textSeq, "plain words"], [lookalikeSeq, '{"seq":1,"data":"not a wrapper"}']]);
    assert.equal(writes[2].seq, binarySeq);
    assert.ok(writes[2].data instanceof ArrayBuffer, `a binary write delivered as ${Object.prototype.toString.call(writes[2].data)}`);
    assert.deepEqual([...new Uint8Array(writes[2].data)], [...bytes]);
    assert.equal(writes[3].data, "sent on the socket");
    assert.equal(socket.lastSeq, log.at(-1).seq);
    assert.equal(socket.seq, socket.lastSeq);

    // Frames the script sends the connection alone (wrapped by the node as {"data":...}): their
    // data as sent, no seq, lastSeq untouched.
    const before = messagesOf(socket).length;
    socket.send("direct:just for you");
    socket.send('direct:{"type":"note","n":1}');
    socket.send("direct-binary:raw bytes");
    socket.send('direct:{"data":"looks like a wrapper"}'); // wrapped again by the node: delivered as sent
    await waitFor(socket, () => messagesOf(socket).length >= before + 4, "4 direct frames");
    const direct = messagesOf(socket).slice(before);
    assert.deepEqual(direct.map((m) => m.seq), [undefined, undefined, undefined, undefined]);
    assert.equal(direct[0].data, "just for you");
    assert.equal(direct[1].data, '{"type":"note","n":1}');
    assert.ok(direct[2].data instanceof ArrayBuffer, "a binary conn:send frame did not stay binary");
    assert.equal(Buffer.from(direct[2].data).toString("utf8"), "raw bytes");
    assert.equal(direct[3].data, '{"data":"looks like a wrapper"}');
    assert.equal(socket.lastSeq, log.at(-1).seq, "a conn:send frame moved lastSeq");

    // onmessage sees what the listeners see.
    assert.deepEqual(
      viaOnmessage.map((m) => [m.seq, typeof m.data === "string" ? m.data : "<binary>"]),
      messagesOf(socket).map((m) => [m.seq, typeof m.data === "string" ? m.data : "<binary>"]),
    );
    assert.deepEqual(truncationsOf(socket), []);
  });

  test("writes made while disconnected arrive once, in order, after reconnect(); reconnects with nothing missed add nothing", T, async () => {
    const room = "gap";
    const socket = open(node, { room });
    await admitted(socket, 1);
    const first = await postAll(node, room, ["w-1", "w-2", "w-3"]);
    await delivered(socket, first.at(-1));

    socket.close();
    assert.equal(socket.readyState, socket.CLOSED);
    const missed = await postAll(node, room, ["missed-1", "missed-2", "missed-3", "missed-4", "missed-5"]);
    socket.reconnect();
    const hello = await admitted(socket, 2);
    assert.equal(hello.since, String(first.at(-1)), "the reconnect did not ask for since=<the last seq delivered>");
    await delivered(socket, missed.at(-1));

    // Three reconnects in a row with nothing written between: nothing more.
    for (let k = 3; k <= 5; k++) {
      socket.reconnect();
      const again = await admitted(socket, k);
      assert.equal(again.since, String(missed.at(-1)), `reconnect #${k - 1}: since`);
    }
    const [live] = await postAll(node, room, ["live"]);
    await delivered(socket, live);

    const log = await readLog(node, PARTY, room);
    const problems = compareWithLog("gap", writesOf(socket), log);
    assert.deepEqual(problems, [], problems.join("\n"));
    assert.equal(socket.lastSeq, live);
  });

  test("three server-side closes in a row, writes in each gap: every write once, in order; the user's async query is called each time and merged", T, async () => {
    const room = "closes";
    const [start] = await postAll(node, room, ["before the socket"]);
    let calls = 0;
    let gate = null;
    const query = async () => {
      calls++;
      const token = `token-${calls}`;
      if (gate) await gate.promise;
      return { token, since: String(start) }; // the socket's own since wins once it has one
    };
    const socket = open(node, { room, query });
    const first = await admitted(socket, 1);
    assert.match(socket.url, /[?&]token=token-1(&|$)/);
    assert.equal(first.since, String(start), "before any write, the user's own since goes through");

    // A first write to resume after.
    const [opening] = await postAll(node, room, ["opening"]);
    await delivered(socket, opening);
    assert.ok(opening > start);

    for (let round = 1; round <= 3; round++) {
      const lastSeen = socket.lastSeq;
      gate = deferred();
      socket.send("close"); // the script closes the connection: 4000
      // The reconnect has started (the query is being asked for): write into the gap.
      await waitFor(socket, () => calls === round + 1, `query call #${round + 1}`);
      const gap = await postAll(node, room, [1, 2, 3].map((i) => `gap-${round}-${i}`));
      gate.resolve();
      const hello = await admitted(socket, round + 1);
      assert.equal(hello.since, String(lastSeen), `round ${round}: since`);
      assert.match(socket.url, new RegExp(`[?&]token=token-${round + 1}(&|$)`), `round ${round}: the user's query is not in ${socket.url}`);
      await delivered(socket, gap.at(-1));
      const [after] = await postAll(node, room, [`after-${round}`]);
      await delivered(socket, after);
    }
    gate = null;

    assert.deepEqual(socket.closes.map((c) => c.code), [4000, 4000, 4000]);
    const log = await readLog(node, PARTY, room, { since: start });
    const writes = writesOf(socket);
    const problems = compareWithLog("closes", writes, log, { since: start });
    assert.deepEqual(problems, [], problems.join("\n"));
    assert.equal(writes.length, 1 + 3 * 4);
  });

  test("since at construction resumes after it (0: what the log holds); another room forgets the sequence", T, async () => {
    const room = "given-since";
    const seqs = await postAll(node, room, Array.from({ length: 6 }, (_, i) => `g-${i + 1}`));

    const resumed = open(node, { room, since: seqs[2] });
    assert.equal(resumed.lastSeq, seqs[2]);
    const hello = await admitted(resumed, 1);
    assert.equal(hello.since, String(seqs[2]));
    await delivered(resumed, seqs.at(-1));
    const log = await readLog(node, PARTY, room);
    let problems = compareWithLog("since=seqs[2]", writesOf(resumed), log, { since: seqs[2] });
    assert.deepEqual(problems, [], problems.join("\n"));

    const everything = open(node, { room, since: 0 });
    await admitted(everything, 1);
    await delivered(everything, seqs.at(-1));
    problems = compareWithLog("since=0", writesOf(everything), log);
    assert.deepEqual(problems, [], problems.join("\n"));
    assert.throws(() => open(node, { room, since: -1 }), /since must be a non-negative integer/);

    // Sequences belong to a room: moving the socket to another room starts without one.
    everything.updateProperties({ room: "given-since-other" });
    assert.equal(everything.lastSeq, undefined);
    everything.reconnect();
    const moved = await admitted(everything, 2);
    assert.equal(moved.since, null, "the socket resumed another room's sequence");
    assert.doesNotMatch(everything.url, /since=/);
  });

  test("the README's recipe for the stock PartySocket: query as a function resumes after the last seq; a plain object replays the same writes again", T, async () => {
    const PartySocket = loadPartySocket();
    const room = "stock";
    const [s0] = await postAll(node, room, ["s-1"]);
    // What a stock PartySocket delivers, raw: `writes` are the frames with a seq, unfiltered.
    const openStock = (options) => {
      const socket = new PartySocket({ host: node.host, party: PARTY, room, WebSocket, maxRetries: 20, ...options });
      sockets.push(socket);
      socket.events = [];
      socket.closes = [];
      socket.problems = [];
      socket.addEventListener("message", (event) => {
        const frame = classifyFrame(event.data);
        if (frame?.kind === "write") socket.events.push({ seq: frame.seq, data: frame.data });
        else if (frame?.kind === "direct") socket.events.push({ data: frame.data }); // a conn:send: {"data":...}
        else socket.events.push({ data: event.data });
      });
      return socket;
    };
    let lastSeq = s0;
    const recipe = openStock({ protocols: ["partyline.v1"], query: () => ({ since: String(lastSeq) }) });
    recipe.addEventListener("message", () => (lastSeq = writesOf(recipe).at(-1)?.seq ?? lastSeq));
    const plain = openStock({ protocols: ["partyline.v1"], query: { since: String(s0) } });
    await Promise.all([admitted(recipe, 1), admitted(plain, 1)]);
    const seen = await postAll(node, room, ["s-2", "s-3"]);
    await Promise.all([delivered(recipe, seen.at(-1)), delivered(plain, seen.at(-1))]);

    recipe.reconnect();
    plain.reconnect();
    await Promise.all([admitted(recipe, 2), admitted(plain, 2)]);
    const [live] = await postAll(node, room, ["s-4"]);
    await Promise.all([delivered(recipe, live), delivered(plain, live)]);
    assert.deepEqual(writesOf(recipe).map((w) => w.data), ["s-2", "s-3", "s-4"], "the recipe's socket");
    assert.deepEqual(writesOf(plain).map((w) => w.data), ["s-2", "s-3", "s-2", "s-3", "s-4"], "a plain object query");
    recipe.close();
    plain.close();
  });
});

describe("PartylineSocket across nodes", () => {
  let nats;
  let nodeA;
  let nodeB;

  before(async () => {
    nats = await startNats();
    [nodeA, nodeB] = await Promise.all(
      ["client-js-a", "client-js-b"].map((nodeId) => startNode({ natsUrl: nats.url, nodeId, stream: "CLIENTJS2", parties: PARTIES })),
    );
  });

  after(async () => {
    for (const socket of sockets) socket.close();
    await Promise.allSettled([nodeA?.stop(), nodeB?.stop()]);
    await nats?.stop();
  });

  test("its node stopped under it, the socket resumes on another node of the same log: each write once, in order", T, async () => {
    const room = "moves";
    const socket = open(nodeA, { room });
    await admitted(socket, 1);
    const first = await postAll(nodeB, room, ["m-1", "m-2"]);
    await delivered(socket, first.at(-1));

    await nodeA.stop(); // SIGTERM: its WebSockets are closed 1001
    await waitFor(socket, () => socket.closes.some((c) => c.code === 1001), "close 1001");
    const whileDown = await postAll(nodeB, room, Array.from({ length: 8 }, (_, i) => `down-${i + 1}`));
    socket.updateProperties({ host: nodeB.host });
    assert.equal(socket.lastSeq, first.at(-1), "a new host (same room) forgot the sequence");
    socket.reconnect();
    const hello = await admitted(socket, 2);
    assert.equal(hello.node, "client-js-b");
    assert.equal(hello.since, String(first.at(-1)));
    await delivered(socket, whileDown.at(-1));
    const [live] = await postAll(nodeB, room, ["live on b"]);
    await delivered(socket, live);

    const log = await readLog(nodeB, PARTY, room);
    const problems = compareWithLog("moves", writesOf(socket), log);
    assert.deepEqual(problems, [], problems.join("\n"));
  });
});

describe("PartylineSocket and retention (nats.max_msgs_per_room: 5)", () => {
  let nats;
  let node;

  before(async () => {
    nats = await startNats();
    node = await startNode({
      natsUrl: nats.url,
      nodeId: "client-js-retention",
      parties: PARTIES,
      config: { nats: { url: nats.url, stream: "CLIENTJS5", max_msgs_per_room: 5 } },
    });
  });

  after(async () => {
    for (const socket of sockets) socket.close();
    await node?.stop();
    await nats?.stop();
  });

  test("resuming after a write retention dropped: a truncated event, then the writes kept, then live; never a duplicate", T, async () => {
    const room = "kept-5";
    const socket = open(node, { room });
    const viaHandler = [];
    socket.ontruncated = (event) => viaHandler.push([event.type, event.since, event.first]);
    await admitted(socket, 1);
    const [seen] = await postAll(node, room, ["r-1"]);
    await delivered(socket, seen);

    socket.close();
    const later = await postAll(node, room, Array.from({ length: 10 }, (_, i) => `r-${i + 2}`)); // the log keeps r-7..r-11
    const kept = later.slice(-5);
    socket.reconnect();
    await admitted(socket, 2);
    await delivered(socket, kept.at(-1));

    const events = socket.events.filter((e) => e.truncated || e.seq !== undefined);
    assert.deepEqual(events[0], { data: "r-1", seq: seen });
    assert.deepEqual(events[1], { truncated: true, since: seen, first: kept[0] }, `after r-1: ${JSON.stringify(events.slice(1, 3))}`);
    assert.deepEqual(events.slice(2).map((e) => [e.seq, e.data]), kept.map((seq, i) => [seq, `r-${7 + i}`]));
    assert.deepEqual(viaHandler, [["truncated", seen, kept[0]]]);

    // The live stream goes on, and a later reconnect resumes inside what the log holds: no marker.
    const [live] = await postAll(node, room, ["r-12"]);
    await delivered(socket, live);
    socket.reconnect();
    const hello = await admitted(socket, 3);
    assert.equal(hello.since, String(live));
    const [last] = await postAll(node, room, ["r-13"]);
    await delivered(socket, last);
    assert.equal(truncationsOf(socket).length, 1, "more than one truncated event");
    const writes = writesOf(socket);
    assert.deepEqual(orderProblems("kept-5", writes), []);
    assert.deepEqual(writes.map((w) => w.data), ["r-1", "r-7", "r-8", "r-9", "r-10", "r-11", "r-12", "r-13"]);
  });
});

// The stream deleted and created again (here: nats-server's data lost, as a
// restart on an empty store loses it) starts its sequences over. A client that
// resumed "after 5" in the new log would get the wrong writes, or none: the
// node tells it instead, with the new epoch, and sends the new log from its
// start.
describe("PartylineSocket when the room's log begins again (nats-server restarted without its data)", () => {
  let nats;
  let node;

  before(async () => {
    nats = await startNats();
    node = await startNode({ natsUrl: nats.url, nodeId: "client-js-epoch", parties: PARTIES });
  });

  after(async () => {
    for (const socket of sockets) socket.close();
    await node?.stop();
    await nats?.stop();
  });

  // Posts until the node's log takes writes again (JetStream back, the stream created anew).
  async function postWhenBack(room, body) {
    let last;
    for (let attempt = 0; attempt < 150; attempt++) {
      last = await post(node, PARTY, room, body, 10000);
      if (last.status === 200) return last.json.seq;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the log did not take writes again: ${last.status} ${last.body}`);
  }

  test("a connected client and one resuming later are told (truncated, new epoch), then get the new log once, in order", T, async () => {
    const room = "epoch";
    const socket = open(node, { room });
    const epochs = [];
    socket.addEventListener("truncated", (event) => epochs.push(event.epoch));
    await admitted(socket, 1);
    const oldEpoch = socket.epoch;
    assert.match(oldEpoch, /^[0-9]+$/, "the welcome gives the log's epoch");
    const old = await postAll(node, room, ["old-1", "old-2", "old-3", "old-4", "old-5"]);
    await delivered(socket, old.at(-1));

    // NATS loses everything; the node finds the stream gone and creates it again.
    await nats.stop();
    fs.rmSync(nats.dir, { recursive: true, force: true });
    fs.mkdirSync(nats.dir, { recursive: true });
    await nats.restart();
    const first = await postWhenBack(room, "new-1");
    const rest = await postAll(node, room, ["new-2", "new-3"]);
    assert.ok(first <= old.at(-1), `the new log starts over (its first write is ${first})`);
    await waitFor(socket, () => writesOf(socket).some((w) => w.data === "new-3"), "new-3");

    assert.equal(epochs.length, 1, `one truncated event: ${JSON.stringify(socket.events.slice(-6))}`);
    assert.notEqual(epochs[0], oldEpoch);
    assert.equal(socket.epoch, epochs[0]);
    const writes = writesOf(socket).map((w) => [w.seq, w.data]);
    assert.deepEqual(writes, [...old.map((seq, i) => [seq, `old-${i + 1}`]), [first, "new-1"], [rest[0], "new-2"], [rest[1], "new-3"]]);
    const at = socket.events.findIndex((e) => e.truncated);
    assert.equal(socket.events[at].since, old.at(-1));
    assert.equal(socket.events[at + 1]?.data, "new-1", "the new log follows the marker");

    // A page reload that kept (lastSeq, epoch) of the old log.
    const reloaded = open(node, { room, since: old.at(-1), epoch: oldEpoch });
    const told = [];
    reloaded.addEventListener("truncated", (event) => told.push({ since: event.since, first: event.first, epoch: event.epoch }));
    await admitted(reloaded, 1);
    await waitFor(reloaded, () => writesOf(reloaded).length === 3, "the new log's three writes");
    assert.deepEqual(told, [{ since: old.at(-1), first, epoch: epochs[0] }]);
    assert.deepEqual(writesOf(reloaded).map((w) => w.data), ["new-1", "new-2", "new-3"]);

    // After that, a reconnect resumes inside the new log: no marker, nothing twice.
    socket.reconnect();
    await admitted(socket, 2);
    await postAll(node, room, ["new-4"]);
    // By data: the old log's writes had these sequences too.
    await waitFor(socket, () => writesOf(socket).some((w) => w.data === "new-4"), "new-4");
    assert.equal(epochs.length, 1);
    assert.deepEqual(orderProblems("epoch", writesOf(socket).slice(5)), []);
    assert.deepEqual(writesOf(socket).slice(5).map((w) => w.data), ["new-1", "new-2", "new-3", "new-4"]);
  });
});
