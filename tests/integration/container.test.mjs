// The container image, without a Docker engine: the Dockerfile's last stage replayed in a chroot.
// A Debian root made by `debootstrap --variant=minbase` (the suite of the stage's FROM, from the
// mirror this machine's apt uses) gets the stage's package RUN, run as written by apt-get in the
// chroot, then its COPY instructions (the built binary, the examples, the configurations) and its
// other RUN instructions (the examples link in /etc/partyline, the unprivileged user and its
// folders) in order. `partyline serve` then runs in it as the stage's USER in its WORKDIR, against
// a nats-server the test starts outside the chroot on loopback; /readyz answers and two `ws`
// clients chat in a room of the chat example. Everything is read from the Dockerfile, so a
// library the binary needs and the image lacks fails here. The roots are kept in the build folder
// as two layers, the suite's minbase root and that root after the package RUN (keyed by the RUN's
// text), so a second run copies one instead of fetching anything; each run removes its copy.
//
// Needs root (debootstrap, chroot) and the Debian mirror: ctest gives it the label container,
// so `ctest -LE container` leaves it out where those are missing. Nothing is mounted in the
// chroot; whatever debootstrap leaves mounted after a failure is unmounted before any removal.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import {
  PARTYLINE_BIN,
  SOURCE_DIR,
  TEST_LIMITS,
  connect,
  httpFetch,
  sleep,
  startNats,
  toYaml,
  withTimeout,
} from "./harness.mjs";

const T = { timeout: 120000 };
// debootstrap and apt-get fetch and unpack a few hundred packages on the first run.
const SETUP_TIMEOUT_MS = 1500000;
const BUILD_DIR = path.dirname(PARTYLINE_BIN);
const CACHE_DIR = path.join(BUILD_DIR, "container-roots");

// ---------------------------------------------------------------------------
// The Dockerfile

