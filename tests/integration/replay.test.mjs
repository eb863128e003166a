// Replay (README.md's Guarantees, 3), with real processes: a partyline.v1 client
// that connects with ?since=N gets every write after N from the log, then the
// live stream, with no gap and no duplicate at the seam, even while writes
// keep coming and on a node other than the one it saw N on;
// GET /v1/parties/:party/:room/history returns the same as JSON; when
// retention dropped writes after N, the client is told so first; clients
// without the subprotocol get the writes as they were written.
//
// Every check compares seq by seq and data by data with the room's log, read
// back through the history endpoint.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { connect, httpFetch, sleep, startNats, startNode, until } from "./harness.mjs";
import {
  Subscriber,
  compareWithLog,
  helloOf,
  history,
  markersOf,
  parseFrame,
  post,
  readLog,
  roomPath,
  startLoad,
  startNatsLink,
} from "./fault-tools.mjs";

const T = { timeout: 60000 };
const PARTY = "log";
const PARTIES = { [PARTY]: "log-room.lua" };

// Posts `bodies` one after the other; resolves with their seqs.
async function postAll(node, room, bodies) {
  const seqs = [];
  for (const body of bodies) {
    const answer = await post(node, PARTY, room, body, 10000);
    assert.equal(answer.status, 200, `POST ${body.slice(0, 40)}: ${answer.status} ${answer.body}`);
    seqs.push(answer.json.seq);
  }
  return seqs;
}

