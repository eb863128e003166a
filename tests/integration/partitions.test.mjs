// nats.partitions: rooms spread over several log streams, each with its own storage and alarm
// bucket. On one nats-server: 30 rooms' writes land in the stream of each room's partition and
// read back through history, replay and live delivery as with one stream; room.storage and
// alarms work over the partitioned buckets; a node started with another partition count than
// the deployment's streams refuses (exit code 1) and says what it found and what to do, both
// ways. On a three-server cluster (replicas 3, partitions 3): the three streams' leaders are on
// three servers, writes land in all three, and when the server leading one partition is killed
// under traffic every acknowledged write reaches every client that stayed connected, once, in
// order.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { httpFetch, sleep, startNats, startNatsCluster, startNode, until } from "./harness.mjs";
import {
  Subscriber,
  ackProblems,
  compareWithLog,
  jetStreamApi,
  partitionOf,
  post,
  readLog,
  startLoad,
  summarize,
} from "./fault-tools.mjs";

const T = { timeout: 120000 };
const PARTY = "log";
const ROOMS = Array.from({ length: 30 }, (_, i) => `room-${i}`);

function partitionedNode(natsUrl, nodeId, nats, parties = { [PARTY]: "log-room.lua" }) {
  return startNode({ nodeId, parties, config: { nats: { url: natsUrl, ...nats } }, readyTimeoutMs: 40000 });
}

async function streamInfo(natsPort, name) {
  const info = await jetStreamApi(natsPort, `STREAM.INFO.${name}`);
  if (info.error) throw new Error(`stream info of ${name}: ${JSON.stringify(info.error)}`);
  return info;
}

// The first room "<stem>-<n>" of `partition` among `count`.
function roomIn(partition, count, stem = "in") {
  for (let n = 0; n < 1000; n++) if (partitionOf(PARTY, `${stem}-${n}`, count) === partition) return `${stem}-${n}`;
  throw new Error(`no room of partition ${partition}`);
}

