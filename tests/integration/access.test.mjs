// Who may drive a node, and which web pages may reach its rooms, against real nodes:
// - api.keys: every control endpoint (/v1/..., /metrics) answers 401 with WWW-Authenticate
//   for a missing, wrong, empty, 64 KiB, non-ASCII or Basic key, and does nothing; either
//   configured key is served; /healthz and /readyz stay open; rooms keep serving; no key is
//   ever in the node's output (at log level debug);
// - no keys (the default): loopback clients without Origin are served, a web page's request
//   (Origin) is 403, and the node says so at start; api.insecure serves everyone and warns;
// - origins: WebSocket upgrades and room HTTP from listed, same-host, absent and refused
//   origins (null, a trailing dot, another port, a bare domain under a wildcard), CORS answers
//   and preflights for room HTTP, none at all for the control API;
// - the pages a node serves: the examples with no configuration, the index page, and what is
//   never served (room scripts, configurations, dotfiles, traversals, CGI and SSI run as files,
//   symlinks out of the folder).
// A real nats-server and partyline processes, loopback only.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { RawWebSocket, SOURCE_DIR, connect, httpFetch, rawHttp, startNats, startNode, tempDir, until } from "./harness.mjs";

const T = { timeout: 60000 };

// Two configured keys (32+ printable characters each) and what a client might send instead.
const KEY = "pl-access-test-key-one-7c1f9a2e4b6d8f0a";
const KEY2 = "pl-access-test-key-two-3e5a7c9b1d2f4e6a";

let nats;
before(async () => {
  nats = await startNats();
});
after(async () => {
  await nats?.stop();
});