describe("replay on two nodes sharing one log", () => {
  let nats;
  let nodeA;
  let nodeB;

  before(async () => {
    nats = await startNats();
    // A send buffer of 256 KiB (the default is 1 MiB) keeps the replay-size test small.
    [nodeA, nodeB] = await Promise.all(
      ["replay-a", "replay-b"].map((nodeId) =>
        startNode({ natsUrl: nats.url, nodeId, stream: "REPLAY", parties: PARTIES, limits: { send_buffer_bytes: 256 * 1024 } }),
      ),
    );
  });

  after(async () => {
    await Promise.allSettled([nodeA?.stop(), nodeB?.stop()]);
    await nats?.stop();
  });

  test("clients joining with ?since= while POSTs keep coming get exactly the log after since, then live", T, async (t) => {
    const room = "seam";
    // Observers on both nodes from the start: the seqs a resuming client would know.
    const observerA = new Subscriber("observer-a", { party: PARTY, room });
    const observerB = new Subscriber("observer-b", { party: PARTY, room });
    await observerA.open(nodeA);
    await observerB.open(nodeB);

    const load = startLoad({ targets: () => [nodeA, nodeB], party: PARTY, room, rate: 60, count: 240, prefix: "seam" });
    const joiners = [];
    for (let k = 0; load.elapsed() < 3600; k++) {
      await sleep(150);
      const node = k % 2 ? nodeB : nodeA;
      // Resume from what a client saw on the other node, from a little further
      // back, or from the start.
      const seen = (k % 2 ? observerA : observerB).lastSeq ?? 0;
      const since = [seen, Math.max(0, seen - 7), 0][k % 3];
      const joiner = new Subscriber(`joiner-${k}`, { party: PARTY, room });
      joiners.push(joiner.open(node, { since }).then(() => joiner));
    }
    const results = await load.done;
    const joined = await Promise.all(joiners);
    const failed = results.filter((r) => r.status !== 200);
    assert.deepEqual(failed.map((r) => `${r.body}: ${r.status} ${r.reason}`), []);

    const log = await readLog(nodeA, PARTY, room);
    assert.equal(log.length, results.length, "the log does not hold one entry per POST");
    const last = log.at(-1).seq;
    const problems = [];
    for (const s of [observerA, observerB, ...joined]) {
      await s.caughtUp(last, 15000).catch((err) => problems.push(err.message));
      const since = s.connections[0].since ?? 0;
      problems.push(...compareWithLog(`${s.name} (:${s.node.port} since=${since})`, s.writes, log, { since }));
      if (s.markers.length) problems.push(`${s.name}: unexpected marker ${JSON.stringify(s.markers)}`);
    }
    t.diagnostic(`seam: ${results.length} POSTs at 60/s over 2 nodes, ${joined.length} clients joined with since while they ran`);
    assert.deepEqual(problems, [], problems.join("\n"));
    await Promise.all([observerA, observerB, ...joined].map((s) => s.close()));
  });

  test("since=0 replays the whole room; history pages, any since and limit, equal the replay", T, async () => {
    const room = "whole";
    const bodies = Array.from({ length: 45 }, (_, i) => `whole-${i} ${"é".repeat(i % 3)} "quoted" \\ ${i}`);
    const seqs = await postAll(nodeB, room, bodies);

    const everything = new Subscriber("since-0", { party: PARTY, room });
    await everything.open(nodeA, { since: 0 });
    await everything.caughtUp(seqs.at(-1), 10000);
    const log = await readLog(nodeA, PARTY, room);
    assert.deepEqual(log.map((e) => e.data), bodies, "the log does not hold the POSTs in order");
    assert.deepEqual(log.map((e) => e.seq), seqs, "the log's seqs are not those the POSTs were answered with");
    assert.deepEqual(everything.writes.map((w) => [w.seq, w.data]), log.map((e) => [e.seq, e.data]), "since=0 replay differs from the log");

    // History, 7 at a time, concatenated: the same.
    const paged = [];
    for (let after = 0; ; ) {
      const page = await history(nodeB, PARTY, room, { since: after, limit: 7 });
      assert.ok(page.entries.length <= 7, `limit 7 gave ${page.entries.length} entries`);
      if (!page.entries.length) break;
      paged.push(...page.entries);
      after = page.entries.at(-1).seq;
    }
    assert.deepEqual(paged, log, "history read 7 at a time differs from one read");
    for (const e of log) assert.equal(e.binary, false);

    // A client with since=k gets what history since=k returns.
    for (const since of [seqs[0], seqs[20], seqs[43], seqs.at(-1)]) {
      const page = await history(nodeA, PARTY, room, { since, limit: 1000 });
      const client = new Subscriber(`since-${since}`, { party: PARTY, room });
      await client.open(since % 2 ? nodeA : nodeB, { since });
      // A write after the replay: anything more the replay sent (a duplicate, a write out of
      // place) would have come before it.
      const [markerSeq] = await postAll(nodeB, room, [`marker after since=${since}`]);
      await client.caughtUp(markerSeq, 10000);
      assert.deepEqual(
        client.writes.map((w) => [w.seq, w.data]),
        [...page.entries, { seq: markerSeq, data: `marker after since=${since}` }].map((e) => [e.seq, e.data]),
        `since=${since}: replay differs from history`,
      );
      await client.close();
    }
    const beyond = await history(nodeA, PARTY, room, { since: seqs.at(-1) + 1000 });
    assert.deepEqual(beyond, { truncated: false, entries: [], next: seqs.at(-1) + 1000, more: false });
    await everything.close();
  });

  test("a room whose writes were never dropped is never reported truncated, though its seqs do not start at 1", T, async () => {
    // The stream holds every room of the node: this room's first write has a
    // stream seq far above 1, and retention dropped nothing.
    const other = await post(nodeA, PARTY, "before-it", "an earlier write in another room");
    assert.equal(other.status, 200, other.body);
    const room = "not-first";
    const seqs = await postAll(nodeA, room, ["nf-1", "nf-2", "nf-3"]);
    assert.ok(seqs[0] > 1);
    const problems = [];
    for (const since of [0, seqs[0], seqs[1]]) {
      const page = await history(nodeB, PARTY, room, { since });
      if (page.truncated) problems.push(`history since=${since} says truncated (first write of the room: seq ${seqs[0]})`);
      const client = new Subscriber(`since-${since}`, { party: PARTY, room });
      await client.open(since % 2 ? nodeA : nodeB, { since });
      if (client.markers.length) problems.push(`since=${since}: a v1 client got ${JSON.stringify(client.markers[0])} first`);
      problems.push(...compareWithLog(`since=${since}`, client.writes, seqs.map((seq, i) => ({ seq, data: `nf-${i + 1}` })), { since }));
      await client.close();
    }
    assert.deepEqual(problems, [], problems.join("\n"));
  });

  test("clients without partyline.v1 get writes as written: no seq wrapping, text stays text, binary stays binary", T, async () => {
    const room = "raw";
    const raw = await connect(nodeA.wsUrl(PARTY, room));
    assert.equal(raw.protocol, "", "a client that offered no subprotocol got one");
    await helloOf(raw);
    const v1 = new Subscriber("v1", { party: PARTY, room });
    await v1.open(nodeB);

    const text = await post(nodeB, PARTY, room, '{"seq":1,"data":"not a wrapper"}');
    assert.equal(text.status, 200, text.body);
    const bytes = Buffer.from([0x00, 0xff, 0x80, 0x7f, 0xc3, 0x28]);
    const binary = await httpFetch(`${nodeB.url}${roomPath(PARTY, room)}/broadcast`, {
      method: "POST",
      body: bytes,
      headers: { "Content-Type": "application/octet-stream" },
    });
    const binaryAnswer = await binary.text();
    assert.equal(binary.status, 200, binaryAnswer);
    const binarySeq = JSON.parse(binaryAnswer).seq;
    const plain = await post(nodeA, PARTY, room, "plain words");
    assert.equal(plain.status, 200, plain.body);

    await raw.waitFor((m) => !m.binary && m.text === "plain words", 10000);
    const frames = raw.messages.slice(1); // after the hello
    assert.deepEqual(
      frames.map((m) => (m.binary ? ["binary", [...m.data]] : ["text", m.text])),
      [["text", '{"seq":1,"data":"not a wrapper"}'], ["binary", [...bytes]], ["text", "plain words"]],
    );

    await v1.caughtUp(plain.json.seq, 10000);
    assert.deepEqual(
      v1.writes.map((w) => [w.seq, w.binary, w.binary ? [...Buffer.from(w.data, "base64")] : w.data]),
      [
        [text.json.seq, false, '{"seq":1,"data":"not a wrapper"}'],
        [binarySeq, true, [...bytes]],
        [plain.json.seq, false, "plain words"],
      ],
    );

    // The hello the script sent with conn:send reached the partyline.v1 client wrapped, without a seq.
    const hello = v1.client.messages.find((m) => m.wire !== undefined);
    assert.ok(hello, "the v1 client's hello was not wrapped");
    assert.deepEqual(JSON.parse(hello.wire), { data: hello.text });
    assert.equal(JSON.parse(hello.text).type, "hello");
    assert.equal(raw.messages[0].wire, undefined, "a raw client's conn:send frame is as sent");
    assert.equal(JSON.parse(raw.messages[0].text).type, "hello");

    // A raw client that asks for a replay gets it raw as well.
    const rawReplay = await connect(nodeB.wsUrl(PARTY, room, { since: "0" }));
    await helloOf(rawReplay);
    const replayed = rawReplay.messages.slice(0, 3);
    assert.deepEqual(
      replayed.map((m) => (m.binary ? ["binary", [...m.data]] : ["text", m.text])),
      [["text", '{"seq":1,"data":"not a wrapper"}'], ["binary", [...bytes]], ["text", "plain words"]],
    );
    await Promise.all([raw.close(), rawReplay.close(), v1.close()]);
  });

  test("a replay larger than the client's send buffer still arrives whole (the client reads as fast as it can)", T, async () => {
    // limits.send_buffer_bytes is 256 KiB on these nodes: 6 MiB of writes to replay.
    const room = "big-replay";
    const bodies = Array.from({ length: 200 }, (_, i) => `big-${i}:${"y".repeat(32 * 1024)}`);
    const seqs = await postAll(nodeA, room, bodies);
    const client = new Subscriber("big", { party: PARTY, room });
    let opened = null;
    try {
      await client.open(nodeB, { since: 0 });
      await client.caughtUp(seqs.at(-1), 15000);
    } catch (err) {
      opened = err;
    }
    const got = client.writes.map((w) => w.seq);
    const close = client.client?.closeInfo;
    assert.ok(
      !opened && got.length === seqs.length,
      `since=0 over 200 writes of 32 KiB: got ${got.length} of ${seqs.length} (${got.slice(0, 3).join(",")}...), ` +
        `connection closed ${JSON.stringify(close)}; ${opened?.message.slice(0, 200) ?? ""}`,
    );
    assert.deepEqual(got, seqs);
    await client.close();
  });

  test("a room of 2,400 writes among 4,800 of other rooms on its stream replays each write once, in order", T, async (t) => {
    // The room's writes are a third of the stream's, interleaved: a read of the room skips the
    // other rooms' entries between its own (next-by-subject), one entry or a batch at a time.
    const room = "crowded";
    const others = ["crowded-x", "crowded-y"];
    const perChain = 300;
    const chains = 8;
    const answered = new Map(); // seq -> body, from the POST answers
    const post1 = async (target, body) => {
      const answer = await post(nodeA, PARTY, target, body, 20000);
      assert.equal(answer.status, 200, `POST ${body}: ${answer.status} ${answer.body}`);
      if (target === room) answered.set(answer.json.seq, body);
    };
    await Promise.all(
      Array.from({ length: chains }, async (_, c) => {
        for (let i = 0; i < perChain; i++) {
          await post1(room, `crowded-${c}-${i}`);
          await post1(others[i % 2], `other-${c}-${i}`);
          await post1(others[(i + 1) % 2], `other-${c}-${i}b`);
        }
      }),
    );
    const seqs = [...answered.keys()].sort((a, b) => a - b);
    assert.equal(seqs.length, chains * perChain);
    const expected = seqs.map((seq) => [seq, answered.get(seq)]);

    const log = await readLog(nodeB, PARTY, room);
    assert.deepEqual(log.map((e) => [e.seq, e.data]), expected, "history differs from the POST answers");
    // The whole room, and from the middle of it, on the node that wrote it and the other one.
    const middle = seqs[1234];
    for (const [node, since] of [[nodeA, 0], [nodeB, 0], [nodeB, middle]]) {
      const client = new Subscriber(`crowded-since-${since}`, { party: PARTY, room });
      await client.open(node, { since });
      const [markerSeq] = await postAll(nodeA, room, [`crowded marker since=${since}`]);
      await client.caughtUp(markerSeq, 30000);
      const want = [...expected.filter(([seq]) => seq > since), [markerSeq, `crowded marker since=${since}`]];
      assert.deepEqual(client.writes.map((w) => [w.seq, w.data]), want, `since=${since} on :${node.port}`);
      expected.push([markerSeq, `crowded marker since=${since}`]);
      await client.close();
    }
    t.diagnostic(`crowded: ${seqs.length} writes of the room among ${2 * seqs.length} of other rooms, replayed 3 times`);
  });
});

