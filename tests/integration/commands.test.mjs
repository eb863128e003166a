// The commands room authors run before a node does: `partyline new NAME`
// writes a starter room, and `partyline check SCRIPT...` loads each script in
// the sandbox and reports syntax errors, errors while it runs, unknown handler
// names and handlers that are not functions, each with file and line, exiting
// 0 when every script is fine and 1 otherwise. `partyline check-config FILE`
// reports every error of a configuration at once, each with file and line, and
// `serve` refuses the same file printing the same errors. The real binary, no NATS.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";

import { PARTYLINE_BIN, tempDir } from "./harness.mjs";

const T = { timeout: 30000 };

function partyline(args, cwd) {
  const result = spawnSync(PARTYLINE_BIN, args, { cwd, encoding: "utf8", timeout: 15000 });
  assert.equal(result.error, undefined, `partyline ${args.join(" ")}: ${result.error?.message}`);
  return result;
}

describe("partyline new and check", () => {
  const dir = tempDir("commands");
  const write = (name, text) => fs.writeFileSync(path.join(dir, name), text);
  // `partyline check` on the scripts must exit 1 with exactly these lines on stderr.
  const checkFails = (scripts, ...lines) => {
    const result = partyline(["check", ...scripts], dir);
    assert.equal(result.status, 1);
    assert.equal(result.stderr, lines.map((line) => line + "\n").join(""));
    return result;
  };

  test("new writes NAME.lua, which check passes, and never overwrites it", T, () => {
    const made = partyline(["new", "lobby"], dir);
    assert.equal(made.status, 0, made.stderr);
    assert.match(made.stdout, /^wrote lobby\.lua\n/);
    const text = fs.readFileSync(path.join(dir, "lobby.lua"), "utf8");
    assert.match(text, /^-- lobby: a partyline room/);
    assert.match(text, /function Room\.onMessage\(room, conn, message\)/);

    const checked = partyline(["check", "lobby.lua"], dir);
    assert.equal(checked.status, 0, checked.stderr);
    assert.equal(checked.stdout, "lobby.lua: ok\n");

    write("lobby.lua", "-- mine\n");
    const again = partyline(["new", "lobby.lua"], dir);
    assert.equal(again.status, 1);
    assert.equal(again.stderr, "partyline: lobby.lua exists; not overwriting it\n");
    assert.equal(fs.readFileSync(path.join(dir, "lobby.lua"), "utf8"), "-- mine\n");
  });

  test("a syntax error is reported with file and line, exit 1", T, () => {
    write("syntax.lua", "local Room = {}\n\nfunction Room.onMessage(room, conn, m)\n  room:broadcast(m\nend\nreturn Room\n");
    const result = checkFails(["syntax.lua"], "syntax.lua:5: ')' expected (to close '(' at line 4) near 'end'");
    assert.equal(result.stdout, "");
  });

  test("an error while the script runs is reported with file and line, exit 1", T, () => {
    write("runtime.lua", "local Room = {}\nlocal config = nil\nRoom.size = config.size\nreturn Room\n");
    checkFails(["runtime.lua"], "runtime.lua:3: attempt to index a nil value (local 'config')");
  });

  test("an unknown handler name is reported with its line and the closest known name, exit 1", T, () => {
    write("unknown.lua", "local Room = {}\n\nfunction Room.onConect(room, conn) end\nfunction Room.tick() end\nreturn Room\n");
    checkFails(["unknown.lua"], "unknown.lua:3: unknown handler 'onConect'; did you mean 'onConnect'?", "unknown.lua:4: unknown handler 'tick'");
  });

  test("a handler that is not a function is reported with its line, exit 1", T, () => {
    write("mistyped.lua", "local Room = {}\nRoom.onMessage = \"hello\"\nRoom.onClose = 5\nreturn Room\n");
    checkFails(
      ["mistyped.lua"],
      "mistyped.lua:2: handler 'onMessage' must be a function, it is a string",
      "mistyped.lua:3: handler 'onClose' must be a function, it is a number",
    );
  });

  test("undefined globals and unknown room: and conn: methods are reported with their lines, exit 1", T, () => {
    write(
      "names.lua",
      [
        "local Room = {}",
        "local room",
        "function Room.onStart(r) room = r end",
        "function Room.onMessage(room, conn, m)",
        "  room:brodcast(m)",
        "  conn:sned(m)",
        "  prnt(m)",
        "  json.encode({})",
        "  counter = (counter or 0) + 1",
        "end",
        "function Room.onAlarm() room:setAlarn(10) end",
        "return Room",
        "",
      ].join("\n"),
    );
    checkFails(
      ["names.lua"],
      "names.lua:11: unknown method room:setAlarn(); did you mean room:setAlarm()?",
      "names.lua:5: unknown method room:brodcast(); did you mean room:broadcast()?",
      "names.lua:6: unknown method conn:sned(); did you mean conn:send()?",
      "names.lua:7: undefined global 'prnt'; did you mean 'print'?",
    );
  });

  test("a script that returns no table of handlers, or loops forever, is reported, exit 1", T, () => {
    write("nothing.lua", "local Room = {}\n");
    write("forever.lua", "local Room = {}\nwhile true do end\nreturn Room\n");
    checkFails(
      ["nothing.lua", "forever.lua"],
      "nothing.lua: the script must return a table of handlers, it returned a nil",
      "forever.lua:2: instruction budget of 10000000 exceeded",
    );
  });

  test("several scripts: each good one says ok, one bad one makes the exit 1", T, () => {
    write("good.lua", "return {onMessage = function(room, conn, m) room:broadcast(m) end}\n");
    const result = checkFails(
      ["good.lua", "missing.lua", "lobby.lua"],
      "missing.lua: cannot read the file",
      "lobby.lua: the script must return a table of handlers, it returned a nil",
    );
    assert.equal(result.stdout, "good.lua: ok\n");
  });

  test("without arguments both commands print their usage and exit 2", T, () => {
    const check = partyline(["check"], dir);
    assert.equal(check.status, 2);
    assert.equal(check.stderr, "usage: partyline check SCRIPT...\n");
    const made = partyline(["new"], dir);
    assert.equal(made.status, 2);
    assert.equal(made.stderr, "usage: partyline new NAME\n");
  });
});

