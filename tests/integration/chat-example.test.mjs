// examples/chat: the room script as party main on a node with a real
// nats-server, driven the way its page drives it, and the page served at /chat/;
// joins and leaves are presence, told across nodes and never in the log.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { SOURCE_DIR, connect, httpFetch, startNats, startNode } from "./harness.mjs";
import { readLog } from "./fault-tools.mjs";

const T = { timeout: 30000 };

describe("examples/chat on one node", () => {
  let nats;
  let node;

  before(async () => {
    nats = await startNats();
    node = await startNode({ natsUrl: nats.url, nodeId: "chat", parties: { main: "examples/chat/room.lua" } });
  });

  after(async () => {
    await node?.stop();
    await nats?.stop();
  });

  const ofType = (type, extra = () => true) => (m) => {
    try {
      const value = JSON.parse(m.text);
      return value?.type === type && extra(value);
    } catch {
      return false;
    }
  };

  // A connection and its handle, the opaque name the room gives it (never its id).
  async function join(room, id, on = node) {
    const client = await connect(`ws://${on.host}/parties/main/${encodeURIComponent(room)}?_pk=${id}`);
    const welcome = (await client.waitFor(ofType("welcome"))).json();
    assert.deepEqual(Object.keys(welcome).sort(), ["handle", "online", "room", "type"]);
    assert.ok(Array.isArray(welcome.online));
    client.online = welcome.online;
    assert.equal(welcome.room, room);
    assert.match(welcome.handle, /^[0-9a-f]{12}$/);
    assert.notEqual(welcome.handle, id);
    client.handle = welcome.handle;
    return client;
  }

  describe("examples/chat", () => {
    test("welcome, then chat lines from name or handle reach everyone; no frame carries an id", T, async () => {
      const ann = await join("lobby", "ann");
      const bob = await join("lobby", "bob");
      await ann.waitFor(ofType("join", (m) => m.handle === bob.handle));

      await ann.send(JSON.stringify({ type: "chat", text: "hello", name: "Ann" }));
      await bob.send(JSON.stringify({ type: "chat", text: "hi ann" }));
      for (const client of [ann, bob]) {
        const fromAnn = (await client.waitFor(ofType("chat", (m) => m.text === "hello"))).json();
        assert.equal(fromAnn.from, "Ann");
        assert.equal(fromAnn.handle, ann.handle);
        assert.equal(typeof fromAnn.at, "number");
        const fromBob = (await client.waitFor(ofType("chat", (m) => m.text === "hi ann"))).json();
        assert.equal(fromBob.from, bob.handle);
      }
      for (const client of [ann, bob])
        for (const text of client.texts) assert.ok(!/"(ann|bob)"/.test(text) && !("id" in JSON.parse(text)), text);
      await Promise.all([ann.close(), bob.close()]);
    });

    test("invalid messages get an error to the sender and are not broadcast", T, async () => {
      const ann = await join("strict", "ann2");
      const bob = await join("strict", "bob2");
      await ann.waitFor(ofType("join", (m) => m.handle === bob.handle));
      const bad = [
        "not json",
        JSON.stringify({ type: "chat", text: "x".repeat(2001) }),
        JSON.stringify({ type: "chat", text: 42 }),
        JSON.stringify({ type: "chat" }),
        JSON.stringify({ type: "shout", text: "hi" }),
        JSON.stringify([1, 2]),
      ];
      for (const frame of bad) await bob.send(frame);
      await bob.send(Buffer.from([1, 2, 3]), { binary: true });
      await bob.waitFor(bad.length + 1 + 1); // welcome + errors
      assert.equal(bob.messages.filter(ofType("error")).length, bad.length + 1, bob.texts.join("\n"));

      await bob.send(JSON.stringify({ type: "chat", text: "é".repeat(2000) })); // 2000 characters, 4000 bytes
      await bob.send(JSON.stringify({ type: "chat", text: "valid" }));
      await ann.waitFor(ofType("chat", (m) => m.text === "valid"));
      const seen = ann.messages.filter(ofType("chat")).map((m) => m.json().text);
      assert.deepEqual(seen, ["é".repeat(2000), "valid"], "ann saw something other than the two valid lines");
      assert.equal(ann.messages.filter(ofType("error")).length, 0, "errors went to another client");
      await Promise.all([ann.close(), bob.close()]);
    });

    test("closing tells the others a leave notice, with the name", T, async () => {
      const ann = await join("leaving", "ann3");
      const bob = await join("leaving", "bob3");
      // Presence coalesces changes within 50 ms: a connection whose whole life fits in that
      // window is never announced, so bob waits until the others know him.
      await ann.waitFor(ofType("join", (m) => m.handle === bob.handle));
      await bob.send(JSON.stringify({ type: "chat", text: "bye", name: "Bob" }));
      await ann.waitFor(ofType("chat", (m) => m.text === "bye"));
      // The new name is presence too: the others are told it.
      const named = (await ann.waitFor(ofType("name", (m) => m.handle === bob.handle))).json();
      assert.equal(named.name, "Bob");
      await bob.close();
      const leave = (await ann.waitFor(ofType("leave"))).json();
      assert.equal(leave.handle, bob.handle);
      assert.equal(leave.name, "Bob");
      await ann.close();
    });

    test("joins and leaves are told across nodes and kept out of the log; the welcome lists who is here", T, async () => {
      const other = await startNode({ natsUrl: nats.url, nodeId: "chat-2", parties: { main: "examples/chat/room.lua" } });
      try {
        const room = "presence";
        const ann = await join(room, "ann4");
        await ann.send(JSON.stringify({ type: "chat", text: "hi", name: "Ann" }));
        await ann.waitFor(ofType("chat", (m) => m.text === "hi"));
        const bob = await join(room, "bob4", other); // on the other node
        const joined = (await ann.waitFor(ofType("join", (m) => m.handle === bob.handle), 10000)).json();
        assert.equal(joined.name, undefined, "bob has no name yet");
        // bob's welcome lists ann, once the other node heard of her.
        const carol = await join(room, "carol4", other);
        assert.deepEqual(carol.online.filter((p) => p.handle === ann.handle), [{ handle: ann.handle, name: "Ann" }]);
        await bob.close();
        for (const client of [ann, carol]) await client.waitFor(ofType("leave", (m) => m.handle === bob.handle), 10000);

        // The log holds the chat line only: a replaying client never sees an old join or leave.
        const log = await readLog(node, "main", room);
        assert.deepEqual(log.map((e) => JSON.parse(e.data).type), ["chat"]);
        const late = await connect(`ws://${node.host}/parties/main/${room}?_pk=late4&since=0`);
        await late.waitFor(ofType("welcome"));
        assert.deepEqual(late.messages.map((m) => JSON.parse(m.text).type).filter((t) => t === "join" || t === "leave"), []);
        await Promise.all([ann.close(), carol.close(), late.close()]);
      } finally {
        await other.stop();
      }
    });

    test("GET on the room answers its id", T, async () => {
      for (const url of [`${node.url}/parties/main/lobby`, `${node.url}/party/lobby`]) {
        const res = await httpFetch(url);
        assert.equal(res.status, 200, url);
        assert.deepEqual(await res.json(), { room: "lobby" });
      }
    });

    test("the page is served at /chat/", T, async () => {
      const res = await httpFetch(`${node.url}/chat/`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") || "", /text\/html/);
      const expected = fs.readFileSync(path.join(SOURCE_DIR, "examples", "chat", "public", "index.html"), "utf8");
      assert.equal(await res.text(), expected);
    });
  });
});