// A request on its own connection, written byte for byte (headers a library would refuse or
// reshape: an empty bearer, 64 KiB of key, raw UTF-8). `headers` is a list of [name, value];
// values may be Buffers.
function request(port, method, target, headers = [], body) {
  const payload = body === undefined ? null : Buffer.from(body);
  const lines = [Buffer.from(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n`)];
  for (const [name, value] of headers) lines.push(Buffer.from(`${name}: `), Buffer.from(value), Buffer.from("\r\n"));
  if (payload) lines.push(Buffer.from(`Content-Length: ${payload.length}\r\n`));
  lines.push(Buffer.from("\r\n"));
  if (payload) lines.push(payload);
  return rawHttp(port, Buffer.concat(lines));
}

// A WebSocket upgrade request, answered as {status, headers, body} (the 101 ends the answer).
function upgrade(port, target, headers = []) {
  return request(port, "GET", target, [
    ["Upgrade", "websocket"],
    ["Connection", "Upgrade"],
    ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="],
    ["Sec-WebSocket-Version", "13"],
    ...headers,
  ]);
}

const accessControlHeaders = (headers) => Object.keys(headers).filter((name) => name.startsWith("access-control-"));

function logLine(node, pattern) {
  return node
    .logs()
    .split("\n")
    .find((line) => pattern.test(line));
}

describe("control API with api.keys", () => {
  let node;
  let client;
  const room = "keyed";

  // Every control endpoint, as [label, method, target, headers, body]; `n` makes refused writes
  // recognisable in the history.
  const endpoints = (n) => [
    ["broadcast", "POST", `/v1/parties/echo/${room}/broadcast`, [], `refused-${n}`],
    ["batch broadcast", "POST", `/v1/parties/echo/${room}/broadcast`, [["Content-Type", "application/x-ndjson"]], `refused-batch-${n}-a\nrefused-batch-${n}-b\n`],
    ["history", "GET", `/v1/parties/echo/${room}/history?since=0`, [], undefined],
    ["presence", "GET", `/v1/parties/echo/${room}/presence`, [], undefined],
    ["reload", "POST", "/v1/parties/echo/reload", [], undefined],
    ["metrics", "GET", "/metrics", [], undefined],
    ["an unknown /v1 path", "GET", "/v1/nothing", [], undefined],
  ];

  const bearer = (value) => [["Authorization", value]];
  // [label, headers, what the body must say]
  const refusals = [
    ["no Authorization header", [], /needs an API key: send Authorization: Bearer <key>/],
    ["a wrong key", bearer("Bearer pl-access-test-key-one-7c1f9a2e4b6d8f0b"), /matches no key of api\.keys/],
    ["Bearer with an empty key", bearer("Bearer "), /matches no key of api\.keys/],
    ["Bearer alone", bearer("Bearer"), /matches no key of api\.keys/],
    ["a non-ASCII key", bearer(Buffer.from("Bearer ключ-" + KEY, "utf8")), /matches no key of api\.keys/],
    ["the right key and a non-ASCII byte", bearer(Buffer.concat([Buffer.from("Bearer " + KEY), Buffer.from([0xe9])])), /matches no key of api\.keys/],
    ["the right key with Basic", bearer("Basic " + Buffer.from(`user:${KEY}`).toString("base64")), /matches no key of api\.keys/],
    ["the bare key without a scheme", bearer(KEY), /matches no key of api\.keys/],
    ["the right key in a cookie", [["Cookie", `key=${KEY}`]], /needs an API key/],
  ];

  before(async () => {
    node = await startNode({
      natsUrl: nats.url,
      parties: { echo: "echo.lua" },
      config: { api: { keys: [KEY, KEY2] }, log: { level: "debug" } },
    });
    client = await connect(node.wsUrl("echo", room));
  });

  test("the node says at start that the control API needs a key", T, () => {
    assert.ok(logLine(node, /control API needs a bearer key \(2 in api\.keys\)/), node.tail(30));
  });

  test("every control endpoint answers 401 with WWW-Authenticate and says what is missing, and does nothing", T, async () => {
    let n = 0;
    for (const [why, headers, says] of refusals) {
      for (const [what, method, target, extra, body] of endpoints(++n)) {
        const res = await request(node.port, method, target, [...extra, ...headers], body);
        const label = `${method} ${target} (${what}) with ${why}`;
        assert.equal(res.status, 401, `${label}: ${res.status} ${res.body}`);
        assert.match(res.headers["www-authenticate"] || "", /^Bearer realm="partyline"/, `${label}: WWW-Authenticate`);
        if (headers.length && headers[0][0] === "Authorization") {
          assert.match(res.headers["www-authenticate"], /error="invalid_token"/, `${label}: a key was sent`);
        } else {
          assert.doesNotMatch(res.headers["www-authenticate"], /error=/, `${label}: no key was sent`);
        }
        assert.match(res.body, says, `${label}: body`);
        assert.ok(!res.body.includes(KEY) && !res.body.includes(KEY2), `${label}: the body shows a key`);
      }
    }
    // Nothing was done: the room's log and its client saw none of the refused writes.
    const history = await httpFetch(`${node.url}/v1/parties/echo/${room}/history?since=0`, {
      headers: { Authorization: `Bearer ${KEY}` },
    });
    assert.equal(history.status, 200);
    const { entries } = await history.json();
    assert.deepEqual(entries.filter((e) => e.data.startsWith("refused")), []);
    assert.deepEqual(client.texts.filter((t) => t.startsWith("refused")), []);
    assert.equal(logLine(node, /\breload(ed|ing)\b/), undefined, "a refused reload ran");
  });

  // A key under the node's 16 KiB limit on a request's head is compared and refused like any
  // other; a 64 KiB one is refused before any handler runs, with a 400 that says why.
  test("a 12 KiB key is 401; a 64 KiB key is a clear 400; nothing is done and the node keeps serving", T, async () => {
    for (const [size, status, says] of [
      [12 * 1024, 401, /matches no key of api\.keys/],
      [64 * 1024, 400, /^the request cannot be read: it is malformed, or its request line and headers are over 16384 bytes\n$/],
    ]) {
      const key = "k".repeat(size);
      for (const [what, method, target, extra, body] of endpoints(`size-${size}`)) {
        const res = await request(node.port, method, target, [...extra, ["Authorization", `Bearer ${key}`]], body);
        const label = `${method} ${target} (${what}) with a ${size / 1024} KiB key`;
        assert.equal(res.status, status, `${label}: ${res.status} ${res.body.slice(0, 200)}`);
        assert.match(res.body, says, label);
        if (status === 401) assert.match(res.headers["www-authenticate"] || "", /^Bearer realm="partyline", error="invalid_token"/, label);
      }
    }
    const history = await httpFetch(`${node.url}/v1/parties/echo/${room}/history?since=0`, { headers: { Authorization: `Bearer ${KEY2}` } });
    assert.deepEqual((await history.json()).entries.filter((e) => e.data.startsWith("refused")), []);
    assert.equal(logLine(node, /\breload(ed|ing)\b/), undefined, "a refused reload ran");
    await client.send("still serving");
    await client.waitFor((m) => m.text === "still serving");
  });

  test("either configured key is served, on every control endpoint", T, async () => {
    for (const [i, key] of [KEY, KEY2].entries()) {
      const auth = [["Authorization", `Bearer ${key}`]];
      const one = await request(node.port, "POST", `/v1/parties/echo/${room}/broadcast`, auth, `good-${i}`);
      assert.equal(one.status, 200, one.body);
      assert.ok(Number.isInteger(JSON.parse(one.body).seq), one.body);
      const batch = await request(node.port, "POST", `/v1/parties/echo/${room}/broadcast`, [...auth, ["Content-Type", "application/x-ndjson"]], `good-${i}-a\ngood-${i}-b\n`);
      assert.equal(batch.status, 200, batch.body);
      await client.waitFor((m) => m.text === `good-${i}-b`);
      const history = await request(node.port, "GET", `/v1/parties/echo/${room}/history?since=0`, auth);
      assert.equal(history.status, 200, history.body);
      const data = JSON.parse(history.body).entries.map((e) => e.data);
      for (const write of [`good-${i}`, `good-${i}-a`, `good-${i}-b`]) assert.ok(data.includes(write), `${write} not in ${history.body}`);
      const reload = await request(node.port, "POST", "/v1/parties/echo/reload", auth);
      assert.equal(reload.status, 200, reload.body);
      const metrics = await request(node.port, "GET", "/metrics", auth);
      assert.equal(metrics.status, 200);
      assert.match(metrics.body, /partyline_http_requests_total \d+/);
      // Past the key, an unknown path is the router's to answer.
      const unknown = await request(node.port, "GET", "/v1/nothing", auth);
      assert.equal(unknown.status, 404, unknown.body);
    }
    // The scheme is not case-sensitive (RFC 9110 section 11.1).
    const lower = await request(node.port, "GET", "/metrics", [["Authorization", `bearer ${KEY}`]]);
    assert.equal(lower.status, 200);
    assert.deepEqual(client.texts.filter((t) => t.startsWith("refused")), []);
  });

  test("/healthz and /readyz answer without a key, and rooms keep serving", T, async () => {
    for (const probe of ["/healthz", "/readyz"]) {
      const res = await request(node.port, "GET", probe);
      assert.equal(res.status, 200, `${probe}: ${res.status} ${res.body}`);
    }
    const other = await connect(node.wsUrl("echo", room));
    await other.send("a room needs no key");
    await client.waitFor((m) => m.text === "a room needs no key");
    await other.waitFor((m) => m.text === "a room needs no key");
    await other.close();
  });

  test("no key is in any line of the node's output", T, async () => {
    await client.close();
    await node.stop();
    const logs = node.logs();
    assert.match(logs, /level=debug/, "the node did not log at debug level");
    for (const [name, key] of [["KEY", KEY], ["KEY2", KEY2]]) {
      const line = logs.split("\n").find((l) => l.includes(key));
      assert.equal(line, undefined, `${name} appears in the node's output: ${line}`);
    }
    assert.ok(!logs.includes("k".repeat(64)), "a long refused key appears in the node's output");
  });
});

