// Built-in connection auth (parties.X.auth.jwt) against a real node, with
// tokens made by the npm package jose: a token is checked before anything of
// the room runs (onBeforeConnect, a ?since= replay, onRequest); refusals are
// 401 with WWW-Authenticate and the reason, or 403 for a room the token's
// rooms claim does not name; the verified claims are conn.auth and req.auth,
// read-only; a connection is closed 4001 "token expired" at exp plus leeway,
// and a PartySocket whose query fetches a fresh token reconnects by itself.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import {
  TESTS_DIR,
  WebSocket,
  connect,
  httpFetch,
  loadPartySocket,
  startNats,
  startNode,
  tempDir,
  until,
} from "./harness.mjs";

const { SignJWT, generateKeyPair, exportSPKI } = createRequire(path.join(TESTS_DIR, "package.json"))("jose");
const PartySocket = loadPartySocket();
const T = { timeout: 60000 };
const SECRET = "a-connection-secret-of-at-least-32-bytes!";
const AUDIENCE = "partyline";
const ISSUER = "https://auth.example.com";
const b64url = (text) => Buffer.from(text).toString("base64url");

let nats;
let node;
let esKeys;
const sockets = [];

async function hsToken(claims = {}, { expires = "1h", secret = SECRET, header = {} } = {}) {
  let jwt = new SignJWT({ sub: "alice", ...claims })
    .setProtectedHeader({ alg: "HS256", ...header })
    .setIssuedAt()
    .setAudience(AUDIENCE)
    .setIssuer(ISSUER);
  if (expires !== null) jwt = jwt.setExpirationTime(expires);
  return jwt.sign(typeof secret === "string" ? new TextEncoder().encode(secret) : secret);
}

// Resolves with the refusal {statusCode, body} of an upgrade expected to fail.
async function refusedUpgrade(url, options) {
  const err = await connect(url, options).then(
    (client) => {
      client.close();
      throw new Error(`the upgrade to ${url} was accepted`);
    },
    (e) => e,
  );
  assert.ok(err.statusCode, `no HTTP refusal: ${err.message}`);
  return err;
}

const hello = (client) => client.waitFor((m) => m.text.includes('"type":"hello"'), 10000).then((m) => m.json());
const beforeConnectRan = (marker) => node.logs().includes(`onBeforeConnect ran for ${marker}`);

