// The Debian package: `cpack` makes partyline_<version>_amd64.deb from the build, it is unpacked
// into a scratch root (dpkg-deb -x, no installation), its Depends are exactly the Dockerfile's
// runtime packages, it holds the binary, the examples, the configurations and the systemd unit,
// and the unpacked binary serves the shipped configuration's example room on a real nats-server.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { bindFailed, connect, freePort, httpFetch, PARTYLINE_BIN, SOURCE_DIR, startNats, tempDir, until } from "./harness.mjs";

const T = { timeout: 120000 };

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: "utf8", timeout: 60000, ...options });
  assert.equal(result.error, undefined, `${command} ${args.join(" ")}: ${result.error?.message}`);
  assert.equal(result.status, 0, `${command} ${args.join(" ")}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

// The packages the Dockerfile's runtime stage installs (its last apt-get install list).
function dockerfileRuntimePackages() {
  const text = fs.readFileSync(path.join(SOURCE_DIR, "Dockerfile"), "utf8");
  const stage = text.slice(text.lastIndexOf("\nFROM "));
  const install = stage.match(/apt-get install -y --no-install-recommends \\\n([^&]*)&&/);
  assert.ok(install, "the Dockerfile's runtime stage installs packages");
  return install[1].replace(/\\\n/g, " ").trim().split(/\s+/);
}

describe("the Debian package", () => {
  const dir = tempDir("package");
  const root = path.join(dir, "root");
  let deb;
  let nats;
  const children = [];

  before(async () => {
    const build = path.dirname(PARTYLINE_BIN);
    run("cpack", ["--config", path.join(build, "CPackConfig.cmake"), "-B", path.join(dir, "out")]);
    deb = fs.readdirSync(path.join(dir, "out")).find((name) => /^partyline_.*_amd64\.deb$/.test(name));
    assert.ok(deb, "cpack made partyline_<version>_amd64.deb");
    deb = path.join(dir, "out", deb);
    run("dpkg-deb", ["-x", deb, root]);
    nats = await startNats();
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    await nats?.stop();
  });

  test("its Depends are the Dockerfile's runtime packages, and it holds what a node needs", T, () => {
    const depends = run("dpkg-deb", ["-f", deb, "Depends"]).trim().split(/,\s*/);
    assert.deepEqual(depends, dockerfileRuntimePackages());
    for (const file of [
      "usr/bin/partyline",
      "usr/share/partyline/examples/chat/room.lua",
      "usr/share/partyline/examples/chat/public/index.html",
      "etc/partyline/partyline.yaml",
      "etc/partyline/cluster.yaml",
      "etc/partyline/examples/chat/room.lua",
      "lib/systemd/system/partyline.service",
    ])
      assert.ok(fs.existsSync(path.join(root, file)), file);
    const unit = fs.readFileSync(path.join(root, "lib/systemd/system/partyline.service"), "utf8");
    assert.match(unit, /^ExecStart=\/usr\/bin\/partyline serve --config \/etc\/partyline\/partyline\.yaml$/m);
    assert.match(unit, /^User=partyline$/m);
    const control = run("dpkg-deb", ["-I", deb]);
    assert.match(control, /postinst/);
    assert.match(control, /conffiles/);
    const libraries = run("ldd", [path.join(root, "usr/bin/partyline")]);
    assert.doesNotMatch(libraries, /not found/);
  });

  test("the unpacked binary serves the shipped configuration's example room", T, async () => {
    // As the unit runs it, in a working directory of its own; the configuration's
    // examples/chat/room.lua is relative to its folder, whose examples links to the installed ones.
    const work = path.join(dir, "var-lib-partyline");
    fs.mkdirSync(work, { recursive: true });
    let port;
    let child;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      let output = "";
      child = spawn(
        path.join(root, "usr/bin/partyline"),
        ["serve", "--config", path.join(root, "etc/partyline/partyline.yaml"), "--listen", `127.0.0.1:${port}`,
         "--nats-url", nats.url, "--data", path.join(work, ".partyline")],
        { cwd: work, stdio: ["ignore", "pipe", "pipe"] },
      );
      children.push(child);
      child.stdout.on("data", (d) => (output += d));
      child.stderr.on("data", (d) => (output += d));
      try {
        await until(async () => (await httpFetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200,
          { timeoutMs: 15000, what: "/readyz" });
        break;
      } catch (err) {
        child.kill("SIGKILL");
        if (attempt < 3 && bindFailed(output)) continue;
        throw new Error(`${err.message}\n${output.slice(-3000)}`);
      }
    }
    const client = await connect(`ws://127.0.0.1:${port}/parties/main/lobby`);
    await client.waitFor((m) => m.text.includes('"welcome"'));
    client.close();
    const page = await httpFetch(`http://127.0.0.1:${port}/chat/`);
    assert.equal(page.status, 200);
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
  });
});