describe("control API without keys (the default)", () => {
  let node;

  before(async () => {
    node = await startNode({ natsUrl: nats.url, parties: { echo: "echo.lua" } });
  });

  test("the node says at start that the control API answers loopback peers only", T, () => {
    assert.ok(logLine(node, /control API answers loopback peers only/), node.tail(30));
  });

  // Peers on another address (403 "set api.keys to use the control API from another host")
  // cannot be made from a loopback-only test: tests/app/ControlAccessTest.cpp covers them.
  test("loopback clients without Origin are served", T, async () => {
    const client = await connect(node.wsUrl("echo", "open"));
    const posted = await request(node.port, "POST", "/v1/parties/echo/open/broadcast", [], "from loopback");
    assert.equal(posted.status, 200, posted.body);
    await client.waitFor((m) => m.text === "from loopback");
    const history = await request(node.port, "GET", "/v1/parties/echo/open/history?since=0");
    assert.equal(history.status, 200, history.body);
    assert.equal((await httpFetch(`${node.url}/metrics`)).status, 200);
    await client.close();
  });

  test("a web page's request (Origin) to the control API is 403, whatever its origin, and nothing is done", T, async () => {
    const client = await connect(node.wsUrl("echo", "pages"));
    for (const origin of ["http://evil.example", node.url, "null"]) {
      for (const [method, target, body] of [
        ["POST", "/v1/parties/echo/pages/broadcast", `from-page ${origin}`],
        ["GET", "/v1/parties/echo/pages/history?since=0"],
        ["POST", "/v1/parties/echo/reload"],
        ["GET", "/metrics"],
      ]) {
        const res = await request(node.port, method, target, [["Origin", origin]], body);
        assert.equal(res.status, 403, `${method} ${target} from ${origin}: ${res.status} ${res.body}`);
        assert.equal(res.body, "the control API does not answer web pages: call it from a server, with a key of api.keys\n");
        assert.deepEqual(accessControlHeaders(res.headers), [], `${method} ${target}: CORS headers`);
      }
    }
    const history = await request(node.port, "GET", "/v1/parties/echo/pages/history?since=0");
    assert.deepEqual(JSON.parse(history.body).entries, []);
    await client.send("after the pages");
    await client.waitFor((m) => m.text === "after the pages");
    assert.deepEqual(client.texts, ["after the pages"]);
    await client.close();
  });
});

