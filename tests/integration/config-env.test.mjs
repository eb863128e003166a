// Configuration values from the environment, and secrets that are never printed: a real node
// whose API key, room env value and JWT secret come from environment variables serves rooms,
// reloads and stops without any of them in a line of its output (at log level debug), and
// `partyline check-config` prints them as <set>. An unset variable stops the node naming the
// file, line, key and variable. A real nats-server and partyline process.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import {
  PARTYLINE_BIN,
  SOURCE_DIR,
  connect,
  httpFetch,
  scriptPath,
  sleep,
  startNats,
  startNodeWithConfig,
  tempDir,
  until,
} from "./harness.mjs";

const T = { timeout: 60000 };

const SECRETS = {
  PARTYLINE_TEST_API_KEY: "api-key-3f9c1b7e-never-printed",
  PARTYLINE_TEST_SIGNING_KEY: "signing-key-8d2e4a61-never-printed",
  PARTYLINE_TEST_JWT_SECRET: "jwt-secret-5b7f0c93-never-printed-0123456789abcdef",
};

const CONFIG = `# values from the environment
node_id: \${PARTYLINE_TEST_NODE_ID:-env-node}
log: { level: debug }
api:
  keys: ["\${PARTYLINE_TEST_API_KEY}"]
parties:
  echo:
    script: "\${PARTYLINE_TEST_SCRIPT}"
    env: { SIGNING_KEY: "\${PARTYLINE_TEST_SIGNING_KEY}", PLAIN: written-here }
    auth:
      jwt: { secret: "\${PARTYLINE_TEST_JWT_SECRET}", algorithms: [HS256] }
      required: false
limits: { max_connections: 256 }
`;

function partyline(args, env) {
  const result = spawnSync(PARTYLINE_BIN, args, { cwd: SOURCE_DIR, encoding: "utf8", timeout: 15000, env });
  assert.equal(result.error, undefined, `partyline ${args.join(" ")}: ${result.error?.message}`);
  return result;
}

const checkConfig = (file, env) => partyline(["check-config", file], env);

function assertNoSecret(text, where) {
  for (const [name, value] of Object.entries(SECRETS)) {
    const line = text.split("\n").find((l) => l.includes(value));
    assert.equal(line, undefined, `${name}'s value appears in ${where}: ${line}`);
  }
}

describe("configuration from the environment", () => {
  const dir = tempDir("config-env");
  const file = path.join(dir, "node.yaml");
  const env = { ...process.env, ...SECRETS, PARTYLINE_TEST_SCRIPT: scriptPath("echo.lua") };
  let nats;

  before(async () => {
    fs.writeFileSync(file, CONFIG);
    nats = await startNats();
  });

  after(async () => {
    await nats?.stop();
  });

  test("a node with secrets from the environment prints none of them in any log line", T, async () => {
    Object.assign(process.env, env);
    let node;
    try {
      node = await startNodeWithConfig(file, { natsUrl: nats.url });
    } finally {
      for (const name of [...Object.keys(SECRETS), "PARTYLINE_TEST_SCRIPT"]) delete process.env[name];
    }
    const client = await connect(node.wsUrl("echo", "lobby"));
    await client.send("hello");
    await client.waitFor((m) => m.text === "hello");
    const res = await httpFetch(`${node.url}/v1/parties/echo/lobby/broadcast`, {
      method: "POST",
      body: "from the api",
      headers: { Authorization: `Bearer ${SECRETS.PARTYLINE_TEST_API_KEY}` },
    });
    assert.equal(res.status, 200, await res.text());
    await client.waitFor((m) => m.text === "from the api");
    node.signal("SIGHUP");
    await until(() => /reloading/.test(node.logs()), { what: "the SIGHUP reload in the log" });
    await client.close();
    await sleep(100);
    await node.stop();
    assert.match(node.logs(), /node env-node/, "the node did not log its start");
    assertNoSecret(node.logs(), "the node's output");
  });

  test("check-config prints the configuration with secrets and values from the environment as <set>", T, () => {
    const result = checkConfig(file, env);
    assert.equal(result.status, 0, result.stderr);
    assert.ok(result.stdout.startsWith(`${file}: ok\n`), result.stdout);
    assertNoSecret(result.stdout + result.stderr, "check-config output");
    assert.ok(!result.stdout.includes("written-here"), "a room env value written in the file was printed");
    assert.match(result.stdout, /keys: \[<set>\]/);
    assert.match(result.stdout, /SIGNING_KEY: <set>/);
    assert.match(result.stdout, /PLAIN: <set>/);
    assert.match(result.stdout, /secret: <set>/);
    assert.match(result.stdout, /script: <set>/);
    assert.match(result.stdout, /node_id: env-node/, "a default is the file's text and is printed");
    assert.match(result.stdout, /duplicate_window: 2m/);
  });

  test("a script file that is missing fails check-config as it fails serve, with the file and line", T, () => {
    const missing = path.join(dir, "missing.yaml");
    fs.writeFileSync(missing, "# a party whose script is not there\nparties:\n  lost:\n    script: nowhere/lost.lua\n");
    const error = `${missing}:4: parties.lost.script: no such file 'nowhere/lost.lua' (relative to ${dir}, the configuration file's folder)`;
    const check = checkConfig(missing, env);
    assert.equal(check.status, 1);
    assert.equal(check.stderr, `${error}\n`);
    const serve = partyline(["serve", "--config", missing], env);
    assert.equal(serve.status, 2);
    assert.equal(serve.stderr, `partyline: ${error}\n`);
  });

  test("an unset variable stops the node with the file, line, key and variable name", T, () => {
    const { PARTYLINE_TEST_API_KEY, ...without } = env;
    const result = checkConfig(file, without);
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      `${file}:5: api.keys[0]: environment variable PARTYLINE_TEST_API_KEY is not set ` +
        "(write ${PARTYLINE_TEST_API_KEY:-default} to give a default)\n",
    );
    const served = partyline(["serve", "--config", file], without);
    assert.equal(served.status, 2);
    assert.match(served.stderr, /node\.yaml:5: api\.keys\[0\]: environment variable PARTYLINE_TEST_API_KEY is not set/);
  });

  test("a bad value from the environment is named by its key, never shown", T, () => {
    const bad = { ...env, PARTYLINE_TEST_API_KEY: "two words " + SECRETS.PARTYLINE_TEST_API_KEY };
    const result = checkConfig(file, bad);
    assert.equal(result.status, 1);
    assertNoSecret(result.stdout + result.stderr, "the error");
    assert.equal(
      result.stderr,
      `${file}:5: api.keys[0]: expected a key of 1 to 256 printable ASCII characters without spaces, got <set>\n`,
    );
  });
});
