// The sandbox against a real node: one room's runaway script (an endless loop
// on every message) is stopped by the instruction budget each time and does
// not hold up another room's messages while it runs; the runaway room's shard
// keeps serving after each stop. A memory bomb is stopped by the memory cap
// and leaves the node and its other rooms working. Each stop is logged with
// the script's file and line. What a script changes in its own state (a
// string method, a global) does not reach another room, and what it returns
// is read without running its metamethods outside the handler.

import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";

import { pidOfNode } from "./fault-tools.mjs";
import { connect, httpFetch, scriptPath, sleep, startNats, startNode, until } from "./harness.mjs";

const T = { timeout: 120000 };
const RUNAWAY = scriptPath("runaway.lua");
const BUDGET = 10000000; // limits.lua_instructions_per_call, the default
const MEMORY = 16777216; // limits.lua_memory_bytes, the default
// The neighbour's echoes during the runaway: one per 10 ms at most (100/s, a tenth of
// limits.max_messages_per_second, 1000/s by default), 1,500 at most (limits.message_burst is 2,000).
const ECHO_EVERY_MS = 10;
const MAX_ECHOES = 1500;
// The line of runaway.lua holding `text`, as the node's errors name it.
const lineOf = (text) => fs.readFileSync(RUNAWAY, "utf8").split("\n").findIndex((line) => line.includes(text)) + 1;
const SPIN_LINE = lineOf("while true do end");
const BOMB_LINE = lineOf('string.rep("x", 1024)');

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rssBytes = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1]) * 1024;