describe("control API with api.insecure", () => {
  let node;

  before(async () => {
    node = await startNode({ natsUrl: nats.url, parties: { echo: "echo.lua" }, config: { api: { insecure: true } } });
  });

  test("the node warns at start", T, () => {
    assert.ok(logLine(node, /level=warn.*api\.insecure/), node.tail(30));
    assert.ok(logLine(node, /control API open to everyone/), node.tail(30));
  });

  test("a request with an Origin is served, and gets no CORS headers", T, async () => {
    const client = await connect(node.wsUrl("echo", "insecure"));
    const res = await request(node.port, "POST", "/v1/parties/echo/insecure/broadcast", [["Origin", "http://evil.example"]], "insecure write");
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(accessControlHeaders(res.headers), []);
    await client.waitFor((m) => m.text === "insecure write");
    // A preflight reaches the endpoint (405: it takes POST) and CivetWeb adds no CORS of its own.
    const preflight = await request(node.port, "OPTIONS", "/v1/parties/echo/insecure/broadcast", [
      ["Origin", "http://evil.example"],
      ["Access-Control-Request-Method", "POST"],
      ["Access-Control-Request-Headers", "content-type"],
    ]);
    assert.notEqual(preflight.status, 204, preflight.raw);
    assert.notEqual(preflight.status, 200, preflight.raw);
    assert.deepEqual(accessControlHeaders(preflight.headers), [], preflight.raw);
    await client.close();
  });
});

