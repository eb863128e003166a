// nats.storage: memory keeps the log's streams in nats-server's memory (the storage and alarm
// buckets stay on file): the stream says so, writes, live delivery and replay work as on file,
// and a node started over a stream stored the other way refuses with what to do. A restart of
// nats-server loses a memory log, and the node starts the log again (a new epoch).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { connect, startNats, startNode, until } from "./harness.mjs";
import { jetStreamApi, post, readLog } from "./fault-tools.mjs";

const T = { timeout: 120000 };
const PARTY = "log";

function nodeWith(natsUrl, nodeId, nats) {
  return startNode({ nodeId, parties: { [PARTY]: "log-room.lua" }, config: { nats: { url: natsUrl, ...nats } } });
}

describe("nats.storage", () => {
  let nats;
  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    await nats?.stop();
  });

  test("memory: the streams are in memory, the buckets on file; writes, live delivery and since as on file", T, async () => {
    const node = await nodeWith(nats.url, "memory-1", { stream: "MEMLOG", subject_prefix: "mem", storage: "memory", partitions: 2 });
    try {
      for (const name of ["MEMLOG-0", "MEMLOG-1"]) {
        const info = await jetStreamApi(nats.port, `STREAM.INFO.${name}`);
        assert.equal(info.config?.storage, "memory", `${name}: ${JSON.stringify(info.error ?? info.config)}`);
      }
      for (const name of ["KV_PARTYLINE_ALARMS-0", "KV_PARTYLINE_ALARMS-1"]) {
        const bucket = await jetStreamApi(nats.port, `STREAM.INFO.${name}`);
        assert.equal(bucket.config?.storage, "file", `${name} stays on file: ${JSON.stringify(bucket.error ?? bucket.config)}`);
      }

      const live = await connect(node.wsUrl(PARTY, "kept", { _pk: "live" }));
      const seqs = [];
      for (const body of ["m-1", "m-2", "m-3"]) {
        const answer = await post(node, PARTY, "kept", body);
        assert.equal(answer.status, 200, answer.body);
        seqs.push(answer.json.seq);
      }
      await live.waitFor((m) => m.text === "m-3", 10000);
      assert.deepEqual((await readLog(node, PARTY, "kept")).map((e) => e.data), ["m-1", "m-2", "m-3"]);
      const late = await connect(node.wsUrl(PARTY, "kept", { _pk: "late", since: String(seqs[0]) }), { protocols: ["partyline.v1"] });
      await late.waitFor((m) => m.text.includes('"m-3"'), 10000);
      await Promise.all([live.close(), late.close()]);
    } finally {
      await node.stop();
    }
  });

  test("a node over a stream stored the other way refuses, saying what to do; the stream is unchanged", T, async () => {
    const onFile = await nodeWith(nats.url, "file-1", { stream: "FILELOG", subject_prefix: "file" });
    assert.equal((await post(onFile, PARTY, "lobby", "on file")).status, 200);
    await onFile.stop();
    await assert.rejects(nodeWith(nats.url, "memory-2", { stream: "FILELOG", subject_prefix: "file", storage: "memory" }), (err) => {
      assert.match(err.message, /partyline exited \(code 1,/);
      assert.match(err.message, /stream FILELOG is stored in file but nats\.storage is memory: JetStream cannot change a stream's storage\. Keep nats\.storage: file, or delete the stream/);
      return true;
    });
    const info = await jetStreamApi(nats.port, "STREAM.INFO.FILELOG");
    assert.equal(info.config.storage, "file");
    assert.equal(info.state.messages, 1, "the refused start changed nothing");
  });

  test("memory: nats-server restarted loses the log; the node starts it again under a new epoch", T, async () => {
    const node = await nodeWith(nats.url, "memory-3", { stream: "VOLATILE", subject_prefix: "vol", storage: "memory" });
    try {
      assert.equal((await post(node, PARTY, "gone", "before")).status, 200);
      const before = await jetStreamApi(nats.port, "STREAM.INFO.VOLATILE");
      await nats.restart();
      let answer;
      await until(async () => (answer = await post(node, PARTY, "gone", "after")).status === 200, { timeoutMs: 30000, what: "writes taken again" });
      const now = await jetStreamApi(nats.port, "STREAM.INFO.VOLATILE");
      assert.notEqual(now.created, before.created, "the stream was created again");
      assert.deepEqual((await readLog(node, PARTY, "gone")).map((e) => e.data), ["after"]);
    } finally {
      await node.stop();
    }
  });
});
