// One real nats-server, one partyline node, real WebSocket clients: the
// PartyKit-compatible URLs, the Lua handlers and the log, end to end.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { after, before, describe, test } from "node:test";

import { connect, httpFetch, natsServerBin, startNats, startNode } from "./harness.mjs";

const T = { timeout: 30000 };

describe("one node", () => {
  let nats;
  let node;

  before(async () => {
    nats = await startNats();
    node = await startNode({
      natsUrl: nats.url,
      nodeId: "basic",
      parties: { echo: "echo.lua", req: "request.lua", welcome: "welcome.lua", main: "welcome.lua" },
    });
  });

  after(async () => {
    await node?.stop();
    await nats?.stop();
  });

  test("the node logs the version of the nats-server it reached, the one the test started", T, async () => {
    const printed = spawnSync(natsServerBin(), ["--version"], { encoding: "utf8" }).stdout;
    const version = printed.match(/(\d+\.\d+\.\d+\S*)/)[1];
    assert.match(node.logs(), new RegExp(`msg="nats-server ${version.replaceAll(".", "\\.")}" url=nats://127\\.0\\.0\\.1:`));
  });

  test("the node's threads are named by their role, nats.c's too", T, async () => {
    // A write delivered to a client: a NATS delivery thread has taken its name.
    const client = await connect(node.wsUrl("echo", "thread-names"));
    await client.send("named");
    await client.waitFor((m) => !m.binary && m.text === "named");
    client.close();
    const names = fs.readdirSync(`/proc/${node.pid}/task`).map((t) => fs.readFileSync(`/proc/${node.pid}/task/${t}/comm`, "utf8").trim());
    const roles = ["pl-reactor", "pl-sender", "pl-shard-0", "pl-block-0", "pl-http-0", "pl-http-accept", "pl-timer",
      "pl-nats-timer", "pl-fetch", "pl-nats-io", "pl-nats-lib", "pl-nats-deliver"];
    for (const role of roles) assert.ok(names.includes(role), `${role} in ${[...new Set(names)].join(" ")}`);
    // Unnamed: the main thread, and delivery threads that have had no message yet (4 in the pool).
    const unnamed = names.filter((n) => !n.startsWith("pl-"));
    assert.ok(unnamed.length <= 4, `unnamed threads: ${unnamed.join(" ")}`);
  });

  // Resolves once the node's shard runs onMessage for this client, so writes
  // made afterwards reach it.
  async function joined(client) {
    await client.send("whoami");
    return (await client.waitFor((m) => !m.binary && m.text.includes('"whoami"'))).json();
  }

  // Resolves with the welcome an onConnect handler sent.
  async function welcomeOf(client) {
    return (await client.waitFor((m) => !m.binary && m.text.includes('"welcome"'))).json();
  }

  describe("websocket rooms", () => {
    test("a text message goes to every connection of the room as text", T, async () => {
      const a = await connect(node.wsUrl("echo", "lobby"));
      const b = await connect(node.wsUrl("echo", "lobby"));
      await joined(a);
      await joined(b);
      await a.send("hello, room");
      for (const client of [a, b]) {
        const message = await client.waitFor((m) => m.text === "hello, room");
        assert.equal(message.binary, false, "a text frame came back as binary");
      }
      await a.close();
      await b.close();
    });

    test("a client is in the room once it is open: a write sent right after reaches it", T, async () => {
      const writer = await connect(node.wsUrl("echo", "open-order"));
      await joined(writer);
      for (let i = 0; i < 50; i++) {
        const fresh = await connect(node.wsUrl("echo", "open-order"));
        await writer.send(`after open ${i}`);  // nothing waits for the newcomer's onConnect
        await fresh.waitFor((m) => m.text === `after open ${i}`, 5000);
        fresh.ws.terminate();
      }
      await writer.close();
    });

    test("binary frames stay binary, byte for byte", T, async () => {
      const a = await connect(node.wsUrl("echo", "bytes"));
      const b = await connect(node.wsUrl("echo", "bytes"));
      await joined(a);
      await joined(b);
      const bytes = Buffer.from([0x00, 0x01, 0x7f, 0x80, 0xc3, 0x28, 0xfe, 0xff]); // not valid UTF-8
      await a.send(bytes, { binary: true });
      await a.send("after the bytes");
      for (const client of [a, b]) {
        const message = await client.waitFor((m) => m.binary);
        assert.deepEqual([...message.data], [...bytes]);
        const text = await client.waitFor((m) => m.text === "after the bytes");
        assert.equal(text.binary, false);
      }
      await a.close();
      await b.close();
    });

    test("broadcast with exclude leaves the sender out", T, async () => {
      const a = await connect(node.wsUrl("echo", "exclude"));
      const b = await connect(node.wsUrl("echo", "exclude"));
      await joined(a);
      await joined(b);
      await a.send("except-me");
      await a.send("marker");
      // The log orders "except-me" before "marker": once a has "marker", it would
      // already hold "except-me" if exclude had been ignored.
      await a.waitFor((m) => m.text === "marker");
      await b.waitFor((m) => m.text === "marker");
      assert.ok(!a.texts.includes("except-me"), "the excluded sender received its own message");
      assert.deepEqual(b.texts.filter((t) => t === "except-me" || t === "marker"), ["except-me", "marker"]);
      await a.close();
      await b.close();
    });

    test("/party/:room reaches the default party main", T, async () => {
      const client = await connect(`ws://${node.host}/party/main-lobby?_pk=m-1`);
      const welcome = await welcomeOf(client);
      assert.deepEqual(welcome, { type: "welcome", id: "m-1", room: "main-lobby", party: "main" });
      await client.close();
    });

    test("_pk becomes conn.id; without it each connection gets its own id", T, async () => {
      const alice = await connect(node.wsUrl("welcome", "ids", { _pk: "alice-42" }));
      assert.equal((await welcomeOf(alice)).id, "alice-42");
      await alice.send("hi");
      const echoed = (await alice.waitFor((m) => m.text.includes('"message"'))).json();
      assert.equal(echoed.from, "alice-42");

      const x = await connect(node.wsUrl("welcome", "ids"));
      const y = await connect(node.wsUrl("welcome", "ids"));
      const [idX, idY] = [(await welcomeOf(x)).id, (await welcomeOf(y)).id];
      assert.equal(typeof idX, "string");
      assert.ok(idX.length > 0, "generated connection id is empty");
      assert.notEqual(idX, idY, "two connections got the same generated id");
      await Promise.all([alice.close(), x.close(), y.close()]);
    });

    test("room ids with dots, spaces, *, >, =, %, / and unicode are distinct rooms", T, async () => {
      // "a.b" must not share a subject with "a_b", nor with "a=2Eb" (its encoding).
    // Ids travel URL-encoded: "a%b" as a%25b and "a/b" as a%2Fb.
      const ids = ["a.b", "a_b", "a=2Eb", "a b", "a*b", "a>b", "a.>", "*", ">", "ünï-cödé 😀", "a%b", "a/b", "plain"];
      const clients = [];
      for (const id of ids) {
        const client = await connect(node.wsUrl("welcome", id, { _pk: `c-${clients.length}` }));
        const welcome = await welcomeOf(client);
        assert.equal(welcome.room, id, `room id came back changed for ${JSON.stringify(id)}`);
        clients.push(client);
      }
      for (let i = 0; i < ids.length; i++) await clients[i].send(`hello ${i}`);
      for (let i = 0; i < ids.length; i++) {
        const message = (await clients[i].waitFor((m) => m.text.includes('"message"'))).json();
        assert.deepEqual(message, { type: "message", from: `c-${i}`, room: ids[i], text: `hello ${i}` });
      }
      // The built-in broadcast addresses rooms by the same ids.
      const res = await node.broadcast("welcome", "a.b", "to a.b only");
      assert.equal(res.status, 200, res.body);
      await clients[0].waitFor((m) => m.text === "to a.b only");
      // A broadcast to each room after it: a write that reached a room it was not meant for
      // would have come before that room's marker, which shares its subject.
      for (let i = 0; i < ids.length; i++) {
        const marker = await node.broadcast("welcome", ids[i], `marker ${i}`);
        assert.equal(marker.status, 200, marker.body);
      }
      for (let i = 0; i < ids.length; i++) await clients[i].waitFor((m) => m.text === `marker ${i}`);
      for (let i = 0; i < ids.length; i++) {
        const foreign = clients[i].messages
          .filter((m) => m.text.includes('"message"'))
          .map((m) => m.json())
          .filter((m) => m.room !== ids[i]);
        assert.deepEqual(foreign, [], `room ${JSON.stringify(ids[i])} received another room's messages`);
        if (i !== 0) assert.ok(!clients[i].texts.includes("to a.b only"), `room ${JSON.stringify(ids[i])} received a.b's broadcast`);
      }
      // HTTP reaches the same rooms.
      for (const id of ids) {
        const r = await httpFetch(node.httpUrl("welcome", id));
        assert.equal(r.status, 200);
        assert.deepEqual(await r.json(), { room: id, party: "welcome" });
      }
      await Promise.all(clients.map((c) => c.close()));
    });
  });

  describe("http rooms", () => {
    test("onRequest gets method, path, query, lower-case headers and body", T, async () => {
      const res = await httpFetch(`${node.httpUrl("req", "r1", "/some/rest")}?a=1&b=two%20words`, {
        method: "POST",
        headers: { "X-Test-Header": "Hello", "Content-Type": "text/plain" },
        body: "the body",
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-room"), "r1");
      assert.equal(res.headers.get("x-party"), "req");
      const seen = await res.json();
      assert.equal(seen.method, "POST");
      assert.ok(seen.path.endsWith("/some/rest"), `path ${seen.path}`);
      assert.ok(String(seen.url).includes("/some/rest"), `url ${seen.url}`);
      assert.equal(seen.query.a, "1");
      assert.equal(seen.query.b, "two words");
      assert.equal(seen.headers["x-test-header"], "Hello");
      assert.equal(seen.body, "the body");
      assert.equal(seen.room, "r1");
      assert.equal(seen.party, "req");
    });

    test("every method reaches onRequest, and its status comes back", T, async () => {
      for (const method of ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
        const res = await httpFetch(`${node.httpUrl("req", "r2")}?status=201`, { method });
        assert.equal(res.status, 201, `${method}: ${res.status}`);
        assert.equal((await res.json()).method, method);
      }
    });

    test("a script's broadcast from onRequest reaches the room's connections", T, async () => {
      const client = await connect(node.wsUrl("req", "say-room"));
      await client.waitFor((m) => m.text.includes('"joined"'));
      const res = await httpFetch(node.httpUrl("req", "say-room", "/say"), { method: "POST", body: "said over http" });
      assert.equal(res.status, 200);
      const { seq } = await res.json();
      assert.ok(Number.isInteger(seq) && seq > 0, `seq ${seq}`);
      await client.waitFor((m) => m.text === "said over http");
      await client.close();
    });
  });

  describe("built-in broadcast", () => {
    test("POST /v1/parties/:party/:room/broadcast answers increasing seqs and reaches clients in order", T, async () => {
      const client = await connect(node.wsUrl("echo", "bcast"));
      await joined(client);
      const seqs = [];
      for (let i = 0; i < 5; i++) {
        const res = await node.broadcast("echo", "bcast", `post ${i}`);
        assert.equal(res.status, 200, res.body);
        assert.ok(res.json && Number.isInteger(res.json.seq) && res.json.seq > 0, `answer ${res.body}`);
        seqs.push(res.json.seq);
      }
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `seqs not increasing: ${seqs}`);
      await client.waitFor((m) => m.text === "post 4");
      assert.deepEqual(client.texts.filter((t) => t.startsWith("post ")), [0, 1, 2, 3, 4].map((i) => `post ${i}`));
      await client.close();
    });

    test("an application/x-ndjson broadcast stores each line, in order, and answers every seq", T, async () => {
      const v1 = await connect(node.wsUrl("echo", "batch"), { protocols: ["partyline.v1"] });
      await joined(v1);
      const post = (body) =>
        httpFetch(`${node.url}/v1/parties/echo/batch/broadcast`, {
          method: "POST",
          body,
          headers: { "Content-Type": "application/x-ndjson" },
        });
      const res = await post('{"n":1}\r\nline two\n\n{"n":3}\n');
      const text = await res.text();
      assert.equal(res.status, 200, text);
      const { seqs } = JSON.parse(text);
      assert.equal(seqs.length, 3, text);
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i] > seqs[i - 1], `seqs not increasing: ${seqs}`);
      const framed = (m) => m.text.startsWith('{"seq":');
      await v1.waitFor((m) => framed(m) && m.json().data === '{"n":3}');
      const writes = v1.messages.filter(framed).map((m) => m.json());
      assert.deepEqual(
        writes.map((w) => [w.seq, w.data]),
        [[seqs[0], '{"n":1}'], [seqs[1], "line two"], [seqs[2], '{"n":3}']],
      );

      // Refused before anything is stored: no line, or more than 1,000.
      const none = await post("\n\r\n");
      assert.equal(none.status, 400, await none.text());
      const many = await post(Array.from({ length: 1001 }, (_, i) => `w${i}`).join("\n"));
      assert.equal(many.status, 413, await many.text());
      const history = await httpFetch(`${node.url}/v1/parties/echo/batch/history?since=0`);
      assert.equal((await history.json()).entries.length, 3);
      await v1.close();
    });

    test("subprotocol partyline.v1 wraps each write with its seq", T, async () => {
      const v1 = await connect(node.wsUrl("echo", "v1room", { _pk: "v1-client" }), { protocols: ["partyline.v1"] });
      assert.equal(v1.protocol, "partyline.v1", "the node did not select the partyline.v1 subprotocol");
      const plain = await connect(node.wsUrl("echo", "v1room"));
      await joined(plain);
      await v1.send("whoami");
      await v1.waitFor((m) => m.text.includes("v1-client"));

      const res = await node.broadcast("echo", "v1room", "over http");
      assert.equal(res.status, 200, res.body);
      await plain.send("over ws");

      const framed = (m) => {
        try {
          const value = JSON.parse(m.text);
          return value && typeof value === "object" && "seq" in value;
        } catch {
          return false;
        }
      };
      await v1.waitFor((m) => framed(m) && m.json().data === "over ws");
      const writes = v1.messages.filter(framed).map((m) => m.json());
      const http = writes.find((w) => w.data === "over http");
      const ws = writes.find((w) => w.data === "over ws");
      assert.ok(http, `no framed "over http" in ${JSON.stringify(writes)}`);
      assert.equal(http.seq, res.json.seq, "the frame's seq differs from the POST's answer");
      assert.ok(Number.isInteger(ws.seq) && ws.seq > http.seq, `seqs ${http.seq}, ${ws.seq}`);
      for (const m of v1.messages.filter(framed)) assert.equal(m.binary, false);

      // A client without the subprotocol gets the writes unwrapped.
      await plain.waitFor((m) => m.text === "over ws");
      assert.ok(plain.texts.includes("over http"));
      await Promise.all([v1.close(), plain.close()]);
    });
  });

  describe("health", () => {
    test("/healthz and /readyz answer 200 while NATS is up", T, async () => {
      const health = await httpFetch(`${node.url}/healthz`);
      assert.equal(health.status, 200);
      assert.equal((await health.text()).trim(), "ok");
      assert.equal((await httpFetch(`${node.url}/readyz`)).status, 200);
    });
  });
});