describe("origins", () => {
  const ORIGINS = ["https://app.example.com", "https://*.example.org", "http://localhost:5173"];
  let node;

  before(async () => {
    node = await startNode({ natsUrl: nats.url, parties: { req: "request.lua" }, config: { origins: ORIGINS } });
  });

  test("WebSocket upgrades from listed, same-host and absent origins are admitted", T, async () => {
    const admitted = [
      ["https://app.example.com"],
      ["HTTPS://APP.EXAMPLE.COM"],
      ["http://localhost:5173"],
      ["https://a.example.org"],
      ["https://a.b.example.org"],
      [`http://127.0.0.1:${node.port}`],
      [`https://127.0.0.1:${node.port}`],
      [],
    ];
    for (const origin of admitted) {
      const ws = await RawWebSocket.open(node.port, `/parties/req/ws-${origin.length}`, {
        headers: origin.length ? { Origin: origin[0] } : {},
      });
      const frame = await ws.waitFrame((f) => f.opcode === 1);
      assert.equal(JSON.parse(frame.payload.toString()).type, "joined", `origin ${origin[0] ?? "(none)"}`);
      ws.destroy();
    }
  });

  test("WebSocket upgrades from other origins are 403, naming the origin and the key", T, async () => {
    const refused = [
      "https://evil.example",
      "null",
      "https://app.example.com.",
      "https://app.example.com:8443",
      "http://localhost:5174",
      "http://localhost",
      "http://app.example.com",
      "https://example.org",
      "https://evil-example.org",
      "https://example.org.evil.example",
      `http://127.0.0.1:${node.port + 1}`,
      "https://app.example.com/path",
      "file://",
    ];
    for (const origin of refused) {
      const res = await upgrade(node.port, "/parties/req/refused", [["Origin", origin]]);
      assert.equal(res.status, 403, `origin ${origin}: ${res.status} ${res.body}`);
      assert.equal(res.body, `origin ${origin} is not allowed: add it to origins in the configuration\n`);
      assert.deepEqual(accessControlHeaders(res.headers), [], `origin ${origin}`);
    }
    // The node keeps serving.
    const ws = await RawWebSocket.open(node.port, "/parties/req/after", { headers: { Origin: ORIGINS[0] } });
    await ws.waitFrame((f) => f.opcode === 1);
    ws.destroy();
  });

  test("room HTTP from a listed origin carries CORS; from a refused one it is 403 without any", T, async () => {
    const origin = "https://app.example.com";
    const listed = await httpFetch(node.httpUrl("req", "cors", "/info"), { headers: { Origin: origin } });
    assert.equal(listed.status, 200);
    assert.equal(listed.headers.get("access-control-allow-origin"), origin);
    assert.match(listed.headers.get("vary") || "", /\bOrigin\b/);
    assert.equal((await listed.json()).room, "cors", "the room's own answer");

    const wildcard = await httpFetch(node.httpUrl("req", "cors", "/info"), { headers: { Origin: "https://a.b.example.org" } });
    assert.equal(wildcard.status, 200);
    assert.equal(wildcard.headers.get("access-control-allow-origin"), "https://a.b.example.org");

    for (const headers of [{}, { Origin: node.url }]) {
      const plain = await request(node.port, "GET", "/parties/req/cors/info", Object.entries(headers));
      assert.equal(plain.status, 200, plain.body);
      assert.deepEqual(accessControlHeaders(plain.headers), [], `origin ${headers.Origin ?? "(none)"} needs no CORS`);
    }

    // A write through CORS reaches the room.
    const ws = await RawWebSocket.open(node.port, "/parties/req/cors");
    await ws.waitFrame((f) => f.opcode === 1);
    const said = await request(node.port, "POST", "/parties/req/cors/say", [["Origin", origin], ["Content-Type", "text/plain"]], "via cors");
    assert.equal(said.status, 200, said.body);
    assert.equal(said.headers["access-control-allow-origin"], origin);
    await ws.waitFrame((f) => f.opcode === 1 && f.payload.toString() === "via cors");

    const refused = await request(node.port, "POST", "/parties/req/cors/say", [["Origin", "https://evil.example"]], "refused write");
    assert.equal(refused.status, 403, refused.body);
    assert.match(refused.body, /origin https:\/\/evil\.example is not allowed: add it to origins/);
    assert.deepEqual(accessControlHeaders(refused.headers), []);
    ws.destroy();
    const history = await request(node.port, "GET", "/v1/parties/req/cors/history?since=0");
    assert.deepEqual(JSON.parse(history.body).entries.map((e) => e.data), ["via cors"]);
  });

  test("a preflight from a listed origin is answered 204; from a refused one 403 without CORS", T, async () => {
    const asks = [["Access-Control-Request-Method", "POST"], ["Access-Control-Request-Headers", "content-type"]];
    const ok = await request(node.port, "OPTIONS", "/parties/req/pre/say", [["Origin", "http://localhost:5173"], ...asks]);
    assert.equal(ok.status, 204, ok.raw);
    assert.equal(ok.headers["access-control-allow-origin"], "http://localhost:5173");
    assert.match(ok.headers["access-control-allow-methods"] || "", /\bPOST\b/);
    assert.equal(ok.headers["access-control-allow-headers"], "content-type");
    assert.match(ok.headers["vary"] || "", /\bOrigin\b/);

    for (const origin of ["https://evil.example", "null", "https://example.org"]) {
      const no = await request(node.port, "OPTIONS", "/parties/req/pre/say", [["Origin", origin], ...asks]);
      assert.equal(no.status, 403, `${origin}: ${no.raw}`);
      assert.deepEqual(accessControlHeaders(no.headers), [], `${origin}: ${no.raw}`);
    }
  });

  test("the control API answers no CORS, even to a listed origin", T, async () => {
    const asks = [["Access-Control-Request-Method", "POST"], ["Access-Control-Request-Headers", "content-type"]];
    for (const target of ["/v1/parties/req/pre/broadcast", "/v1/parties/req/reload", "/v1/nothing", "/metrics"]) {
      for (const method of ["OPTIONS", "POST"]) {
        const res = await request(node.port, method, target, [["Origin", "https://app.example.com"], ...(method === "OPTIONS" ? asks : [])]);
        assert.equal(res.status, 403, `${method} ${target}: ${res.raw}`);
        assert.deepEqual(accessControlHeaders(res.headers), [], `${method} ${target}: ${res.raw}`);
      }
    }
  });
});