describe("retention: nats.max_msgs_per_room", () => {
  let nats;
  let node;
  const room = "kept-5";
  let seqs = []; // of r-1 .. r-20; the log keeps the last 5

  before(async () => {
    nats = await startNats();
    node = await startNode({
      natsUrl: nats.url,
      nodeId: "retention",
      parties: PARTIES,
      config: { nats: { url: nats.url, stream: "RETAIN5", max_msgs_per_room: 5 } },
    });
    seqs = await postAll(node, room, Array.from({ length: 20 }, (_, i) => `r-${i + 1}`));
  });

  after(async () => {
    await node?.stop();
    await nats?.stop();
  });

  test("20 writes, 5 kept: since=1 gets the truncation marker, then the last 5, then live; history says truncated", T, async () => {
    const kept = seqs.slice(-5);
    const resumed = new Subscriber("since-1", { party: PARTY, room });
    await resumed.open(node, { since: 1 });
    const frames = resumed.client.messages.map(parseFrame);
    assert.deepEqual(frames[0], { kind: "marker", truncated: true, since: 1, first: kept[0] }, `first frame: ${resumed.client.messages[0]?.text}`);
    assert.deepEqual(
      frames.slice(1, 6).map((f) => [f.kind, f.seq, f.data]),
      kept.map((seq, i) => ["write", seq, `r-${16 + i}`]),
    );
    assert.equal(frames[6]?.value?.type, "hello", "the replay is followed by the hello, then live writes");

    const live = await post(node, PARTY, room, "r-21");
    seqs.push(live.json.seq);
    await resumed.caughtUp(live.json.seq, 10000);
    assert.deepEqual(resumed.writes.map((w) => w.seq), [...kept, live.json.seq]);
    assert.equal(markersOf(resumed.client).length, 1, "more than one truncation marker");

    const truncated = await history(node, PARTY, room, { since: 1 });
    assert.equal(truncated.truncated, true);
    assert.deepEqual(truncated.entries.map((e) => e.data), ["r-17", "r-18", "r-19", "r-20", "r-21"]);
    const inside = await history(node, PARTY, room, { since: seqs[17] });
    assert.equal(inside.truncated, false, "since inside what the log holds is not truncated");
    assert.deepEqual(inside.entries.map((e) => e.data), ["r-19", "r-20", "r-21"]);

    // Since inside the kept range: no marker.
    const recent = new Subscriber("since-kept", { party: PARTY, room });
    await recent.open(node, { since: seqs[17] });
    assert.deepEqual(recent.markers, []);
    assert.deepEqual(recent.writes.map((w) => w.data), ["r-19", "r-20", "r-21"]);

    // A raw client asking for the same replay: the kept writes as written, no marker.
    const raw = await connect(node.wsUrl(PARTY, room, { since: "1" }));
    const hello = await helloOf(raw);
    assert.equal(hello.type, "hello");
    assert.deepEqual(raw.messages.slice(0, -1).map((m) => m.text), ["r-17", "r-18", "r-19", "r-20", "r-21"]);
    await Promise.all([resumed.close(), recent.close(), raw.close()]);
  });

  // The rule (README, Guarantees): the marker comes when the log no longer
  // holds the write `since` itself. Retention drops a room's oldest writes
  // first, so later ones may be gone too; sequences are the stream's, so
  // nothing cheaper tells. since=0 asks for what the log holds: no marker.
  test("since=0 asks for what the log holds: no marker, the oldest kept write first", T, async () => {
    const fromStart = new Subscriber("since-0", { party: PARTY, room });
    await fromStart.open(node, { since: 0 });
    await fromStart.caughtUp(seqs.at(-1), 5000);
    const page = await history(node, PARTY, room, { since: 0 });
    await fromStart.close();
    assert.deepEqual(
      [fromStart.markers, fromStart.writes.map((w) => w.data), page.truncated],
      [[], ["r-17", "r-18", "r-19", "r-20", "r-21"], false],
      "since=0 on a room whose first writes retention dropped: [markers, writes, history truncated]",
    );
  });

  test("since=<a write retention dropped>: the marker comes first, since later writes may be gone too", T, async () => {
    const since = seqs[15];  // r-16, the last dropped write
    const edge = new Subscriber("since-last-dropped", { party: PARTY, room });
    await edge.open(node, { since });
    await edge.caughtUp(seqs.at(-1), 5000);
    const page = await history(node, PARTY, room, { since });
    await edge.close();
    assert.deepEqual(
      [edge.markers.length, edge.writes.map((w) => w.data), page.truncated],
      [1, ["r-17", "r-18", "r-19", "r-20", "r-21"], true],
      `since=${since} (r-16): [markers, writes, history truncated]`,
    );
  });
});

