// jwt.verify and jwt.sign in a room on a real node (scripts/jwt.lua), against
// tokens, keys and signatures made by the npm package jose: every algorithm
// (HS256, HS384, HS512, RS256, ES256, EdDSA) both ways, each reason a token is
// refused, alg none, algorithm confusion, a 2 KiB kid, exp as a string,
// claims nested 1,000 deep and a token over 8 KiB; the node keeps serving.
// crypto.sha256, crypto.hmac_sha256 and base64 agree with node:crypto.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";

import { TESTS_DIR, connect, startNats, startNode } from "./harness.mjs";

const T = { timeout: 60000 };
const jose = await import(pathToFileURL(createRequire(path.join(TESTS_DIR, "package.json")).resolve("jose")));

const SECRET = "a shared secret of at least sixty-four bytes for HS512, made up for this test";
const ISSUER = "https://auth.example.com";
const AUDIENCE = "partyline";
const now = () => Math.floor(Date.now() / 1000);
const b64url = (text) => Buffer.from(text).toString("base64url");

// A token made by hand, HS256 over whatever header and claims text.
function handMade(header, claims, secret = SECRET) {
  const input = `${b64url(header)}.${b64url(claims)}`;
  return `${input}.${crypto.createHmac("sha256", secret).update(input).digest("base64url")}`;
}