describe("nats.partitions on one nats-server", () => {
  let nats;
  let node;
  const STREAM = "PARTS";

  before(async () => {
    nats = await startNats();
    node = await partitionedNode(nats.url, "parts-1", { stream: STREAM, partitions: 3 });
  });
  after(async () => {
    await node?.stop();
    await nats?.stop();
  });

  test("30 rooms over three streams: each write in its room's partition, read back as with one", T, async () => {
    const watched = new Subscriber("watcher", { party: PARTY, room: ROOMS[0] });
    await watched.open(node);
    for (const room of ROOMS) {
      for (const n of [1, 2]) {
        const answer = await post(node, PARTY, room, `${room} write ${n}`);
        assert.equal(answer.status, 200, `${room}: ${answer.body}`);
      }
    }
    const perPartition = [0, 0, 0];
    for (const room of ROOMS) {
      perPartition[partitionOf(PARTY, room, 3)] += 2;
      const log = await readLog(node, PARTY, room);
      assert.deepEqual(log.map((e) => e.data), [`${room} write 1`, `${room} write 2`], room);
    }
    for (let i = 0; i < 3; i++) {
      const info = await streamInfo(nats.port, `${STREAM}-${i}`);
      assert.deepEqual(info.config.subjects, [`partyline.room.${i}.>`]);
      assert.equal(info.config.republish?.dest, `partyline.live.${i}.>`);
      assert.equal(info.state.messages, perPartition[i], `${STREAM}-${i} holds the writes of its rooms`);
      assert.equal(info.config.max_bytes, Math.floor(1024 ** 3 / 3), "each stream holds its share of nats.max_bytes");
      assert.equal(info.config.description, `partyline log: partition ${i} of 3`);
      assert.ok(perPartition[i] > 0, `partition ${i} has rooms`);
    }
    const single = await jetStreamApi(nats.port, `STREAM.INFO.${STREAM}`);
    assert.ok(single.error, "no stream of the single partition's name");

    await watched.caughtUp(2);
    assert.deepEqual(watched.writes.map((w) => w.data), [`${ROOMS[0]} write 1`, `${ROOMS[0]} write 2`]);
    // Resuming after the first write (its sequence is its stream's) gets the second only.
    const resumed = new Subscriber("resumed", { party: PARTY, room: ROOMS[0] });
    await resumed.open(node, { since: watched.writes[0].seq });
    await resumed.caughtUp(watched.writes[1].seq);
    assert.deepEqual(resumed.writes.map((w) => w.data), [`${ROOMS[0]} write 2`]);
    await Promise.all([watched.close(), resumed.close()]);
  });

  test("room.storage and alarms use the partition's buckets", T, async () => {
    const other = await startNode({
      nodeId: "parts-kv",
      parties: { store: { script: "store.lua", storage: true }, alarm: "alarm.lua" },
      config: { nats: { url: nats.url, stream: "KVPARTS", subject_prefix: "kvparts", partitions: 3, storage_bucket: "KVS", alarm_bucket: "KVA" } },
    });
    try {
      for (const room of ROOMS.slice(0, 9)) {
        const put = await httpFetch(other.httpUrl("store", room, "/put", { key: "k" }), { method: "POST", body: room }, 15000);
        assert.equal(put.status, 200, await put.text());
        const got = await httpFetch(other.httpUrl("store", room, "/get", { key: "k" }), {}, 15000);
        assert.equal((await got.json()).value, room);
      }
      const perPartition = [0, 0, 0];
      for (const room of ROOMS.slice(0, 9)) perPartition[partitionOf("store", room, 3)]++;
      for (let i = 0; i < 3; i++) {
        const info = await streamInfo(nats.port, `KV_KVS-${i}`);
        assert.equal(info.state.messages, perPartition[i], `bucket KVS-${i} holds its rooms' keys`);
      }
      const room = "woken";
      const set = await httpFetch(other.httpUrl("alarm", room, "/set", { ms: "1000" }), { method: "POST", body: "" }, 15000);
      assert.equal(set.status, 200, await set.text());
      const alarms = await streamInfo(nats.port, `KV_KVA-${partitionOf("alarm", room, 3)}`);
      assert.equal(alarms.state.messages, 1, "the alarm is in its room's partition's bucket");
      const runs = await until(async () => (await readLog(other, "alarm", room)).length > 0, { timeoutMs: 15000, what: "onAlarm" });
      assert.ok(runs);
    } finally {
      await other.stop();
    }
  });

  test("started with another partition count, a node refuses and says what it found and what to do", T, async () => {
    await node.stop();
    for (const count of [1, 5]) {
      await assert.rejects(partitionedNode(nats.url, `parts-${count}`, { stream: STREAM, partitions: count }), (err) => {
        assert.match(err.message, /partyline exited \(code 1,/);
        assert.match(err.message, new RegExp(`nats\\.partitions is ${count} \\(stream`));
        assert.match(err.message, /JetStream holds log streams of another partition count: PARTS-0 \(partition 0 of 3, \d+ writes\), PARTS-1 \(partition 1 of 3, \d+ writes\) and PARTS-2 \(partition 2 of 3, \d+ writes\)/);
        assert.match(err.message, /Either start with nats\.partitions: 3 as before, or move the rooms' data to the new layout and delete those streams/);
        return true;
      });
    }
    // Nothing was changed by the refused starts: the same count finds every room's history.
    node = await partitionedNode(nats.url, "parts-again", { stream: STREAM, partitions: 3 });
    for (const room of ROOMS) assert.equal((await readLog(node, PARTY, room)).length, 2, room);
  });

  test("a single stream with data, started with three partitions: refused the other way round", T, async () => {
    const single = { stream: "SINGLE", subject_prefix: "single" };
    const first = await partitionedNode(nats.url, "single-1", { ...single, partitions: 1 });
    assert.equal((await post(first, PARTY, "lobby", "kept")).status, 200);
    await first.stop();
    await assert.rejects(partitionedNode(nats.url, "single-3", { ...single, partitions: 3 }), (err) => {
      assert.match(err.message, /partyline exited \(code 1,/);
      assert.match(err.message, /nats\.partitions is 3 \(streams SINGLE-0 \.\. SINGLE-2\), but JetStream holds log streams of another partition count: SINGLE \(a single partition, 1 write\)/);
      assert.match(err.message, /Either start with nats\.partitions: 1 as before/);
      return true;
    });
    const again = await partitionedNode(nats.url, "single-again", { ...single, partitions: 1 });
    assert.deepEqual((await readLog(again, PARTY, "lobby")).map((e) => e.data), ["kept"]);
    await again.stop();
  });
});