describe("resuming on a node that is behind the client", () => {
  // Node B reaches nats-server through a link the test can cut: while it is
  // cut, B runs and answers WebSocket upgrades, but its shard of the room
  // is behind the log until the link is back.
  let nats;
  let link;
  let nodeA;
  let nodeB;

  before(async () => {
    nats = await startNats();
    link = await startNatsLink(nats.port);
    [nodeA, nodeB] = await Promise.all([
      startNode({ natsUrl: nats.url, nodeId: "ahead", parties: PARTIES }),
      startNode({ natsUrl: link.url, nodeId: "behind", parties: PARTIES }),
    ]);
  });

  after(async () => {
    await Promise.allSettled([nodeA?.stop(), nodeB?.stop()]);
    await link?.close();
    await nats?.stop();
  });

  test("a client resuming with since=N on a node whose shard has not delivered N yet gets nothing at or before N", T, async (t) => {
    const room = "ahead-of-node";
    const watcherA = new Subscriber("on-a", { party: PARTY, room });
    const watcherB = new Subscriber("on-b", { party: PARTY, room });
    await watcherA.open(nodeA);
    await watcherB.open(nodeB);
    const first = await postAll(nodeA, room, ["first-1", "first-2", "first-3"]);
    await watcherB.caughtUp(first.at(-1), 10000);

    // B loses NATS; writes go on through A; a client of A moves to B with
    // the last seq it saw, and is admitted while B is still cut off.
    link.cut();
    const later = await postAll(nodeA, room, Array.from({ length: 10 }, (_, i) => `while-cut-${i}`));
    await watcherA.caughtUp(later.at(-1), 10000);
    const since = watcherA.lastSeq;
    const mover = new Subscriber("mover", { party: PARTY, room });
    await mover.open(nodeB, { since, timeoutMs: 15000 });
    const behindWhenAdmitted = watcherB.lastSeq;

    link.restore();
    await until(() => watcherB.lastSeq >= since, { timeoutMs: 10000, what: "node B to catch up after the link is back" });
    const after = await postAll(nodeA, room, ["after-1", "after-2"]);
    const log = await readLog(nodeA, PARTY, room);
    await Promise.all([mover, watcherA, watcherB].map((s) => s.caughtUp(after.at(-1), 10000)));
    t.diagnostic(`mover resumed with since=${since} on node B, whose clients were at ${behindWhenAdmitted}`);
    assert.ok(behindWhenAdmitted < since, "precondition: node B was not behind the mover when it was admitted");

    const problems = [
      ...compareWithLog(`mover (since=${since}, admitted by a node at ${behindWhenAdmitted})`, mover.writes, log, { since }),
      ...compareWithLog("on-b (stayed connected to the node that lost NATS)", watcherB.writes, log),
      ...compareWithLog("on-a", watcherA.writes, log),
    ];
    assert.deepEqual(problems, [], problems.join("\n"));
    await Promise.all([watcherA.close(), watcherB.close(), mover.close()]);
  });
});

