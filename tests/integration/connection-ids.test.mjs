// Connection ids cannot be stolen, against a real node and nats-server with
// real clients (ws, the stock partysocket 1.3.0 and clients/js):
// - without auth, a second client asking for an id in use (`_pk`) gets a
//   fresh id and the first one stays; a partyline.v1 client learns its id and
//   a resume secret from its welcome frame, and that secret (`_resume`) takes
//   the id back, replacing the old connection;
// - with auth, the same verified `sub` replaces the old connection, another
//   one is refused 409 before anything of the room runs;
// - PartySocket reconnects keep their id; while the old connection lingers a
//   stock PartySocket gets a fresh id; PartylineSocket presents its secret.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";

import { TESTS_DIR, WebSocket, connect, loadPartySocket, startNats, startNode, withTimeout } from "./harness.mjs";

const T = { timeout: 60000 };
const PartySocket = loadPartySocket();
const requireFromTests = createRequire(path.join(TESTS_DIR, "package.json"));
const { PartylineSocket } = await import(pathToFileURL(requireFromTests.resolve("partyline-client")).href);
const { SignJWT } = requireFromTests("jose");
const SECRET = "a-connection-secret-of-at-least-32-bytes!";

let nats;
let node;
const sockets = [];

const token = (sub) =>
  new SignJWT({ sub }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(new TextEncoder().encode(SECRET));

// The id the room sees for a client: welcome.lua greets each connection with conn.id.
const greeted = (client) => client.waitFor((m) => m.text.includes('"type":"welcome"')).then((m) => m.json().id);
// What the room says a client's message came from (welcome.lua broadcasts {"type":"message","from":conn.id}).
const saidBy = (client, text) =>
  client.waitFor((m) => m.text.includes('"type":"message"') && m.json().text === text).then((m) => m.json().from);

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

function openPartySocket(Socket, options) {
  const socket = new Socket({ host: node.host, WebSocket, maxRetries: 5, connectionTimeout: 4000, ...options });
  sockets.push(socket);
  socket.received = [];
  socket.addEventListener("message", (event) => socket.received.push(event.data));
  return socket;
}

// The next welcome.lua greeting a PartySocket receives after `from` messages.
function nextGreeting(socket, from) {
  return withTimeout(
    new Promise((resolve) => {
      const check = () => {
        const found = socket.received.slice(from).find((d) => typeof d === "string" && d.includes('"type":"welcome"'));
        if (found === undefined) return false;
        socket.removeEventListener("message", check);
        resolve(JSON.parse(found).id);
        return true;
      };
      if (!check()) socket.addEventListener("message", check);
    }),
    10000,
    `a greeting on ${socket.url}`,
  );
}

describe("connection ids", () => {
  before(async () => {
    nats = await startNats();
    node = await startNode({
      natsUrl: nats.url,
      nodeId: "ids",
      parties: {
        main: "welcome.lua",
        secure: { script: "welcome.lua", auth: { jwt: { secret: SECRET, algorithms: ["HS256"] } } },
        open: { script: "welcome.lua", auth: { jwt: { secret: SECRET, algorithms: ["HS256"] }, required: false } },
      },
    });
  });

  after(async () => {
    for (const socket of sockets) socket.close();
    await node?.stop();
    await nats?.stop();
  });

  test("without auth, a second client asking for an id in use gets another; the first stays and keeps it", T, async () => {
    const victim = await connect(node.wsUrl("main", "r1", { _pk: "victim" }));
    assert.equal(await greeted(victim), "victim");
    const attacker = await connect(node.wsUrl("main", "r1", { _pk: "victim" }));
    const attackerId = await greeted(attacker);
    assert.notEqual(attackerId, "victim");
    assert.match(attackerId, /^[0-9a-f]{32}$/);

    await attacker.send("I am the victim");
    assert.equal(await saidBy(victim, "I am the victim"), attackerId, "the attacker spoke as the victim");
    await victim.send("still me");
    assert.equal(await saidBy(attacker, "still me"), "victim");
    assert.equal(victim.closeInfo, null, "the victim was closed");
    await Promise.all([victim.close(), attacker.close()]);
  });

  test("a partyline.v1 client is told its id and a resume secret; only that secret takes the id back", T, async () => {
    const v1 = ["partyline.v1"];
    const first = await connect(node.wsUrl("main", "r2", { _pk: "resumable" }), { protocols: v1 });
    await first.waitWelcome();
    assert.equal(first.welcome.id, "resumable");
    assert.match(first.welcome.resume, /^[0-9a-f]{32}$/);

    // Asking for the id without the secret, or with a wrong one: a fresh id, the first stays.
    const guesser = await connect(node.wsUrl("main", "r2", { _pk: "resumable", _resume: "0".repeat(32) }), { protocols: v1 });
    await guesser.waitWelcome();
    assert.notEqual(guesser.welcome.id, "resumable");
    assert.notEqual(guesser.welcome.resume, first.welcome.resume);

    // The secret: the id comes back and the old connection (lingering, say) is replaced.
    const again = await connect(node.wsUrl("main", "r2", { _pk: "resumable", _resume: first.welcome.resume }), { protocols: v1 });
    await again.waitWelcome();
    assert.equal(again.welcome.id, "resumable");
    assert.notEqual(again.welcome.resume, first.welcome.resume, "each connection gets its own secret");
    const closed = await first.waitClose();
    assert.equal(closed.code, 1000);
    assert.match(closed.reason, /replaced by a new connection with the same id/);
    assert.equal(guesser.closeInfo, null);

    // A used secret is spent: the replaced connection's secret no longer works.
    const replay = await connect(node.wsUrl("main", "r2", { _pk: "resumable", _resume: first.welcome.resume }), { protocols: v1 });
    await replay.waitWelcome();
    assert.notEqual(replay.welcome.id, "resumable");
    assert.equal(again.closeInfo, null);
    await Promise.all([again.close(), guesser.close(), replay.close()]);
  });

  test("with auth, the same sub replaces its old connection; another sub is refused 409 and kicks no one", T, async () => {
    const alice = await connect(node.wsUrl("secure", "r3", { _pk: "alice-tab", token: await token("alice") }));
    assert.equal(await greeted(alice), "alice-tab");

    const err = await refusedUpgrade(node.wsUrl("secure", "r3", { _pk: "alice-tab", token: await token("mallory") }));
    assert.equal(err.statusCode, 409);
    assert.match(err.body, /connection id 'alice-tab' is in use by another identity/);
    const mallory = await connect(node.wsUrl("secure", "r3", { token: await token("mallory") }));
    await greeted(mallory);
    await alice.send("hello");
    assert.equal(await saidBy(mallory, "hello"), "alice-tab", "alice was disturbed");

    const aliceAgain = await connect(node.wsUrl("secure", "r3", { _pk: "alice-tab", token: await token("alice") }));
    assert.equal(await greeted(aliceAgain), "alice-tab");
    const closed = await alice.waitClose();
    assert.equal(closed.code, 1000);
    assert.match(closed.reason, /replaced by a new connection with the same id/);
    await Promise.all([aliceAgain.close(), mallory.close()]);
  });

  test("with auth not required, an anonymous client asking for a held id gets a fresh one", T, async () => {
    const bob = await connect(node.wsUrl("open", "r4", { _pk: "bob-tab", token: await token("bob") }));
    assert.equal(await greeted(bob), "bob-tab");
    const anonymous = await connect(node.wsUrl("open", "r4", { _pk: "bob-tab" }));
    assert.notEqual(await greeted(anonymous), "bob-tab");
    assert.equal(bob.closeInfo, null);
    await Promise.all([bob.close(), anonymous.close()]);
  });

  test("a stock PartySocket reconnect keeps its id; while its old connection lingers it gets a fresh one", T, async () => {
    const socket = openPartySocket(PartySocket, { party: "main", room: "r5", id: "ps-client" });
    assert.equal(await nextGreeting(socket, 0), "ps-client");
    let seen = socket.received.length;
    socket.reconnect();
    assert.equal(await nextGreeting(socket, seen), "ps-client", "a reconnect lost its id");

    // A connection of its id that the node still holds (a half-open one, say): a fresh id until it is gone.
    socket.close();
    const lingering = await connect(node.wsUrl("main", "r5", { _pk: "ps-client" }));
    assert.equal(await greeted(lingering), "ps-client");
    seen = socket.received.length;
    socket.reconnect();
    assert.notEqual(await nextGreeting(socket, seen), "ps-client");
    await lingering.close();
    seen = socket.received.length;
    socket.reconnect();
    assert.equal(await nextGreeting(socket, seen), "ps-client", "the id did not come back once free");
    socket.close();
  });

  test("PartylineSocket keeps its welcome's secret and takes its id back from a connection that lingers", T, async () => {
    const socket = openPartySocket(PartylineSocket, { party: "main", room: "r6", id: "pl-client" });
    assert.equal(await nextGreeting(socket, 0), "pl-client");
    assert.equal(socket.connectionId, "pl-client");
    assert.equal(socket.received.filter((d) => typeof d === "string" && d.includes('"welcome":true')).length, 0,
      "the node's welcome frame reached the application");

    // Its old connection lingers: the node still holds it while the new one asks with the secret.
    const old = socket._ws;
    socket._removeListeners(); // PartySocket forgets it without closing it, as after a network cut
    socket._ws = undefined;
    const seen = socket.received.length;
    socket.reconnect();
    assert.equal(await nextGreeting(socket, seen), "pl-client");
    assert.equal(socket.connectionId, "pl-client");
    assert.match(String(socket.url), /_resume=[0-9a-f]{32}/);
    await withTimeout(new Promise((resolve) => (old.readyState === WebSocket.CLOSED ? resolve() : old.once("close", resolve))), 10000,
      "the lingering connection to be replaced");
    socket.close();
  });
});
