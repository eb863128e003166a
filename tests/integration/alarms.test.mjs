// Alarms with real processes: partyline nodes on one nats-server and a room
// whose onRequest sets, cancels and reads its alarm (scripts/alarm.lua);
// onAlarm writes to the room's log, which the test reads through the history
// endpoint. An alarm lives in a JetStream key-value bucket, not in the shard:
// it runs once even when the node that set it is killed (another node wakes
// the room), when the shard went idle, and across a nats-server restart.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { httpFetch, sleep, startNats, startNode, until } from "./harness.mjs";
import { metricsOf, readLog } from "./fault-tools.mjs";

const T = { timeout: 90000 };
const PARTY = "alarm";
// A node without a shard of the room waits this long past the due time (AlarmScheduler).
const GRACE_MS = 2000;

let nats;
before(async () => {
  nats = await startNats();
});
after(async () => {
  await nats?.stop();
});

function alarmNode(nodeId, limits = {}) {
  return startNode({ natsUrl: nats.url, nodeId, parties: { [PARTY]: "alarm.lua" }, limits });
}

async function call(node, room, op, query) {
  const res = await httpFetch(node.httpUrl(PARTY, room, `/${op}`, query), op === "get" ? {} : { method: "POST", body: "" }, 15000);
  const body = await res.text();
  assert.equal(res.status, 200, `${op} on ${room}: ${body}`);
  return JSON.parse(body);
}

// What onAlarm wrote to the room's log.
async function alarmsRun(node, room) {
  return (await readLog(node, PARTY, room)).map((entry) => JSON.parse(entry.data));
}

describe("alarms on two nodes", () => {
  let a, b;
  before(async () => {
    [a, b] = await Promise.all([alarmNode("alarm-a"), alarmNode("alarm-b")]);
  });
  after(async () => {
    await Promise.all([a?.kill(), b?.kill()]);
  });

  test("an alarm runs once, when due, on the node with the room's shard", T, async () => {
    const room = "once";
    // Due in 2 s: the get right after the set finds it pending, however slow the machine.
    const { due } = await call(a, room, "set", { ms: "2000" });
    assert.deepEqual(await call(a, room, "get"), { due });
    const runs = await until(async () => (await alarmsRun(b, room)).length && alarmsRun(b, room), { timeoutMs: 10000, what: "onAlarm" });
    assert.equal(runs.length, 1);
    assert.equal(runs[0].node, "alarm-a");
    assert.ok(runs[0].at >= due, `ran at ${runs[0].at}, due ${due}`);
    assert.ok(runs[0].at < due + GRACE_MS, `ran ${runs[0].at - due} ms after due, a live shard's node should not wait the grace period`);
    await sleep(GRACE_MS + 1000);
    assert.equal((await alarmsRun(a, room)).length, 1, "run again");
    assert.deepEqual(await call(a, room, "get"), { due: null });
  });

  test("a cancelled alarm never runs; a replaced one runs at its new time only", T, async () => {
    // Due in 3 s: the cancel on the other node (which starts a shard there first) comes before it.
    const cancelled = await call(a, "cancelled", "set", { ms: "3000" });
    assert.deepEqual(await call(b, "cancelled", "cancel"), { cancelled: true });
    await call(a, "replaced", "set", { ms: "60000" });
    const { due } = await call(b, "replaced", "set", { ms: "800" });
    await until(async () => (await alarmsRun(a, "replaced")).length === 1, { timeoutMs: 10000, what: "the replacing alarm" });
    // Past the grace period after the replaced alarm ran, and after the cancelled one was due.
    await sleep(Math.max(GRACE_MS + 1000, cancelled.due + GRACE_MS + 1000 - Date.now()));
    assert.deepEqual(await alarmsRun(a, "cancelled"), []);
    const runs = await alarmsRun(a, "replaced");
    assert.equal(runs.length, 1);
    assert.ok(runs[0].at >= due);
    assert.deepEqual(await call(a, "replaced", "get"), { due: null }, "the replaced 60 s alarm is still pending");
  });

  test("with shards of the room on both nodes, each of 10 alarms runs exactly once", T, async (t) => {
    const rooms = Array.from({ length: 10 }, (_, i) => `both-${i}`);
    const firedBefore = async () => {
      const [ma, mb] = await Promise.all([metricsOf(a), metricsOf(b)]);
      return ma.partyline_alarms_fired_total + mb.partyline_alarms_fired_total;
    };
    const before = await firedBefore();
    await Promise.all(rooms.map((room) => call(b, room, "get")));
    await Promise.all(rooms.map((room) => call(a, room, "set", { ms: "700" })));
    for (const room of rooms) await until(async () => (await alarmsRun(a, room)).length > 0, { timeoutMs: 10000, what: room });
    await sleep(GRACE_MS + 1000);
    const byNode = { "alarm-a": 0, "alarm-b": 0 };
    for (const room of rooms) {
      const runs = await alarmsRun(a, room);
      assert.equal(runs.length, 1, `${room}: ${JSON.stringify(runs)}`);
      byNode[runs[0].node]++;
    }
    assert.equal((await firedBefore()) - before, rooms.length);
    t.diagnostic(`10 alarms, shards on both nodes: ${byNode["alarm-a"]} ran on a, ${byNode["alarm-b"]} on b`);
  });
});