describe("partyline check-config", () => {
  const dir = tempDir("check-config");
  const write = (name, text) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  const room = write("room.lua", "return {onMessage = function(room, conn, m) room:broadcast(m) end}\n");

  test("every error of the file is reported at once, each with file and line, exit 1; serve refuses it with the same lines", T, () => {
    const file = write(
      "bad.yaml",
      [
        "# three mistakes that do not depend on each other",
        "listen: 127.0.0.1:99999",
        "parties:",
        `  chat: {script: ${JSON.stringify(room)}}`,
        `  lost: {script: ${JSON.stringify(path.join(dir, "lost.lua"))}}`,
        "limits:",
        "  max_conections: 5",
        "",
      ].join("\n"),
    );
    const errors = [
      `${file}:2: listen: expected HOST:PORT with a port from 0 (any free port) to 65535 (HOST: empty for all interfaces, IPv4, [IPv6] or a name), got '127.0.0.1:99999'`,
      `${file}:5: parties.lost.script: no such file '${path.join(dir, "lost.lua")}'`,
      `${file}:7: unknown key 'limits.max_conections'; did you mean 'max_connections'?`,
    ];
    const check = partyline(["check-config", file], dir);
    assert.equal(check.status, 1);
    assert.equal(check.stdout, "");
    assert.equal(check.stderr, errors.map((line) => line + "\n").join(""));

    const serve = partyline(["serve", "--config", file], dir);
    assert.equal(serve.status, 2);
    assert.equal(serve.stderr, errors.map((line) => `partyline: ${line}\n`).join(""));
  });

  test("a file without errors prints ok and the configuration in effect, exit 0", T, () => {
    const file = write("good.yaml", `parties:\n  chat: {script: ${JSON.stringify(room)}}\nlimits: {max_connections: 5}\n`);
    const check = partyline(["check-config", file], dir);
    assert.equal(check.status, 0, check.stderr);
    assert.equal(check.stderr, "");
    assert.ok(check.stdout.startsWith(`${file}: ok\n`), check.stdout);
    assert.match(check.stdout, /max_connections: 5\n/);
  });

  test("without a file, or with two, it prints its usage and exits 2", T, () => {
    for (const args of [["check-config"], ["check-config", "a.yaml", "b.yaml"]]) {
      const result = partyline(args, dir);
      assert.equal(result.status, 2);
      assert.equal(result.stderr, "usage: partyline check-config FILE\n");
    }
  });
});