// The instructions of the Dockerfile's stages: [{from, workdir, steps: [{op, text}]}], with
// continuation lines joined and comments left out.
function dockerfileStages() {
  const lines = fs.readFileSync(path.join(SOURCE_DIR, "Dockerfile"), "utf8").split("\n");
  const instructions = [];
  let current = "";
  for (const line of lines) {
    if (!current && (/^\s*#/.test(line) || !line.trim())) continue;
    if (current && /^\s*#/.test(line)) continue;
    current += (current ? "\n" : "") + line;
    if (line.endsWith("\\")) continue;
    instructions.push(current);
    current = "";
  }
  const stages = [];
  for (const instruction of instructions) {
    const match = instruction.match(/^(\w+)\s+([\s\S]*)$/);
    assert.ok(match, `a Dockerfile instruction: ${instruction}`);
    const op = match[1].toUpperCase();
    // As Docker does: an escaped line end joins the lines.
    const text = match[2].replace(/\\\n/g, "").trim();
    if (op === "FROM") stages.push({ from: text.split(/\s+/)[0], name: text.split(/\s+AS\s+/i)[1], workdir: "/", steps: [] });
    else {
      assert.ok(stages.length, `${op} before FROM in the Dockerfile`);
      const stage = stages.at(-1);
      if (op === "WORKDIR") stage.workdir = path.posix.resolve(stage.workdir, text);
      stage.steps.push({ op, text });
    }
  }
  return stages;
}

// An exec-form (JSON) or shell-form argument list of COPY, ENTRYPOINT or CMD.
function argumentsOf(text) {
  return text.startsWith("[") ? JSON.parse(text) : text.split(/\s+/);
}

// What the image is made of: the suite, the package RUN, and the instructions after it.
function imagePlan() {
  const stages = dockerfileStages();
  const runtime = stages.at(-1);
  const suite = runtime.from.match(/^debian:([a-z]+)/)?.[1];
  assert.ok(suite, `the runtime stage starts FROM debian:<suite>, not ${runtime.from}`);
  const install = runtime.steps.findIndex((step) => step.op === "RUN" && /apt-get\b[\s\S]*\binstall\b/.test(step.text));
  assert.ok(install >= 0, "the runtime stage installs its packages with apt-get install");
  const packageRun = runtime.steps[install].text;
  const words = packageRun.slice(packageRun.search(/\binstall\b/) + "install".length).split("&&")[0].split(/\s+/);
  const packages = words.filter((word) => word && !word.startsWith("-"));
  assert.ok(packages.length > 0, "the runtime stage's apt-get install names packages");
  const stagesByName = Object.fromEntries(stages.filter((stage) => stage.name).map((stage) => [stage.name, stage]));
  return { suite, packageRun, packages, later: runtime.steps.slice(install + 1), stagesByName };
}

// Where a COPY source is on this machine. The build stage copies the repository into its WORKDIR
// and builds into build/ there; a source of the build context is the repository's own.
function copySource(source, from, stagesByName) {
  if (!from) return path.join(SOURCE_DIR, source);
  const stage = stagesByName[from];
  assert.ok(stage, `COPY --from=${from}: no such stage`);
  const relative = path.posix.relative(stage.workdir, source);
  assert.ok(!relative.startsWith(".."), `COPY --from=${from} ${source}: outside ${stage.workdir}`);
  if (relative === "build" || relative.startsWith("build/")) return path.join(BUILD_DIR, relative.slice("build".length));
  return path.join(SOURCE_DIR, relative);
}

// ---------------------------------------------------------------------------
// The root

// The mirror apt uses here for the suite's main component: a sources.list line
// (`deb URL SUITE main`) or a deb822 stanza in sources.list.d/*.sources.
function debianMirror(suite) {
  const files = ["/etc/apt/sources.list"];
  const listDir = "/etc/apt/sources.list.d";
  if (fs.existsSync(listDir))
    for (const name of fs.readdirSync(listDir).sort()) if (/\.(list|sources)$/.test(name)) files.push(path.join(listDir, name));
  for (const file of files) {
    if (!fs.existsSync(file)) continue;
    const text = fs.readFileSync(file, "utf8");
    if (file.endsWith(".sources")) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name) => stanza.match(new RegExp(`^${name}:\\s*(.*)$`, "mi"))?.[1].trim().split(/\s+/) ?? [];
        if (field("Types").includes("deb") && field("Suites").includes(suite) && field("Components").includes("main"))
          return field("URIs")[0];
      }
    } else {
      for (const line of text.split("\n")) {
        const words = line.replace(/#.*/, "").replace(/\[[^\]]*\]/, "").trim().split(/\s+/);
        if (words[0] === "deb" && words[2] === suite && words.slice(3).includes("main")) return words[1];
      }
    }
  }
  assert.fail(`no deb source for ${suite} main in /etc/apt/sources.list or /etc/apt/sources.list.d`);
}

function run(command, args, { timeout = 120000, env } = {}) {
  const result = spawnSync(command, args, { encoding: "utf8", timeout, env, maxBuffer: 64 * 1024 * 1024 });
  assert.equal(result.error, undefined, `${command} ${args.join(" ")}: ${result.error?.message}`);
  assert.equal(result.status, 0, `${command} ${args.join(" ")} exited ${result.status}:\n${(result.stdout + result.stderr).slice(-4000)}`);
  return result.stdout;
}

// The mount points at or under `dir`, deepest first.
function mountsUnder(dir) {
  const mounts = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n");
  const points = mounts.map((line) => line.split(" ")[4]).filter(Boolean)
    .map((point) => point.replace(/\\(\d{3})/g, (_, octal) => String.fromCharCode(parseInt(octal, 8))));
  return points.filter((point) => point === dir || point.startsWith(dir + "/")).sort((a, b) => b.length - a.length);
}

// Unmounts what is mounted under `dir` (debootstrap mounts /proc and /sys in its target while it
// works, and a failure can leave them), then removes it without crossing into another file system.
function removeRoot(dir) {
  if (!fs.existsSync(dir)) return;
  for (const point of mountsUnder(dir)) spawnSync("umount", ["--lazy", point]);
  const left = mountsUnder(dir);
  assert.deepEqual(left, [], `still mounted under ${dir}; not removing it`);
  spawnSync("rm", ["-rf", "--one-file-system", dir]);
}

// A root made by `make(partial)` once and kept under `name` in the build folder: it is made in a
// folder of its own and renamed when whole, so a run that stops half way leaves nothing reused.
function cached(name, make) {
  const root = path.join(CACHE_DIR, name);
  if (fs.existsSync(path.join(root, ".partyline-root-complete"))) return root;
  removeRoot(root);
  const partial = `${root}.partial-${process.pid}`;
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  try {
    make(partial);
    fs.writeFileSync(path.join(partial, ".partyline-root-complete"), `${name}\n`);
    fs.renameSync(partial, root);
  } finally {
    removeRoot(partial);
  }
  return root;
}

const CHROOT_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", DEBIAN_FRONTEND: "noninteractive", LANG: "C.UTF-8" };

// The root after the package RUN, in two layers as an image has them: the minbase root of the
// suite, then that root with the RUN done, keyed by the RUN's text (the package list).
function cachedRoot(plan) {
  const base = cached(`${plan.suite}-minbase`, (partial) =>
    run("debootstrap", ["--variant=minbase", plan.suite, partial, debianMirror(plan.suite)], { timeout: SETUP_TIMEOUT_MS }),
  );
  const key = crypto.createHash("sha256").update(plan.packageRun).digest("hex").slice(0, 16);
  return cached(`${plan.suite}-packages-${key}`, (partial) => {
    run("cp", ["-a", "--reflink=auto", base, partial]);
    fs.rmSync(path.join(partial, ".partyline-root-complete"));
    // apt-get resolves the mirror's name inside the chroot.
    fs.copyFileSync("/etc/resolv.conf", path.join(partial, "etc/resolv.conf"));
    run("chroot", [partial, "/bin/sh", "-c", plan.packageRun], { timeout: SETUP_TIMEOUT_MS, env: CHROOT_ENV });
  });
}

// The Dockerfile's steps after its package RUN, applied to `root`: COPY, RUN, USER, WORKDIR, ENV,
// ENTRYPOINT and CMD; the rest (EXPOSE, HEALTHCHECK) change nothing a process sees.
function applySteps(root, plan) {
  const image = { user: "root", workdir: "/", env: {}, entrypoint: [], cmd: [] };
  for (const step of plan.later) {
    if (step.op === "COPY") {
      const words = argumentsOf(step.text);
      const from = words.find((word) => word.startsWith("--from="))?.slice("--from=".length);
      assert.ok(!words.some((word) => word.startsWith("--") && !word.startsWith("--from=")), `COPY flags: ${step.text}`);
      const [destination, ...sources] = words.filter((word) => !word.startsWith("--")).reverse();
      const intoFolder = destination.endsWith("/") || sources.length > 1;
      for (const source of sources.reverse()) {
        const target = path.join(root, path.posix.resolve(image.workdir, destination), intoFolder ? path.basename(source) : "");
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.cpSync(copySource(source, from, plan.stagesByName), target, { recursive: true, verbatimSymlinks: true });
      }
    } else if (step.op === "RUN") {
      run("chroot", [root, "/bin/sh", "-c", step.text], { env: { ...CHROOT_ENV, ...image.env } });
    } else if (step.op === "USER") {
      image.user = step.text;
    } else if (step.op === "WORKDIR") {
      image.workdir = path.posix.resolve(image.workdir, step.text);
    } else if (step.op === "ENV") {
      const [name, ...value] = step.text.split(/[=\s]/);
      image.env[name] = value.join("=");
    } else if (step.op === "ENTRYPOINT") {
      image.entrypoint = argumentsOf(step.text);
    } else if (step.op === "CMD") {
      image.cmd = argumentsOf(step.text);
    }
  }
  return image;
}

// The copies of runs whose process is gone (killed before its cleanup ran).
function removeAbandonedRuns() {
  if (!fs.existsSync(CACHE_DIR)) return;
  for (const name of fs.readdirSync(CACHE_DIR)) {
    const pid = Number(name.match(/^run-(\d+)$/)?.[1]);
    if (!pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if (err.code === "ESRCH") removeRoot(path.join(CACHE_DIR, name));
    }
  }
}

// ---------------------------------------------------------------------------

describe("the container image's runtime stage, in a chroot", () => {
  let chrootBin;
  let plan;
  let root;
  let image;
  let nats;
  let node;
  let output = "";

  before(async () => {
    assert.equal(process.getuid(), 0, "debootstrap and chroot need root (ctest -LE container leaves this test out)");
    for (const tool of ["debootstrap", "chroot"])
      assert.equal(spawnSync("which", [tool]).status, 0, `${tool} is not installed (scripts/install-deps.sh --test)`);
    chrootBin = spawnSync("which", ["chroot"], { encoding: "utf8" }).stdout.trim();
    plan = imagePlan();
    const cached = cachedRoot(plan);
    removeAbandonedRuns();
    root = path.join(CACHE_DIR, `run-${process.pid}`);
    run("cp", ["-a", "--reflink=auto", cached, root]);
    image = applySteps(root, plan);
    nats = await startNats();
  }, { timeout: SETUP_TIMEOUT_MS });

  // A test process stopped half way (a signal, a failed hook) leaves no node and no copy behind.
  process.once("exit", () => {
    if (node && node.exitCode === null && node.signalCode === null) node.kill("SIGKILL");
    try {
      if (root) removeRoot(root);
    } catch {}
  });

  after(async () => {
    if (node && node.exitCode === null && node.signalCode === null) {
      node.kill("SIGTERM");
      const exited = new Promise((resolve) => node.once("exit", resolve));
      await withTimeout(exited, 10000, "partyline to exit after SIGTERM").catch(() => node.kill("SIGKILL"));
    }
    await nats?.stop();
    if (root) removeRoot(root);
  });

  test("the stage installs packages, and every library the binary links is in the root", T, () => {
    assert.ok(plan.packages.includes("nats-server"), plan.packages.join(" "));
    const libraries = run("chroot", [root, "/usr/bin/ldd", "/usr/bin/partyline"]);
    assert.doesNotMatch(libraries, /not found/, `libraries the image lacks:\n${libraries}`);
  });

  test("partyline serve runs as the image's user in its working directory: /readyz, and a chat between two clients", T, async () => {
    assert.notEqual(image.user, "root", "the image runs as an unprivileged user");
    assert.deepEqual(image.entrypoint.slice(-2), ["partyline", "serve"]);
    const configFile = "/etc/partyline/container-test.yaml";
    fs.writeFileSync(
      path.join(root, configFile),
      toYaml({
        listen: "127.0.0.1:0",
        node_id: "container",
        nats: { url: nats.url },
        parties: { main: { script: "examples/chat/room.lua" } },
        limits: TEST_LIMITS,
      }),
    );
    const [user, group = user] = image.user.split(":");
    // The node's environment is the image's (PATH as Debian's images set it), not the test's.
    node = spawn(
      chrootBin,
      [`--userspec=${user}:${group}`, root, "/usr/bin/env", "-C", image.workdir, ...image.entrypoint, "--config", configFile],
      {
        stdio: ["ignore", "pipe", "pipe"],
        env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: image.workdir, ...image.env },
      },
    );
    for (const stream of [node.stdout, node.stderr]) stream.on("data", (chunk) => (output += chunk));
    const exited = new Promise((resolve) => node.once("exit", (code, signal) => resolve({ code, signal })));

    // The node binds a free port and logs it.
    let port;
    for (let i = 0; i < 300 && !port; i++) {
      port = Number(output.match(/listening on \S+ \(port (\d+)\)/)?.[1]) || undefined;
      if (!port) await Promise.race([sleep(100), exited]);
      assert.ok(node.exitCode === null && node.signalCode === null, `partyline exited in the chroot:\n${output}`);
    }
    assert.ok(port, `partyline logged no port:\n${output}`);
    let ready = null;
    for (let i = 0; i < 150 && ready?.status !== 200; i++) {
      ready = await httpFetch(`http://127.0.0.1:${port}/readyz`, {}, 2000).catch(() => null);
      if (ready?.status !== 200) await sleep(100);
    }
    assert.equal(ready?.status, 200, `/readyz:\n${output}`);

    const ofType = (type, text) => (m) => {
      try {
        const frame = JSON.parse(m.text);
        return frame.type === type && (text === undefined || frame.text === text);
      } catch {
        return false;
      }
    };
    const isChat = (text) => ofType("chat", text);
    // Each is in the room once its welcome arrives.
    const ann = await connect(`ws://127.0.0.1:${port}/parties/main/container-lobby?_pk=ann`);
    await ann.waitFor(ofType("welcome"), 10000);
    const bob = await connect(`ws://127.0.0.1:${port}/parties/main/container-lobby?_pk=bob`);
    await bob.waitFor(ofType("welcome"), 10000);
    await ann.send(JSON.stringify({ type: "chat", text: "hello from the chroot", name: "Ann" }));
    for (const client of [ann, bob]) {
      const line = (await client.waitFor(isChat("hello from the chroot"), 10000)).json();
      assert.equal(line.from, "Ann");
    }
    await bob.send(JSON.stringify({ type: "chat", text: "hi ann", name: "Bob" }));
    assert.equal((await ann.waitFor(isChat("hi ann"), 10000)).json().from, "Bob");
    await Promise.all([ann.close(), bob.close()]);

    // The example's page, from the installed examples.
    const page = await httpFetch(`http://127.0.0.1:${port}/chat/`);
    assert.equal(page.status, 200);

    node.kill("SIGTERM");
    const { code } = await withTimeout(exited, 30000, `partyline to exit after SIGTERM:\n${output.slice(-3000)}`);
    assert.equal(code, 0, `partyline's exit after SIGTERM:\n${output.slice(-3000)}`);
  });
});