describe("alarms outlive shards, nodes and the nats-server", () => {
  test("an alarm set on a node that is then killed runs once, on another node", T, async (t) => {
    const [a, b] = await Promise.all([alarmNode("doomed-a"), alarmNode("survivor-b")]);
    try {
      const { due } = await call(a, "orphan", "set", { ms: "2000" });
      await a.kill();
      const runs = await until(async () => {
        const log = await alarmsRun(b, "orphan");
        return log.length && log;
      }, { timeoutMs: 15000, what: "onAlarm on the surviving node" });
      assert.equal(runs[0].node, "survivor-b");
      assert.equal(runs[0].starts, 1, "the room was woken: onStart ran first");
      assert.ok(runs[0].at >= due);
      await sleep(GRACE_MS + 1000);
      assert.equal((await alarmsRun(b, "orphan")).length, 1);
      t.diagnostic(`set on a (killed), run on b ${runs[0].at - due} ms after due`);
    } finally {
      await Promise.all([a.kill(), b.kill()]);
    }
  });

  test("an alarm outlives its shard going idle: the room is woken to run it", T, async () => {
    const node = await alarmNode("idle", { idle_room_seconds: 1 });
    try {
      // The idle shard closes after 1 s, on the next 1 s sweep; the alarm is due well after that.
      const { due } = await call(node, "sleepy", "set", { ms: "6000" });
      await until(async () => (await metricsOf(node)).partyline_rooms === 0, { timeoutMs: 10000, what: "the idle shard to close" });
      assert.deepEqual(await alarmsRun(node, "sleepy"), [], "precondition: the alarm ran before its shard went idle");
      const runs = await until(async () => {
        const log = await alarmsRun(node, "sleepy");
        return log.length && log;
      }, { timeoutMs: 15000, what: "onAlarm after the shard closed" });
      assert.equal(runs.length, 1);
      assert.ok(runs[0].at >= due);
      assert.equal((await metricsOf(node)).partyline_alarms_fired_total, 1);
    } finally {
      await node.kill();
    }
  });

  test("an alarm set before the nats-server restarts runs once after", T, async () => {
    const node = await alarmNode("nats-restart");
    try {
      const { due } = await call(node, "restart", "set", { ms: "3000" });
      await nats.kill();
      await until(async () => (await httpFetch(`${node.url}/readyz`)).status === 503, {
        timeoutMs: 10000,
        what: "the node to see nats-server gone",
      });
      await nats.restart();
      const runs = await until(async () => {
        const log = await alarmsRun(node, "restart");
        return log.length && log;
      }, { timeoutMs: 20000, what: "onAlarm after the restart" });
      assert.ok(runs[0].at >= due);
      await sleep(GRACE_MS + 1000);
      assert.equal((await alarmsRun(node, "restart")).length, 1);
    } finally {
      await node.kill();
    }
  });
});