describe("sandbox limits on a real node", () => {
  let nats;
  let node;

  before(async () => {
    nats = await startNats();
    node = await startNode({ natsUrl: nats.url, nodeId: "sandbox", parties: { runaway: "runaway.lua", echo: "echo.lua" } });
  });

  after(async () => {
    await node?.stop();
    await nats?.stop();
  });

  // Sends `text` and resolves with the milliseconds until `answer` came back.
  async function roundTrip(client, text, answer = text, timeoutMs = 30000) {
    const start = performance.now();
    await client.send(text);
    await client.waitFor((m) => m.text === answer, timeoutMs);
    return performance.now() - start;
  }

  function stopsLogged(what) {
    return node.logs().split("\n").filter((line) => line.includes(what)).length;
  }

  test("a runaway loop is stopped each time, other rooms' messages go on meanwhile, and its shard keeps serving", T, async () => {
    const runaway = await connect(node.wsUrl("runaway", "spinner"));
    const echo = await connect(node.wsUrl("echo", "neighbour"));
    await roundTrip(echo, "warm-up");
    await roundTrip(runaway, "first", "pong:first");

    // One stop: how long the budget lets a runaway handler run on this machine now.
    const stopMs = await (async () => {
      const start = performance.now();
      await runaway.send("spin");
      await runaway.send("after-one");
      await runaway.waitFor((m) => m.text === "pong:after-one", 30000);
      return performance.now() - start;
    })();

    // Enough stops back to back to keep the runaway shard busy for about 3 s.
    const spins = Math.min(200, Math.max(10, Math.ceil(3000 / stopMs)));
    const where = `runaway.lua:${SPIN_LINE}: instruction budget of ${BUDGET} exceeded`;
    const stopsBefore = stopsLogged(where);
    const start = performance.now();
    for (let i = 0; i < spins; i++) await runaway.send("spin");
    await runaway.send("after-all");
    let runawayDone = false;
    const runawayFinished = runaway.waitFor((m) => m.text === "pong:after-all", 120000).then(() => {
      runawayDone = true;
      return performance.now() - start;
    });

    // The neighbour's echoes, one after another, while the runaway runs: at most one per
    // ECHO_EVERY_MS, however fast the machine answers, and at most MAX_ECHOES of them, fewer
    // than limits.message_burst, so the node's message rate limit can never close the client.
    const during = [];
    for (let i = 0; !runawayDone && i < MAX_ECHOES; i++) {
      const sent = performance.now();
      const ms = await roundTrip(echo, `echo-${i}`);
      if (!runawayDone) during.push(ms);
      const rest = ECHO_EVERY_MS - (performance.now() - sent);
      if (rest > 0 && !runawayDone) await sleep(rest);
    }
    const windowMs = await runawayFinished;
    console.log(
      `one stop ${stopMs.toFixed(0)} ms; ${spins} stops took ${windowMs.toFixed(0)} ms; ` +
        `${during.length} echoes meanwhile, median ${median(during).toFixed(1)} ms, slowest ${Math.max(...during).toFixed(1)} ms`,
    );

    await until(() => stopsLogged(where) >= stopsBefore + spins, { what: `${spins} log lines "${where}"` });
    assert.ok(during.length >= 5, `only ${during.length} echoes completed during ${windowMs.toFixed(0)} ms of runaway`);
    // Held up behind the runaway, an echo would wait for the rest of the window (seconds).
    assert.ok(median(during) < stopMs, `median echo ${median(during)} ms, one budget stop ${stopMs} ms`);
    assert.ok(Math.max(...during) < windowMs / 3, `slowest echo ${Math.max(...during)} ms of a ${windowMs} ms runaway`);
    assert.match(node.logs(), new RegExp(`msg="${RUNAWAY}:${SPIN_LINE}: instruction budget[^\n]*room=runaway/spinner handler=onMessage`));

    // The runaway room's shard keeps serving, and so does everything else.
    await roundTrip(runaway, "still there", "pong:still there");
    await roundTrip(echo, "after");
    await runaway.close();
    await echo.close();
  });

  test("memory bombs in several rooms are stopped by the cap; the node and its other rooms keep working", T, async () => {
    const pid = pidOfNode(node);
    const echo = await connect(node.wsUrl("echo", "bystander"));
    await roundTrip(echo, "before");
    const rssBefore = rssBytes(pid);
    const where = `runaway.lua:${BOMB_LINE}: memory cap of ${MEMORY} bytes exceeded`;
    const stopsBefore = stopsLogged(where);

    const bombers = [];
    for (let i = 0; i < 4; i++) bombers.push(await connect(node.wsUrl("runaway", `bomb-${i}`)));
    for (let round = 0; round < 3; round++) {
      await Promise.all(bombers.map((client) => client.send("bomb")));
      await roundTrip(echo, `during-${round}`);
    }
    for (const [i, client] of bombers.entries()) await roundTrip(client, `alive-${i}`, `pong:alive-${i}`);
    await until(() => stopsLogged(where) >= stopsBefore + 12, { what: `12 log lines "${where}"` });

    const grownMiB = (rssBytes(pid) - rssBefore) / (1 << 20);
    console.log(`node RSS grew ${grownMiB.toFixed(1)} MiB over 12 bombs in 4 rooms`);
    // Each bomb would take all the memory there is; capped, 4 rooms hold at most 4 x 16 MiB of Lua heap.
    assert.ok(grownMiB < 256, `node RSS grew ${grownMiB.toFixed(1)} MiB`);
    assert.equal((await httpFetch(`${node.url}/healthz`)).status, 200);
    await roundTrip(echo, "after");
    for (const client of bombers) await client.close();
    await echo.close();
  });

  test("an answer whose metatable raises is read without calling it, and the node stays up", T, async () => {
    for (let i = 0; i < 3; i++) {
      const res = await httpFetch(node.httpUrl("runaway", "trap"));
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "read raw");
    }
    assert.equal((await httpFetch(`${node.url}/healthz`)).status, 200);
    assert.ok(node.running);
  });

  test("a string method or global a room's script replaces stays in that room", T, async () => {
    const tamperer = await connect(node.wsUrl("runaway", "tamperer"));
    const other = await connect(node.wsUrl("runaway", "unaware"));
    await roundTrip(tamperer, "tamper", "tampered");
    await roundTrip(tamperer, "probe", "tampered set");
    await roundTrip(other, "probe", "ABC nil");
    await tamperer.close();
    await other.close();
  });
});
