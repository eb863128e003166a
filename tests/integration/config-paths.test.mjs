// Relative script paths in a configuration file are relative to the file's folder, not to the
// working directory: a real node started in an unrelated folder, with --config named relative to
// that folder, runs the scripts its file names (a file edit reloads the script it found), and
// serves an example's own partyline.yaml as well; `check-config` prints the paths it resolved
// and names the folder a missing script was looked for in. A real nats-server and partyline.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { PARTYLINE_BIN, SCRIPTS_DIR, SOURCE_DIR, connect, startNats, startNodeWithConfig, tempDir, until } from "./harness.mjs";

const T = { timeout: 60000 };

describe("script paths relative to the configuration file", () => {
  // top/conf/node.yaml names ../rooms/echo.lua; the node runs in top/elsewhere.
  const top = tempDir("config-paths");
  const conf = path.join(top, "conf");
  const rooms = path.join(top, "rooms");
  const elsewhere = path.join(top, "elsewhere");
  const echo = path.join(rooms, "echo.lua");
  let nats;

  before(async () => {
    for (const dir of [conf, rooms, elsewhere]) fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(SCRIPTS_DIR, "echo.lua"), echo);
    fs.writeFileSync(path.join(conf, "node.yaml"), "parties:\n  echo: {script: ../rooms/echo.lua}\nlimits: {max_connections: 256}\n");
    nats = await startNats();
  });

  after(async () => {
    await nats?.stop();
  });

  test("a node started in another folder runs the script named from the file's folder, and reloads it", T, async () => {
    const node = await startNodeWithConfig("../conf/node.yaml", { natsUrl: nats.url, cwd: elsewhere });
    const client = await connect(node.wsUrl("echo", "lobby"));
    await client.send("hello");
    await client.waitFor((m) => m.text === "hello");

    // The node watches the file it resolved: an edit there is what it runs next.
    const edited = fs.readFileSync(echo, "utf8").replace(/room:broadcast\((\w+)\)/, 'room:broadcast("edited: " .. $1)');
    assert.notEqual(edited, fs.readFileSync(echo, "utf8"), "echo.lua broadcasts what it receives");
    fs.writeFileSync(echo, edited);
    await until(() => /msg="reloaded \S*echo\.lua" room=echo\/lobby/.test(node.logs()), {
      timeoutMs: 10000,
      what: "the reload of the edited script in the log",
    });
    const again = await connect(node.wsUrl("echo", "lobby"));
    await again.send("hi");
    await again.waitFor((m) => m.text === "edited: hi");
    await Promise.all([client.close(), again.close()]);
    await node.stop();
  });

  test("an example's own configuration is served from any working directory", T, async () => {
    const node = await startNodeWithConfig(path.join(SOURCE_DIR, "examples/counter/partyline.yaml"), { natsUrl: nats.url, cwd: elsewhere });
    assert.match(node.logs(), /listening on/);
    const client = await connect(node.wsUrl("counter", "from-elsewhere"));
    await client.waitFor((m) => m.text.length > 0);
    await client.close();
    await node.stop();
  });

  test("check-config prints the resolved paths, and names the folder a missing script was looked for in", T, () => {
    const ok = spawnSync(PARTYLINE_BIN, ["check-config", "../conf/node.yaml"], { cwd: elsewhere, encoding: "utf8", timeout: 15000 });
    assert.equal(ok.status, 0, ok.stderr);
    // The folder as the path names it, joined to the working directory, with nothing resolved.
    assert.ok(ok.stdout.includes(`script: ${elsewhere}/../conf/../rooms/echo.lua\n`), ok.stdout);

    // The old reading, relative to the working directory, finds nothing from the file's folder.
    fs.writeFileSync(path.join(conf, "old.yaml"), "parties:\n  echo: {script: rooms/echo.lua}\n");
    const old = spawnSync(PARTYLINE_BIN, ["check-config", "conf/old.yaml"], { cwd: top, encoding: "utf8", timeout: 15000 });
    assert.equal(old.status, 1);
    assert.equal(
      old.stderr,
      `conf/old.yaml:2: parties.echo.script: no such file 'rooms/echo.lua' (relative to ${conf}, the configuration file's folder)\n`,
    );
  });
});
