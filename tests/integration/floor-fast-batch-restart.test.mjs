// partyline-jetstream-floor's fast-ingest batches (nats-server 2.14+) when nats-server is killed
// (SIGKILL) in the middle and restarted on its port and store directory: every write is
// acknowledged, by its batch's PubAck or, for a batch the restarted server no longer knows,
// by a PubAck of its own when sent again alone with its message id; and the stream's last
// sequence equals the number of writes, so none was stored twice or left out. Real nats-server
// (the newest installed, or NATS_SERVER_BIN), the floor binary next to PARTYLINE_BIN. On a server
// older than 2.14 the floor refuses the mode (exit 2), which tests/bench/floor-fast-batch.sh
// checks; this test then only checks that refusal.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { after, test } from "node:test";

import { PARTYLINE_BIN, cleanupAll, natsServerBin, startNats, withTimeout } from "./harness.mjs";

const FLOOR = path.join(path.dirname(PARTYLINE_BIN), "partyline-jetstream-floor");
const COUNT = 200000;

const floors = [];
after(async () => {
  for (const proc of floors) if (proc.exitCode === null) proc.kill("SIGKILL");
  await cleanupAll();
});

function serverVersion() {
  const printed = spawnSync(natsServerBin(), ["--version"], { encoding: "utf8" }).stdout || "";
  return (printed.match(/(\d+)\.(\d+)\.(\d+)/) || []).slice(1, 4).map(Number);
}

// Runs the floor; resolves with its exit code and output. `onLine` sees each stdout line.
function runFloor(args, onLine = () => {}) {
  const proc = spawn(FLOOR, args, { stdio: ["ignore", "pipe", "pipe"] });
  floors.push(proc);
  let out = "";
  let partial = "";
  proc.stdout.setEncoding("utf8");
  proc.stderr.setEncoding("utf8");
  proc.stdout.on("data", (chunk) => {
    out += chunk;
    const lines = (partial + chunk).split("\n");
    partial = lines.pop();
    for (const line of lines) onLine(line);
  });
  proc.stderr.on("data", (chunk) => (out += chunk));
  const exited = new Promise((resolve) => proc.once("exit", (code) => resolve({ code, out })));
  return { proc, exited };
}

test("fast batches across a nats-server kill and restart: every write acknowledged and stored once", async (t) => {
  const [major, minor] = serverVersion();
  const nats = await startNats();
  if (major < 2 || (major === 2 && minor < 14)) {
    const { code, out } = await withTimeout(runFloor([nats.url, "--fast-batch", "100"]).exited, 30000, "floor");
    assert.equal(code, 2, out);
    assert.match(out, /need nats-server 2\.14 or newer/);
    return;
  }
  let restarted = null;
  const run = runFloor(
    [nats.url, "--count", String(COUNT), "--window", "1600", "--fast-batch", "100", "--progress", String(COUNT / 4)],
    (line) => {
      // A quarter of the writes acknowledged: the server dies with batches in flight.
      if (line.startsWith("acknowledged ") && !restarted) {
        restarted = (async () => {
          await nats.kill();
          await nats.restart();
        })();
      }
    },
  );
  const { code, out } = await withTimeout(run.exited, 240000, "the floor to finish");
  assert.ok(restarted, `the floor finished before a quarter of its writes was acknowledged:\n${out}`);
  await restarted;
  t.diagnostic(out.trim().split("\n").join(" | "));
  assert.equal(code, 0, out);
  assert.match(out, new RegExp(`^${COUNT} acknowledged writes`, "m"));
  assert.match(out, new RegExp(`^stream: last sequence ${COUNT} for ${COUNT} writes$`, "m"));
});
