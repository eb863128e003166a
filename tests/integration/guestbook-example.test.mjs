// examples/guestbook: the example's configuration on real nodes and
// nats-servers, with the example's backend (examples/guestbook/backend.mjs,
// keeping its rooms in a file) as a child process on a free loopback port.
// The room checks each session with the backend before a client joins,
// keeps its entries in the backend's store, and announces itself to the
// lobby.

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { connect, fetchJson, startNats, startNodeWithConfig, tempDir, until } from "./harness.mjs";
import { startBackend } from "./guestbook-backend.mjs";

const T = { timeout: 180000 };
const CONFIG = "examples/guestbook/partyline.yaml"; // the example's own configuration

describe("examples/guestbook with its backend", () => {
  let backend;
  let nats;
  let node;

  let dataFile;

  before(async () => {
    dataFile = path.join(tempDir("guestbook"), "guestbook.json"); // the backend's file of rooms
    backend = await startBackend({ env: { GUESTBOOK_DATA: dataFile } });
    process.env.GUESTBOOK_BACKEND = backend.host; // read by the configuration: fetch.allow and the parties' env
    nats = await startNats();
    node = await startNodeWithConfig(CONFIG, { natsUrl: nats.url, nodeId: "guestbook-1" });
  });

  after(async () => {
    await node?.stop();
    await nats?.stop();
    await backend?.stop();
  });

  async function signIn(name) {
    const res = await backend.request("POST", "/sessions", { name });
    assert.equal(res.status, 201);
    return res.json.token;
  }

  const WAIT = { timeoutMs: 15000 }; // a room's first connection waits for its onStart and the session check
  const join = (room, token, on = node) => connect(on.wsUrl("guestbook", room, token === undefined ? undefined : { token }), WAIT);

  async function refusal(room, token) {
    const err = await join(room, token).then(
      (client) => {
        client.close();
        throw new Error("the upgrade was accepted");
      },
      (e) => e,
    );
    return err.statusCode;
  }

  const saved = async (room) => {
    const res = await backend.request("GET", `/rooms/${encodeURIComponent(`guestbook:${room}`)}`);
    return res.status === 200 ? res.json.entries.map((e) => `${e.name}: ${e.text}`) : [];
  };

  test("a client without a valid session is refused with 401", T, async () => {
    assert.equal(await refusal("front-door"), 401, "no token");
    assert.equal(await refusal("front-door", ""), 401, "an empty token");
    assert.equal(await refusal("front-door", "not-a-session"), 401, "an unknown token");
    const token = await signIn("eve");
    assert.equal((await backend.request("DELETE", `/sessions/${token}`)).status, 204);
    assert.equal(await refusal("front-door", token), 401, "a token signed out");
  });

  test("signed-in clients sign; the other sees the entry; the backend stores it; the lobby hears of the room", T, async () => {
    const room = "summer-party";
    const lobby = await connect(node.wsUrl("lobby", "main"), WAIT);
    const greeting = (await lobby.waitFor(1, 15000))[0].json();
    assert.equal(greeting.type, "guestbooks");
    assert.ok(!greeting.guestbooks.some((b) => b.id === room));
    assert.ok(!greeting.guestbooks.some((b) => b.id === "front-door"), "refused clients announce nothing");

    // Signing in through the lobby reaches the backend too (the page does so).
    const signedIn = await fetchJson(node.httpUrl("lobby", "main", "/sessions"), { method: "POST", body: JSON.stringify({ name: "ann" }) });
    assert.equal(signedIn.status, 201, signedIn.text);
    assert.deepEqual(signedIn.json.user, { name: "ann" });
    const checked = await fetchJson(node.httpUrl("lobby", "main", `/sessions/${signedIn.json.token}`));
    assert.deepEqual(checked.json, { user: { name: "ann" } });
    assert.equal((await fetchJson(node.httpUrl("lobby", "main", "/sessions/nope"))).status, 401);

    const ann = await join(room, signedIn.json.token);
    const welcome = (await ann.waitFor(1, 15000))[0].json();
    assert.deepEqual(welcome, { type: "welcome", room, user: { name: "ann" }, entries: [] });
    const bob = await join(room, await signIn("bob"));
    assert.equal((await bob.waitFor(1, 15000))[0].json().type, "welcome");

    // The room announced itself to the lobby when its first visitor joined.
    const announced = (await lobby.waitFor((m) => m.json().type === "guestbook" && m.json().id === room, 15000)).json();
    assert.equal(announced.entries, 0);

    await ann.send(JSON.stringify({ type: "sign", text: "lovely evening!" }));
    const isEntry = (m) => m.json().type === "entry";
    const seen = (await bob.waitFor(isEntry, 10000)).json().entry;
    assert.equal(seen.name, "ann", "the name is the session's, not the client's");
    assert.equal(seen.text, "lovely evening!");
    assert.equal((await ann.waitFor(isEntry, 10000)).json().entry.id, seen.id);
    await bob.send(JSON.stringify({ type: "sign", text: "thanks for having us", name: "mallory" }));
    await ann.waitFor((m) => isEntry(m) && m.json().entry.name === "bob", 10000);

    // Bad frames change nothing.
    for (const frame of ["{", JSON.stringify({ type: "sign" }), JSON.stringify({ type: "sign", text: "" }), JSON.stringify({ type: "sign", text: "x".repeat(501) }), JSON.stringify({ type: "edit", text: "hi" })]) {
      await ann.send(frame);
    }
    await ann.waitFor((m) => m.json().type === "error" && /1 to 500/.test(m.json().error), 10000);
    await ann.waitFor((m) => m.json().type === "error" && /"sign"/.test(m.json().error), 10000);

    // The save comes within about a second of the change, then the lobby hears the count.
    const expected = ["ann: lovely evening!", "bob: thanks for having us"];
    await until(async () => (await saved(room)).length === 2, { timeoutMs: 20000, what: "the backend to store both entries" });
    assert.deepEqual(await saved(room), expected);
    await lobby.waitFor((m) => m.json().type === "guestbook" && m.json().id === room && m.json().entries === 2, 20000);

    // A lobby client that joins later is greeted with the list.
    const late = await connect(node.wsUrl("lobby", "main"), WAIT);
    const list = (await late.waitFor(1, 15000))[0].json();
    assert.deepEqual(list.guestbooks.find((b) => b.id === room)?.entries, 2);
    const http = await fetchJson(node.httpUrl("lobby", "main"));
    assert.equal(http.json.guestbooks.find((b) => b.id === room)?.entries, 2);

    const room2 = await fetchJson(node.httpUrl("guestbook", room));
    assert.deepEqual(room2.json.entries.map((e) => `${e.name}: ${e.text}`), expected);
    await Promise.all([ann, bob, lobby, late].map((c) => c.close()));
  });

  test("two nodes: clients on each see every entry, and the backend stores them all", T, async () => {
    const room = "two-halls";
    const other = await startNodeWithConfig(CONFIG, { natsUrl: nats.url, nodeId: "guestbook-1b" });
    try {
      const gil = await join(room, await signIn("gil"));
      const hal = await join(room, await signIn("hal"), other);
      await Promise.all([gil.waitFor(1, 15000), hal.waitFor(1, 15000)]);
      const n = 5;
      await Promise.all([
        (async () => {
          for (let i = 1; i <= n; i++) await gil.send(JSON.stringify({ type: "sign", text: `gil ${i}` }));
        })(),
        (async () => {
          for (let i = 1; i <= n; i++) await hal.send(JSON.stringify({ type: "sign", text: `hal ${i}` }));
        })(),
      ]);
      const entries = (client) => client.messages.map((m) => m.json()).filter((m) => m.type === "entry").map((m) => `${m.entry.name}: ${m.entry.text}`);
      for (const client of [gil, hal]) await until(() => entries(client).length === 2 * n, { timeoutMs: 20000, what: `${2 * n} entries on each client` });
      assert.deepEqual(entries(gil), entries(hal), "both nodes see the entries in the log's order");
      await until(async () => (await saved(room)).length === 2 * n, { timeoutMs: 20000, what: `the backend to store ${2 * n} entries` });
      assert.deepEqual(await saved(room), entries(gil));
      await Promise.all([gil.close(), hal.close()]);
    } finally {
      await other.stop();
    }
  });

  test("a new node on a fresh nats-server reloads the entries from the backend", T, async () => {
    const room = "winter-party";
    const carol = await join(room, await signIn("carol"));
    await carol.waitFor(1, 15000);
    for (const text of ["one", "two", "three"]) await carol.send(JSON.stringify({ type: "sign", text }));
    await until(async () => (await saved(room)).length === 3, { timeoutMs: 20000, what: "the backend to store three entries" });
    await carol.close();

    // A fresh nats-server has no log: what comes back comes from the backend.
    await node.stop();
    await nats.stop();
    nats = await startNats();
    node = await startNodeWithConfig(CONFIG, { natsUrl: nats.url, nodeId: "guestbook-2" });
    const dave = await join(room, await signIn("dave"));
    const welcome = (await dave.waitFor(1, 15000))[0].json();
    assert.deepEqual(welcome.entries.map((e) => `${e.name}: ${e.text}`), ["carol: one", "carol: two", "carol: three"]);

    // Signing again adds to them; the backend keeps all four.
    await dave.send(JSON.stringify({ type: "sign", text: "four" }));
    await until(async () => (await saved(room)).length === 4, { timeoutMs: 20000, what: "the backend to store four entries" });
    assert.deepEqual((await saved(room)).slice(-1), ["dave: four"]);
    await dave.close();
  });

  test("with the backend down a client is refused with 503; an entry signed meanwhile is saved once it is back", T, async () => {
    const room = "power-cut";
    const ivy = await join(room, await signIn("ivy"));
    await ivy.waitFor(1, 15000);
    const token = await signIn("frank");
    await backend.stop();
    assert.equal(await refusal(room, token), 503);

    // The entry goes into the log; its save fails and is tried again.
    await ivy.send(JSON.stringify({ type: "sign", text: "in the dark" }));
    await ivy.waitFor((m) => m.json().type === "entry", 10000);
    const failedSave = (line) => line.includes("cannot save the guestbook") && line.includes(room);
    await until(() => node.logs().split("\n").some(failedSave), { timeoutMs: 20000, what: "a failed save in the node's log" });

    // Back on the same port with its file: the rooms saved before are there,
    // and the retry saves the new entry.
    backend = await startBackend({ port: backend.port, env: { GUESTBOOK_DATA: dataFile } });
    assert.deepEqual(await saved("winter-party"), ["carol: one", "carol: two", "carol: three", "dave: four"]);
    await until(async () => (await saved(room)).length === 1, { timeoutMs: 30000, what: "the retried save" });
    assert.deepEqual(await saved(room), ["ivy: in the dark"]);
    await ivy.close();
  });
});