describe("connection auth (parties.X.auth.jwt)", () => {
  before(async () => {
    nats = await startNats();
    esKeys = await generateKeyPair("ES256", { extractable: true });
    const dir = tempDir("auth-keys");
    const pemFile = path.join(dir, "es256.pem");
    fs.writeFileSync(pemFile, await exportSPKI(esKeys.publicKey));
    node = await startNode({
      natsUrl: nats.url,
      nodeId: "auth",
      parties: {
        secure: {
          script: "auth-room.lua",
          auth: { jwt: { secret: SECRET, algorithms: ["HS256"], audience: AUDIENCE, issuer: ISSUER, leeway_seconds: 1 } },
        },
        open: { script: "auth-room.lua", auth: { jwt: { secret: SECRET, algorithms: ["HS256"] }, required: false } },
        es: { script: "auth-room.lua", auth: { jwt: { public_key: pemFile, algorithms: ["ES256"] } } },
      },
    });
  });

  after(async () => {
    for (const socket of sockets) socket.close();
    await node?.stop();
    await nats?.stop();
  });

  test("a valid token in ?token= or Authorization: Bearer joins; its claims are conn.auth and req.auth", T, async () => {
    const viaQuery = await connect(node.wsUrl("secure", "r1", { token: await hsToken({ role: "admin" }) }));
    const greeting = await hello(viaQuery);
    assert.equal(greeting.sub, "alice");
    assert.equal(greeting.req_sub, "alice");
    assert.equal(greeting.claims.role, "admin");
    assert.equal(greeting.claims.aud, AUDIENCE);

    const viaHeader = await connect(node.wsUrl("secure", "r1"), { headers: { Authorization: `Bearer ${await hsToken({ sub: "bob" })}` } });
    assert.equal((await hello(viaHeader)).sub, "bob");

    // conn.auth is read-only.
    await viaQuery.send("write");
    const wrote = (await viaQuery.waitFor((m) => m.text.includes('"type":"write"'))).json();
    assert.equal(wrote.ok, false);
    assert.match(wrote.err, /conn\.auth is read-only/);
    assert.equal(wrote.sub, "alice");
    await viaQuery.close();
    await viaHeader.close();
  });

  test("public-key tokens (ES256) verify; HS256 signed with that public key as the secret is refused", T, async () => {
    const token = await new SignJWT({ sub: "carol" }).setProtectedHeader({ alg: "ES256" }).setExpirationTime("1h").sign(esKeys.privateKey);
    const client = await connect(node.wsUrl("es", "r1", { token }));
    assert.equal((await hello(client)).sub, "carol");
    await client.close();
    const pem = await exportSPKI(esKeys.publicKey);
    const confused = await new SignJWT({ sub: "mallory" }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(new TextEncoder().encode(pem));
    const err = await refusedUpgrade(node.wsUrl("es", "r1", { token: confused, marker: "confused" }));
    assert.equal(err.statusCode, 401);
    assert.match(err.body, /algorithm not allowed/);
  });

  test("each bad token gets 401 with its reason, and the room's script never sees it", T, async () => {
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
    const nested = "[".repeat(1000) + "]".repeat(1000);
    const cases = [
      ["no token", null, /token required/],
      ["expired", await hsToken({}, { expires: now - 120 }), /expired/],
      ["wrong secret", await hsToken({}, { secret: "another-secret-that-is-32-bytes-long!!" }), /bad signature/],
      ["alg none", `${b64url('{"alg":"none"}')}.${b64url(JSON.stringify({ sub: "eve", exp: now + 600 }))}.`, /algorithm not allowed|malformed/],
      ["wrong audience", await new SignJWT({ sub: "x" }).setProtectedHeader({ alg: "HS256" }).setAudience("other").setIssuer(ISSUER).setExpirationTime("1h").sign(new TextEncoder().encode(SECRET)), /audience/],
      ["wrong issuer", await new SignJWT({ sub: "x" }).setProtectedHeader({ alg: "HS256" }).setAudience(AUDIENCE).setIssuer("https://evil").setExpirationTime("1h").sign(new TextEncoder().encode(SECRET)), /issuer/],
      ["exp as a string", await hsToken({ exp: String(now + 600) }, { expires: null }), /malformed/],
      ["claims nested 1,000 deep", await hsToken({ deep: JSON.parse(nested) }), /malformed/],
      ["a rooms claim that is not a list", await hsToken({ rooms: "secure/*" }), /rooms claim is not a list/],
      ["garbage", "not.a.token", /malformed/],
      ["over 8 KiB", `${header}.${b64url("x".repeat(9000))}.sig`, /too large/],
    ];
    for (const [what, token, reason] of cases) {
      const marker = what.replace(/\W+/g, "-");
      const query = token ? { token, marker, since: "0" } : { marker, since: "0" };
      const err = await refusedUpgrade(node.wsUrl("secure", "refusals", query));
      assert.equal(err.statusCode, 401, `${what}: ${err.statusCode} ${err.body}`);
      assert.match(err.body, reason, what);
      assert.ok(!beforeConnectRan(marker), `${what}: onBeforeConnect ran`);
    }
    // A 2 KiB kid is only a header field: the token is judged on its signature.
    const kid = await hsToken({}, { header: { kid: "k".repeat(2048) } });
    const client = await connect(node.wsUrl("secure", "refusals", { token: kid }));
    assert.equal((await hello(client)).sub, "alice");
    await client.close();
    assert.equal((await httpFetch(`${node.url}/healthz`)).status, 200);
  });

  test("a refusal carries WWW-Authenticate; room HTTP needs the token too", T, async () => {
    const res = await httpFetch(node.httpUrl("secure", "r2"));
    assert.equal(res.status, 401);
    assert.match(res.headers.get("www-authenticate"), /^Bearer realm="partyline", error="invalid_token"/);
    assert.match(await res.text(), /token required/);
    const ok = await httpFetch(node.httpUrl("secure", "r2"), { headers: { Authorization: `Bearer ${await hsToken({ sub: "dave" })}` } });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { sub: "dave" });
  });

  test("the rooms claim limits which rooms a token opens", T, async () => {
    const token = await hsToken({ rooms: ["lobby", "secure/game-1"] });
    for (const room of ["lobby", "game-1"]) {
      const client = await connect(node.wsUrl("secure", room, { token }));
      assert.equal((await hello(client)).sub, "alice");
      await client.close();
    }
    const err = await refusedUpgrade(node.wsUrl("secure", "game-2", { token }));
    assert.equal(err.statusCode, 403);
    assert.match(err.body, /rooms claim does not include secure\/game-2/);
    const wildcard = await connect(node.wsUrl("secure", "anything", { token: await hsToken({ rooms: ["secure/*"] }) }));
    await hello(wildcard);
    await wildcard.close();
    const notStrings = await refusedUpgrade(node.wsUrl("secure", "lobby", { token: await hsToken({ rooms: [1, 2] }) }));
    assert.equal(notStrings.statusCode, 401);
  });

  test("with required: false a connection without a token is anonymous, and a bad one is still refused", T, async () => {
    const anonymous = await connect(node.wsUrl("open", "r1"));
    const greeting = await hello(anonymous);
    assert.equal(greeting.sub, null);
    assert.equal(greeting.claims, null);
    await anonymous.close();
    const err = await refusedUpgrade(node.wsUrl("open", "r1", { token: await hsToken({}, { secret: "another-secret-that-is-32-bytes-long!!" }) }));
    assert.equal(err.statusCode, 401);
  });

  test("a connection is closed 4001 at its token's exp plus leeway; PartySocket reconnects with a fresh token", T, async () => {
    const client = await connect(node.wsUrl("secure", "expiring", { token: await hsToken({}, { expires: Math.floor(Date.now() / 1000) + 2 }) }));
    await hello(client);
    const closed = await client.closed;
    assert.deepEqual(closed, { code: 4001, reason: "token expired" });

    // The documented pattern: query as an async function that fetches a token on every connect.
    let tokensIssued = 0;
    const socket = new PartySocket({
      host: node.host,
      party: "secure",
      room: "expiring",
      WebSocket,
      query: async () => {
        tokensIssued++;
        return { token: await hsToken({ sub: `user-${tokensIssued}` }, { expires: Math.floor(Date.now() / 1000) + 2 }) };
      },
      minReconnectionDelay: 100,
      maxReconnectionDelay: 500,
      maxRetries: 10,
    });
    sockets.push(socket);
    const greetings = [];
    socket.addEventListener("message", (event) => {
      if (typeof event.data === "string" && event.data.includes('"type":"hello"')) greetings.push(JSON.parse(event.data).sub);
    });
    await until(() => greetings.length >= 2, { timeoutMs: 30000, what: "a second hello after the first token expired" });
    assert.deepEqual(greetings.slice(0, 2), ["user-1", "user-2"]);
    socket.close();
  });
});