describe("jwt in a room, against jose", () => {
  let nats;
  let node;
  let client;
  let nextId = 0;
  const keys = {}; // alg -> {sign, verify (what jose takes), publicPem, privatePem}

  before(async () => {
    nats = await startNats();
    node = await startNode({ natsUrl: nats.url, nodeId: "jwt", parties: { jwt: "jwt.lua" } });
    client = await connect(node.wsUrl("jwt", "tokens"));
    const secret = new TextEncoder().encode(SECRET);
    for (const alg of ["HS256", "HS384", "HS512"]) keys[alg] = { sign: secret, verify: secret };
    for (const alg of ["RS256", "ES256", "EdDSA"]) {
      const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
      keys[alg] = {
        sign: privateKey,
        verify: publicKey,
        publicPem: await jose.exportSPKI(publicKey),
        privatePem: await jose.exportPKCS8(privateKey),
      };
    }
  });

  after(async () => {
    await client?.close();
    await node?.stop();
    await nats?.stop();
  });

  async function ask(request) {
    const id = ++nextId;
    await client.send(JSON.stringify({ id, ...request }));
    const reply = await client.waitFor((m) => JSON.parse(m.text).id === id, 10000);
    return JSON.parse(reply.text);
  }

  function verifyOpts(alg, extra = {}) {
    const key = alg.startsWith("HS") ? { secret: SECRET } : { public_key: keys[alg].publicPem };
    return { ...key, algorithms: [alg], audience: AUDIENCE, issuer: ISSUER, ...extra };
  }

  function joseToken(alg, claims = {}, { header = {}, exp = "2m", key = keys[alg].sign } = {}) {
    const jwt = new jose.SignJWT({ sub: "ada", nested: { list: [1, 2], yes: true }, ...claims })
      .setProtectedHeader({ alg, typ: "JWT", ...header })
      .setIssuedAt(claims.iat) // the setters override the claims given: pass them on
      .setIssuer(claims.iss ?? ISSUER)
      .setAudience(claims.aud ?? AUDIENCE);
    if (exp !== undefined) jwt.setExpirationTime(exp);
    return jwt.sign(key);
  }

  for (const alg of ["HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"]) {
    test(`${alg}: a jose token verifies in the room, and the room's token verifies in jose`, T, async () => {
      const token = await joseToken(alg);
      const verified = await ask({ verify: token, opts: verifyOpts(alg) });
      assert.equal(verified.reason, undefined, JSON.stringify(verified));
      assert.equal(verified.claims.sub, "ada");
      assert.deepEqual(verified.claims.nested, { list: [1, 2], yes: true });
      assert.equal(verified.claims.aud, AUDIENCE);

      const signOpts = alg.startsWith("HS") ? { secret: SECRET, alg } : { private_key: keys[alg].privatePem };
      const claims = { sub: "grace", iss: ISSUER, aud: AUDIENCE, exp: now() + 60, roles: ["a", "b"] };
      const signed = await ask({ sign: claims, opts: signOpts });
      assert.equal(signed.error, undefined, JSON.stringify(signed));
      const { payload, protectedHeader } = await jose.jwtVerify(signed.token, keys[alg].verify, {
        algorithms: [alg],
        issuer: ISSUER,
        audience: AUDIENCE,
      });
      assert.equal(protectedHeader.alg, alg);
      assert.deepEqual(payload, claims);
    });
  }

  test("each reason a jose token is refused", T, async () => {
    const other = new TextEncoder().encode("another secret entirely, of the same kind");
    const cases = [
      ["expired", await joseToken("HS256", {}, { exp: now() - 120 })],
      ["not yet valid", await joseToken("HS256", { nbf: now() + 120 })],
      ["not yet valid", await joseToken("HS256", { iat: now() + 120 })],
      ["bad signature", await joseToken("HS256", {}, { key: other })],
      ["algorithm not allowed", await joseToken("HS384")],
      ["audience", await joseToken("HS256", { aud: "someone-else" })],
      ["issuer", await joseToken("HS256", { iss: "https://evil.example.com" })],
      ["malformed", "not.a.token"],
    ];
    for (const [reason, token] of cases) {
      const answer = await ask({ verify: token, opts: verifyOpts("HS256") });
      assert.equal(answer.reason, reason, `${reason}: ${JSON.stringify(answer)}`);
    }
    const otherRsa = (await jose.generateKeyPair("RS256")).privateKey;
    const rs = await joseToken("RS256", {}, { key: otherRsa });
    assert.equal((await ask({ verify: rs, opts: verifyOpts("RS256") })).reason, "bad signature");
    // An expired ES256 token: the claims are checked after the signature, whatever the algorithm.
    const expired = await joseToken("ES256", {}, { exp: now() - 120 });
    assert.equal((await ask({ verify: expired, opts: verifyOpts("ES256") })).reason, "expired");
  });

  test("alg none and algorithm confusion are refused", T, async () => {
    const unsecured = new jose.UnsecuredJWT({ sub: "admin" }).setIssuer(ISSUER).setAudience(AUDIENCE).encode();
    assert.equal((await ask({ verify: unsecured, opts: verifyOpts("HS256") })).reason, "algorithm not allowed");
    const listed = await ask({ verify: unsecured, opts: { secret: SECRET, algorithms: ["none"] } });
    assert.match(listed.error, /jwt\.verify: opts\.algorithms: "none" is never accepted/);

    // HS256 made by jose with the RSA public key's PEM as the HMAC secret.
    const pemAsSecret = new TextEncoder().encode(keys.RS256.publicPem);
    const forged = await joseToken("HS256", { sub: "admin" }, { key: pemAsSecret });
    const opts = verifyOpts("RS256", { algorithms: ["RS256", "HS256"] });
    assert.equal((await ask({ verify: forged, opts })).reason, "algorithm not allowed");
    const es = await joseToken("ES256");
    assert.equal((await ask({ verify: es, opts: verifyOpts("RS256", { algorithms: ["RS256", "ES256"] }) })).reason,
      "algorithm not allowed");
  });

  test("hostile tokens get their answer and the node keeps serving", T, async () => {
    const kid = await joseToken("HS256", {}, { header: { kid: "k".repeat(2048) } });
    assert.equal((await ask({ verify: kid, opts: verifyOpts("HS256") })).claims.sub, "ada");

    const header = '{"alg":"HS256","typ":"JWT"}';
    const base = `"iss":"${ISSUER}","aud":"${AUDIENCE}"`;
    const hostile = [
      ["exp as a string", handMade(header, `{${base},"exp":"${now() + 60}"}`), "malformed"],
      ["nested 1,000 deep", handMade(header, `{${base},"a":${"[".repeat(1000)}${"]".repeat(1000)}}`), "malformed"],
      ["over 8 KiB", handMade(header, `{${base},"pad":"${"x".repeat(7000)}"}`), "too large"],
      ["a JSON array", handMade(header, "[1]"), "malformed"],
    ];
    for (const [what, token, reason] of hostile) {
      assert.equal((await ask({ verify: token, opts: verifyOpts("HS256") })).reason, reason, what);
    }
    const digest = await ask({ digest: "hello\u00e9", key: "k" });
    assert.deepEqual(digest, {
      id: digest.id,
      sha256: crypto.createHash("sha256").update("hello\u00e9").digest("hex"),
      hmac: crypto.createHmac("sha256", "k").update("hello\u00e9").digest("hex"),
      b64: Buffer.from("hello\u00e9").toString("base64"),
      b64url: Buffer.from("hello\u00e9").toString("base64url"),
    });
    assert.equal((await ask({ verify: await joseToken("EdDSA"), opts: verifyOpts("EdDSA") })).claims.sub, "ada");
  });
});
