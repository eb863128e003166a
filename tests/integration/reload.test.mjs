// Hot reload against a real node: editing a party's script file reloads every
// live shard of that party and runs onStart again without dropping a
// connection; an edit that does not load (a syntax error, an error while it
// runs) keeps the running version and is logged with file and line; a party
// that could not start runs once its file is fixed; POST
// /v1/parties/:party/reload and SIGHUP reload at once.
//
// The script under test lives in a temporary directory so the test can edit
// it. Its onStart tells every connection of the shard which version started,
// so each client sees its shard reload.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { connect, httpFetch, startNats, startNode, tempDir, until } from "./harness.mjs";

const T = { timeout: 60000 };
// The node looks at script files once a second; on a loaded machine give it several.
const RELOAD_MS = 15000;

// A room script of version `version`: onStart greets every connection of the
// shard with "started <version> <room>", onMessage answers "<version>:<message>".
function roomScript(version) {
  return `-- live room, ${version}
local Room = {}

function Room.onStart(room)
  for _, conn in ipairs(room:connections()) do
    conn:send("started ${version} " .. room.id)
  end
end

function Room.onMessage(room, conn, message)
  conn:send("${version}:" .. message)
end

return Room
`;
}

describe("hot reload", () => {
  let nats;
  let node;
  let scriptFile;
  let lateFile;
  const clients = {};

  before(async () => {
    const dir = tempDir("reload");
    scriptFile = path.join(dir, "live.lua");
    fs.writeFileSync(scriptFile, roomScript("v1"));
    lateFile = path.join(dir, "late.lua");
    fs.writeFileSync(lateFile, "local Room = {}\nRoom.onRequest = function(room, req) return 'late' end\nreturn Room,\n");
    nats = await startNats();
    node = await startNode({
      natsUrl: nats.url,
      nodeId: "reload",
      parties: { live: scriptFile, other: "echo.lua", late: lateFile },
    });
    // Two shards of the party (rooms a and b), one with two connections, and a room of another party.
    clients.a1 = await connect(node.wsUrl("live", "a"));
    clients.a2 = await connect(node.wsUrl("live", "a"));
    clients.b = await connect(node.wsUrl("live", "b"));
    clients.other = await connect(node.wsUrl("other", "x"));
  });

  after(async () => {
    for (const client of Object.values(clients)) await client.close();
    await node?.stop();
    await nats?.stop();
  });

  // Each client of the live party answers `message` with "<version>:<message>".
  async function assertAnswers(version, message) {
    for (const name of ["a1", "a2", "b"]) {
      await clients[name].send(message);
      await clients[name].waitFor((m) => m.text === `${version}:${message}`);
    }
  }

  // Resolves once every client of the live party got its shard's "started" line `times` times.
  async function waitStarted(version, times = 1) {
    const rooms = { a1: "a", a2: "a", b: "b" };
    for (const [name, room] of Object.entries(rooms)) {
      const line = `started ${version} ${room}`;
      await until(() => clients[name].texts.filter((text) => text === line).length >= times, {
        timeoutMs: RELOAD_MS,
        what: `${name} to get "${line}" ${times} time(s); got ${JSON.stringify(clients[name].texts.slice(-6))}`,
      });
    }
  }

  function assertNothingClosed() {
    for (const [name, client] of Object.entries(clients)) assert.equal(client.closeInfo, null, `${name} was closed`);
  }

  test("editing the file reloads every live shard and reruns onStart, with every connection kept", T, async () => {
    await assertAnswers("v1", "before");
    fs.writeFileSync(scriptFile, roomScript("v2"));
    await waitStarted("v2");
    await assertAnswers("v2", "after");
    // Another party is not touched, and a shard started later runs the new version.
    await clients.other.send("still echoing");
    await clients.other.waitFor((m) => m.text === "still echoing");
    assert.ok(!clients.other.texts.some((text) => text.startsWith("started")));
    const late = await connect(node.wsUrl("live", "c"));
    await late.send("hi");
    await late.waitFor((m) => m.text === "v2:hi");
    await late.close();
    assertNothingClosed();
    assert.match(node.logs(), new RegExp(`msg="reloaded ${scriptFile}" room=live/a`));
    assert.match(node.logs(), new RegExp(`msg="reloaded ${scriptFile}" room=live/b`));
  });

  test("an edit with a syntax error keeps the running version and logs file and line", T, async () => {
    const broken = roomScript("v3").replace('conn:send("v3:" .. message)', 'conn:send("v3:" .. message');
    fs.writeFileSync(scriptFile, broken);
    const expected = `party live: the script does not load, the running version stays: ${scriptFile}:12: ')' expected (to close '(' at line 11) near 'end'`;
    await until(() => node.logs().includes(expected), { timeoutMs: RELOAD_MS, what: `the log line: ${expected}` });
    await assertAnswers("v2", "despite syntax");
    assertNothingClosed();
  });

  test("an edit that fails while it runs keeps the running version and logs file and line", T, async () => {
    const failing = roomScript("v4").replace("local Room = {}", "local Room = {}\nlocal settings = nil\nlocal size = settings.size");
    fs.writeFileSync(scriptFile, failing);
    const expected = `party live: the script does not load, the running version stays: ${scriptFile}:4: attempt to index a nil value (local 'settings')`;
    await until(() => node.logs().includes(expected), { timeoutMs: RELOAD_MS, what: `the log line: ${expected}` });
    await assertAnswers("v2", "despite error");
    assertNothingClosed();
  });

  test("POST /v1/parties/:party/reload refuses a broken file with 422 naming file and line", T, async () => {
    const res = await httpFetch(`${node.url}/v1/parties/live/reload`, { method: "POST" });
    assert.equal(res.status, 422);
    assert.equal(
      await res.text(),
      `reload failed, the running version stays: ${scriptFile}:4: attempt to index a nil value (local 'settings')\n`,
    );
    await assertAnswers("v2", "after refused post");
  });

  test("POST /v1/parties/:party/reload reloads at once, also an unchanged file", T, async () => {
    fs.writeFileSync(scriptFile, roomScript("v5"));
    await waitStarted("v5"); // the watcher's reload
    const res = await httpFetch(`${node.url}/v1/parties/live/reload`, { method: "POST" });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { reloaded: "live" });
    await waitStarted("v5", 2); // the file did not change: this one is the POST's
    await assertAnswers("v5", "after post");
    assertNothingClosed();

    const unknown = await httpFetch(`${node.url}/v1/parties/nosuch/reload`, { method: "POST" });
    assert.equal(unknown.status, 404);
  });

  test("a party whose script did not load at start runs once its file is fixed", T, async () => {
    const before = await httpFetch(node.httpUrl("late", "r"));
    assert.equal(before.status, 500);
    assert.equal(await before.text(), `party 'late' cannot run its script: ${lateFile}:4: unexpected symbol near <eof>\n`);
    fs.writeFileSync(lateFile, "local Room = {}\nRoom.onRequest = function(room, req) return 'late' end\nreturn Room\n");
    await until(async () => (await httpFetch(node.httpUrl("late", "r"))).status === 200, {
      timeoutMs: RELOAD_MS,
      what: "the fixed party to answer 200",
    });
    assert.equal(await (await httpFetch(node.httpUrl("late", "r"))).text(), "late");
  });

  test("SIGHUP reloads every party's script at once, and the node keeps running", T, async () => {
    node.signal("SIGHUP");
    await waitStarted("v5", 3);
    assert.match(node.logs(), /SIGHUP: reloading every party's script/);
    await assertAnswers("v5", "after sighup");
    await clients.other.send("echo after sighup");
    await clients.other.waitFor((m) => m.text === "echo after sighup");
    assert.ok(node.running);
    assertNothingClosed();
  });
});