describe("pages served by the node", () => {
  let node;

  before(async () => {
    node = await startNode({
      natsUrl: nats.url,
      parties: { chat: "examples/chat/room.lua", "echo-party": "echo.lua" },
    });
  });

  test("the examples work with no configuration: the chat page, and a WebSocket from the node's own origin", T, async () => {
    const page = await httpFetch(`${node.url}/chat/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") || "", /text\/html/);
    assert.match(await page.text(), /<html/i);
    const client = await connect(node.wsUrl("chat", "lobby"), { headers: { Origin: node.url } });
    const welcome = await client.waitFor((m) => m.text.includes("welcome"));
    assert.equal(welcome.json().type, "welcome");
    await client.close();
  });

  test("GET / without a root mount is the node's index page, listing its parties", T, async () => {
    const res = await httpFetch(`${node.url}/`);
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /<code>chat<\/code>/);
    assert.match(html, /<code>echo-party<\/code>/);
    assert.match(html, /href="\/chat\/"/);
  });

  test("room scripts, configurations, dotfiles and traversals are 404", T, async () => {
    // The files are there, beside the mounted public/ folders.
    for (const file of ["examples/chat/room.lua", "examples/chess/partyline.yaml"]) assert.ok(fs.existsSync(path.join(SOURCE_DIR, file)), file);
    for (const target of [
      "/chat/room.lua",
      "/chat/../chat/room.lua",
      "/chat/%2e%2e/room.lua",
      "/chat/public/../room.lua",
      "/chess/partyline.yaml",
      "/chess/../chess/partyline.yaml",
      "/chat/.env",
      "/chat/.git/config",
      "/.env",
      "/../../examples/chat/room.lua",
      "/chat/..%2froom.lua",
    ]) {
      const res = await request(node.port, "GET", target);
      assert.equal(res.status, 404, `${target}: ${res.status} ${res.body.slice(0, 200)}`);
      assert.ok(!res.body.includes("function Room"), `${target} shows a room script`);
    }
  });
});

describe("a folder served with --static", () => {
  const dir = tempDir("static");
  const root = path.join(dir, "site");
  const outside = path.join(dir, "outside-secret.txt");
  const CGI = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho CGI-RAN-$((6*7))\n";
  const SSI = '<html><body><!--#exec cmd="echo SSI-RAN-$((6*7))" --><!--#include file=".env" --></body></html>\n';
  let node;

  before(async () => {
    fs.mkdirSync(path.join(root, "sub"), { recursive: true });
    fs.writeFileSync(path.join(root, "index.html"), "<html><body>static root</body></html>\n");
    fs.writeFileSync(path.join(root, "x.cgi"), CGI, { mode: 0o755 });
    fs.writeFileSync(path.join(root, "page.shtml"), SSI);
    fs.writeFileSync(path.join(root, ".env"), "DOTENV_SECRET=never-served\n");
    fs.writeFileSync(outside, "OUTSIDE-SECRET\n");
    fs.symlinkSync(outside, path.join(root, "link.txt"));
    fs.symlinkSync(outside, path.join(root, "sub", "link.html"));
    node = await startNode({ natsUrl: nats.url, parties: { echo: "echo.lua" }, args: ["--static", root] });
  });

  test("the folder is served at /", T, async () => {
    const res = await request(node.port, "GET", "/");
    assert.equal(res.status, 200, res.body);
    assert.match(res.body, /static root/);
  });

  test("CGI and SSI files come back as their bytes, never run", T, async () => {
    for (const [target, bytes, ran] of [["/x.cgi", CGI, /CGI-RAN-42/], ["/page.shtml", SSI, /SSI-RAN-42|never-served/]]) {
      for (const method of ["GET", "POST"]) {
        const res = await request(node.port, method, target, [], method === "POST" ? "x=1" : undefined);
        assert.doesNotMatch(res.raw, ran, `${method} ${target} ran: ${res.raw}`);
        if (method === "GET") {
          assert.equal(res.status, 200, res.raw);
          assert.equal(res.body, bytes);
        } else {
          assert.equal(res.status, 404, res.raw);
        }
      }
    }
  });

  test("dotfiles, symlinks out of the folder and traversals are 404", T, async () => {
    for (const target of ["/.env", "/sub/../.env", "/%2eenv", "/link.txt", "/sub/link.html", "/../outside-secret.txt", "/sub/../../outside-secret.txt", "/sub/"]) {
      const res = await request(node.port, "GET", target);
      assert.equal(res.status, 404, `${target}: ${res.status} ${res.body.slice(0, 200)}`);
      assert.doesNotMatch(res.raw, /never-served|OUTSIDE-SECRET/, target);
    }
    // Rooms are served beside the folder.
    const client = await connect(node.wsUrl("echo", "static"));
    await client.send("beside the folder");
    await client.waitFor((m) => m.text === "beside the folder");
    await client.close();
    await until(() => node.running, { what: "the node running" });
  });
});