describe("reads of the log across a cut NATS connection", () => {
  // The node reaches nats-server through a link that the test cuts in the
  // middle of a read of the room's log (after a given number of bytes), and
  // restores 200 ms later. A read either returns the log exactly (page by
  // page: a page a cut ends early says where to go on), or fails with a clear
  // error and succeeds when asked again; it never returns an entry twice, out
  // of order, or not at all.
  let nats;
  let link;
  let node;

  before(async () => {
    nats = await startNats();
    link = await startNatsLink(nats.port);
    node = await startNode({
      natsUrl: link.url,
      nodeId: "cut-reader",
      parties: PARTIES,
      limits: { send_buffer_bytes: 64 << 20 }, // a replay must not be a slow consumer here
    });
  });

  after(async () => {
    await node?.stop();
    await link?.close();
    await nats?.stop();
  });

  // The node's reconnect count, once it is connected again.
  async function reconnected(before) {
    let count = before;
    await until(async () => {
      const text = await httpFetch(`${node.url}/metrics`, {}, 2000).then((r) => r.text());
      count = Number(/partyline_nats_reconnects_total (\d+)/.exec(text)?.[1]);
      const ready = await httpFetch(`${node.url}/readyz`, {}, 2000);
      return count > before && ready.status === 200;
    }, { timeoutMs: 10000, what: "the node to reconnect to NATS" });
    return count;
  }

  // The room's history from since=0, page after page ("next" while "more"): {status, text,
  // entries}, with the status and text of the first page that was not a 200.
  async function historyPages(room) {
    const entries = [];
    let since = 0;
    for (let page = 0; page < 1000; page++) {
      const url = `${node.url}${roomPath(PARTY, room)}/history?since=${since}&limit=1000`;
      const res = await httpFetch(url, {}, 20000).catch((err) => ({ status: err.message, text: async () => "" }));
      const text = await res.text();
      if (res.status !== 200) return { status: res.status, text, entries };
      const answer = JSON.parse(text);
      entries.push(...answer.entries);
      if (!answer.more) break;
      since = answer.next;
    }
    return { status: 200, text: "", entries };
  }

  test("history and since=0 replays hold each entry once, in order, when the link is cut mid-read", T, async (t) => {
    const room = "cut-read";
    const bodies = Array.from({ length: 200 }, (_, i) => `cut-${i}:${"z".repeat(16 * 1024)}`);
    const seqs = await postAll(node, room, bodies);
    const log = bodies.map((data, i) => ({ seq: seqs[i], data }));
    const problems = [];
    const outcomes = [];
    let reconnects = 0;

    // Cut points: among the first entries (read one by one), and further
    // on (read through a consumer).
    for (const cutAt of [200 << 10, 900 << 10, 1600 << 10, 2400 << 10]) {
      link.cutAfter(cutAt);
      let answer = await historyPages(room);
      const firstStatus = answer.status;
      if (link.cuts > reconnects) reconnects = await reconnected(reconnects);
      if (answer.status !== 200) {
        if (!(answer.status >= 500 && answer.text.trim())) problems.push(`history cut after ${cutAt} bytes: ${answer.status} ${JSON.stringify(answer.text.slice(0, 200))}, not a clear error`);
        answer = await historyPages(room);
      }
      if (answer.status === 200) {
        problems.push(...compareWithLog(`history cut after ${cutAt} bytes`, answer.entries, log));
      } else {
        problems.push(`history asked again after the cut: ${answer.status} ${answer.text.slice(0, 200)}`);
      }
      outcomes.push(`history/${cutAt}:${firstStatus}`);
    }

    for (const cutAt of [300 << 10, 1200 << 10, 2400 << 10]) {
      link.cutAfter(cutAt);
      const client = new Subscriber(`replay-cut-${cutAt}`, { party: PARTY, room });
      client.resumeOnClose(() => node);
      // A replay the cut ends early closes the connection with a reason; the
      // client resumes with the last seq it got.
      await client.open(node, { since: 0, timeoutMs: 20000 }).catch(() => {});
      const firstConnection = client.connections[0];
      if (!firstConnection) problems.push(`replay cut after ${cutAt} bytes: the upgrade failed`);
      await client.caughtUp(seqs.at(-1), 20000).catch((err) => problems.push(err.message.slice(0, 300)));
      if (link.cuts > reconnects) reconnects = await reconnected(reconnects);
      problems.push(...compareWithLog(`replay cut after ${cutAt} bytes`, client.writes, log));
      const firstClose = firstConnection?.client.closeInfo;
      if (firstClose && !(firstClose.code >= 1000 && firstClose.reason)) problems.push(`replay cut after ${cutAt} bytes: closed ${JSON.stringify(firstClose)} without a reason`);
      outcomes.push(`replay/${cutAt}:${client.connections.length} connection(s)${firstClose ? ` closed ${firstClose.code}` : ""}`);
      await client.close();
    }

    // The link cut just after JetStream confirmed a read's consumer, before
    // its first message: the consumer nats.c recreates must not start again
    // from the room's first write.
    const CONSUMER_CREATED = "io.nats.jetstream.api.v1.consumer_create_response";
    let consumerCuts = 0;
    for (let round = 0; round < 2; round++) {
      const cutsBefore = link.cuts;
      link.cutAfterText(CONSUMER_CREATED);
      let answer = await historyPages(room);
      link.disarm();
      if (link.cuts === cutsBefore) break; // reads use no consumer: nothing to cut
      consumerCuts++;
      reconnects = await reconnected(reconnects);
      if (answer.status !== 200) {
        if (!(answer.status >= 500 && answer.text.trim())) problems.push(`history cut at its consumer: ${answer.status} ${JSON.stringify(answer.text.slice(0, 200))}, not a clear error`);
        answer = await historyPages(room);
      }
      if (answer.status === 200) problems.push(...compareWithLog(`history cut at its consumer (round ${round})`, answer.entries, log));
      else problems.push(`history asked again after the cut: ${answer.status} ${answer.text.slice(0, 200)}`);
      outcomes.push(`history/consumer-created:${answer.status}`);

      link.cutAfterText(CONSUMER_CREATED);
      const client = new Subscriber(`replay-consumer-cut-${round}`, { party: PARTY, room });
      client.resumeOnClose(() => node);
      await client.open(node, { since: 0, timeoutMs: 20000 }).catch(() => {});
      await client.caughtUp(seqs.at(-1), 20000).catch((err) => problems.push(err.message.slice(0, 300)));
      if (link.disarm() === false) reconnects = await reconnected(reconnects);
      problems.push(...compareWithLog(`replay cut at its consumer (round ${round})`, client.writes, log));
      outcomes.push(`replay/consumer-created:${client.connections.length} connection(s)`);
      await client.close();
    }

    if (!node.running) problems.push(`the node exited; its last lines:\n${node.tail(6)}`);
    t.diagnostic(`cuts at a consumer's creation: ${consumerCuts}; link cuts: ${link.cuts}, node reconnects: ${reconnects}; ${outcomes.join(" ")}`);
    assert.deepEqual(problems, [], problems.join("\n"));
    assert.equal(reconnects, link.cuts, "precondition: every cut made the node reconnect");
  });
});
