// A bounded log, with real processes (a real nats-server, real partyline nodes, real HTTP and
// WebSocket clients on loopback):
// - history pages end at limits.max_history_page_bytes of encoded JSON, stream out, say where
//   to go on ("next", "more"), and paging reads every write once, in order; the node's memory
//   stays bounded while a room of large control-byte writes is read;
// - the stream takes nats.max_bytes and nats.max_msg_size when it is created and again when a
//   node starts with other values; once it is full the oldest writes go first, and a client
//   resuming past them gets the truncation marker;
// - limits.max_write_bytes_per_second_per_ip refuses a broadcast past it with 429 and
//   Retry-After, and closes a WebSocket whose message makes a write past it with 1008, while a
//   client on another loopback address is served.

import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import { after, before, describe, test } from "node:test";

import { Client, WebSocket, httpFetch, rawHttp, startNats, startNode, until } from "./harness.mjs";
import { Subscriber, helloOf, history, jetStreamApi, pidOfNode, post, roomPath } from "./fault-tools.mjs";

const T = { timeout: 120000 };
const PARTY = "log";
const PARTIES = { [PARTY]: "log-room.lua" };
const KiB = 1024;
const MiB = 1024 * KiB;

const status = (pid) => fs.readFileSync(`/proc/${pid}/status`, "utf8");
const kB = (text, field) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)[1]) * 1024;

// An HTTP request from a chosen loopback address: {status, headers, text}.
function requestFrom(localAddress, url, { method = "GET", body } = {}, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? null : Buffer.from(body);
    const headers = { Connection: "close" };
    if (payload) headers["Content-Length"] = String(payload.length);
    const req = http.request(url, { method, headers, localAddress, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") });
      });
      res.on("error", reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(payload);
  });
}

// The stream's configuration as nats-server holds it ($JS.API.STREAM.INFO).
async function streamConfig(natsPort, stream) {
  const info = await jetStreamApi(natsPort, `STREAM.INFO.${stream}`);
  if (info.error) throw new Error(`stream info for ${stream}: ${JSON.stringify(info.error)}`);
  return info.config;
}

// A WebSocket from a chosen loopback address, resolved once open; a harness Client.
function connectFrom(localAddress, url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false, handshakeTimeout: 5000 });
    const client = new Client(ws, url);
    ws.once("open", () => resolve(client));
    ws.once("error", reject);
  });
}

describe("history pages at a byte budget", () => {
  const BUDGET = 4 * MiB; // limits.max_history_page_bytes
  const WRITES = 20;
  const SIZE = 256 * KiB; // of \u0001 bytes: about 1.5 MiB each as JSON, two to a page
  let nats;
  let node;

  before(async () => {
    nats = await startNats();
    node = await startNode({
      natsUrl: nats.url,
      nodeId: "pages",
      stream: "PAGES",
      parties: PARTIES,
      limits: { max_history_page_bytes: BUDGET },
    });
  });
  after(async () => {
    await node?.stop();
    await nats?.stop();
  });

  test("20 writes of 256 KiB control bytes come in pages under the budget, each once, in order", T, async (t) => {
    const room = "control";
    const posted = [];
    for (let i = 0; i < WRITES; i++) {
      const body = String(i).padStart(4, "0") + "\u0001".repeat(SIZE - 4);
      const answer = await post(node, PARTY, room, body);
      assert.equal(answer.status, 200, `write ${i}: ${answer.status} ${answer.body}`);
      posted.push({ seq: answer.json.seq, data: body });
    }
    const pid = pidOfNode(node);
    const rssBefore = kB(status(pid), "VmRSS");

    // Three readers page through the whole room, limit 1000 each time: a page is never
    // larger than the budget, and together they read every write once.
    for (let round = 0; round < 3; round++) {
      const read = [];
      let since = 0;
      for (let page = 0; page < 100; page++) {
        const res = await httpFetch(`${node.url}${roomPath(PARTY, room)}/history?since=${since}&limit=1000`, {}, 20000);
        const text = await res.text();
        assert.equal(res.status, 200, text.slice(0, 200));
        const answer = JSON.parse(text);
        assert.equal(answer.truncated, false);
        if (answer.entries.length > 1) assert.ok(text.length <= BUDGET + 200, `page since=${since}: ${text.length} bytes`);
        assert.ok(answer.entries.length <= 2, `page since=${since} holds ${answer.entries.length} entries`);
        // Large pages are streamed, not sent with a length.
        if (text.length > 64 * KiB) assert.equal(res.headers.get("transfer-encoding"), "chunked");
        read.push(...answer.entries);
        assert.equal(answer.next, answer.entries.length ? answer.entries.at(-1).seq : since);
        if (!answer.more) break;
        assert.ok(answer.next > since, `page since=${since} did not move on`);
        since = answer.next;
      }
      assert.deepEqual(
        read.map((e) => e.seq),
        posted.map((p) => p.seq),
      );
      assert.ok(
        read.every((e, i) => e.data === posted[i].data),
        "every write reads back as it was written",
      );
    }

    // The node's memory stayed bounded: a whole answer of limit=1000 would be about 30 MiB of
    // JSON, built and copied more than once.
    const after = status(pid);
    const grewMiB = (kB(after, "VmHWM") - rssBefore) / MiB;
    t.diagnostic(`peak RSS ${(kB(after, "VmHWM") / MiB).toFixed(1)} MiB, ${grewMiB.toFixed(1)} MiB over the RSS before reading`);
    assert.ok(grewMiB < 40, `peak RSS grew ${grewMiB.toFixed(1)} MiB while the room was read`);
  });

  test("one write larger than the budget comes alone, and small pages keep their length", T, async () => {
    const small = await startNode({
      natsUrl: nats.url,
      nodeId: "small-pages",
      stream: "PAGES",
      parties: PARTIES,
      limits: { max_history_page_bytes: 64 * KiB },
    });
    try {
      const room = "one-large";
      const seqs = [];
      for (const body of ["before", "\u0002".repeat(100 * KiB), "after"]) {
        const answer = await post(small, PARTY, room, body);
        assert.equal(answer.status, 200, answer.body);
        seqs.push(answer.json.seq);
      }
      const first = await history(small, PARTY, room, { since: 0 });
      assert.deepEqual(first.entries.map((e) => e.data), ["before"]);
      assert.equal(first.more, true);
      const large = await history(small, PARTY, room, { since: first.next });
      assert.deepEqual(large.entries.map((e) => e.seq), [seqs[1]]);
      assert.equal(large.entries[0].data.length, 100 * KiB);
      assert.equal(large.more, true);
      // To an HTTP/1.0 client, a streamed page ends with the connection instead of chunks.
      const old = await rawHttp(small.port, `GET ${roomPath(PARTY, room)}/history?since=${first.next} HTTP/1.0\r\nHost: x\r\n\r\n`, { timeoutMs: 20000 });
      assert.equal(old.status, 200);
      assert.equal(old.headers["transfer-encoding"], undefined);
      assert.equal(old.headers.connection, "close");
      assert.deepEqual(JSON.parse(old.body).entries.map((e) => e.seq), [seqs[1]]);
      const res = await httpFetch(`${small.url}${roomPath(PARTY, room)}/history?since=${large.next}`);
      assert.equal(res.headers.get("content-length") !== null, true, "a small page has a Content-Length");
      const last = await res.json();
      assert.deepEqual(last.entries.map((e) => e.data), ["after"]);
      assert.equal(last.more, false);
    } finally {
      await small.stop();
    }
  });
});

describe("the stream's size limits", () => {
  let nats;

  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    await nats?.stop();
  });

  test("max_bytes and max_msg_size are applied, updated at start, and a full stream drops its oldest writes", T, async () => {
    const stream = "BOUNDED";
    const first = await startNode({
      natsUrl: nats.url,
      nodeId: "bounded-1",
      stream,
      parties: PARTIES,
      config: { nats: { url: nats.url, stream, max_bytes: "64MiB" } },
    });
    assert.match(first.logs(), /created stream BOUNDED .*max_bytes 67108864, max_msg_size 1114112/);
    const created = await streamConfig(nats.port, stream);
    assert.equal(created.max_bytes, 64 * MiB);
    assert.equal(created.max_msg_size, MiB + 64 * KiB, "left out: max_message_bytes plus 64 KiB");
    assert.equal(created.discard, "old");
    await first.stop();

    // The same stream, smaller: the node says what it changed.
    const node = await startNode({
      natsUrl: nats.url,
      nodeId: "bounded-2",
      stream,
      parties: PARTIES,
      config: { nats: { url: nats.url, stream, max_bytes: "2MiB", max_msg_size: "1100KiB" } },
    });
    try {
      assert.match(node.logs(), /updated stream BOUNDED: max_bytes 67108864 -> 2097152, max_msg_size 1114112 -> 1126400/);
      const updated = await streamConfig(nats.port, stream);
      assert.equal(updated.max_bytes, 2 * MiB);
      assert.equal(updated.max_msg_size, 1100 * KiB);
      assert.equal(updated.discard, "old");

      // 40 writes of 100 KiB into 2 MiB: the first ones go.
      const room = "full";
      const seqs = [];
      for (let i = 0; i < 40; i++) {
        const answer = await post(node, PARTY, room, `w${i}-` + "x".repeat(100 * KiB));
        assert.equal(answer.status, 200, answer.body);
        seqs.push(answer.json.seq);
      }
      const kept = [];
      for (let since = 0, page = 0; page < 100; page++) {
        const answer = await history(node, PARTY, room, { since });
        kept.push(...answer.entries.map((e) => e.seq));
        if (!answer.more) break;
        since = answer.next;
      }
      assert.ok(kept.length > 0 && kept.length < 25, `${kept.length} of 40 writes kept in 2 MiB`);
      assert.deepEqual(kept, seqs.slice(seqs.length - kept.length), "the newest writes are the ones kept");

      // History and a resuming partyline.v1 client say the log no longer reaches back.
      const since = seqs[0];
      assert.equal((await history(node, PARTY, room, { since })).truncated, true);
      const resumed = new Subscriber("resumed", { party: PARTY, room });
      await resumed.open(node, { since });
      assert.deepEqual(resumed.markers, [{ kind: "marker", truncated: true, since, first: kept[0] }]);
      await resumed.caughtUp(seqs.at(-1), 20000);
      assert.deepEqual(
        resumed.writes.map((w) => w.seq),
        kept,
      );
      await resumed.close();
    } finally {
      await node.stop();
    }
  });

  test("a max_bytes the NATS server cannot reserve stops the node with what to change", T, async () => {
    await assert.rejects(
      startNode({
        natsUrl: nats.url,
        nodeId: "too-large",
        stream: "TOO_LARGE",
        parties: PARTIES,
        config: { nats: { url: nats.url, stream: "TOO_LARGE", max_bytes: "1000000GiB" } },
      }),
      /nats\.max_bytes \(1073741824000000 bytes\) is more than the NATS server can reserve for it .*lower nats\.max_bytes or raise the server's jetstream max_file_store/,
    );
  });
});

describe("a per-address write byte rate", () => {
  const RATE = 16 * KiB; // limits.max_write_bytes_per_second_per_ip: a 1000 KiB write is a minute of it
  const LARGE = 1000 * KiB;
  let nats;
  let node;

  before(async () => {
    nats = await startNats();
    node = await startNode({
      natsUrl: nats.url,
      nodeId: "rate",
      stream: "RATE",
      parties: PARTIES,
      limits: { max_write_bytes_per_second_per_ip: RATE },
    });
  });
  after(async () => {
    await node?.stop();
    await nats?.stop();
  });

  const broadcastUrl = (room) => `${node.url}${roomPath(PARTY, room)}/broadcast`;

  test("a broadcast past the rate gets 429 with Retry-After; another address is served", T, async () => {
    const room = "http";
    const large = await requestFrom("127.0.0.3", broadcastUrl(room), { method: "POST", body: "x".repeat(LARGE) });
    assert.equal(large.status, 200, `one write larger than a second's worth passes: ${large.text}`);
    const refused = await requestFrom("127.0.0.3", broadcastUrl(room), { method: "POST", body: "again" });
    assert.equal(refused.status, 429, refused.text);
    assert.match(refused.text, /write rate over limits\.max_write_bytes_per_second_per_ip \(16384 bytes\/s\)/);
    const retryAfter = Number(refused.headers["retry-after"]);
    assert.ok(retryAfter >= 1 && retryAfter <= 70, `Retry-After: ${refused.headers["retry-after"]}`);
    // A batch is refused too.
    const batch = await requestFrom("127.0.0.3", broadcastUrl(room), { method: "POST", body: "a\nb\n" });
    assert.equal(batch.status, 429);

    // A well-behaved client elsewhere: every write stored.
    for (let i = 0; i < 5; i++) {
      const answer = await requestFrom("127.0.0.4", broadcastUrl(room), { method: "POST", body: `fine ${i}` });
      assert.equal(answer.status, 200, answer.text);
    }
    const page = await history(node, PARTY, room, { since: 0 });
    assert.deepEqual(
      page.entries.map((e) => (e.data.length > 100 ? "large" : e.data)),
      ["large", "fine 0", "fine 1", "fine 2", "fine 3", "fine 4"],
    );
  });

  test("a WebSocket whose message makes a write past the rate is closed 1008; another address is served", T, async () => {
    const room = "ws";
    const listener = await connectFrom("127.0.0.6", node.wsUrl(PARTY, room, { _pk: "listener" }));
    await helloOf(listener);
    const flooder = await connectFrom("127.0.0.5", node.wsUrl(PARTY, room, { _pk: "flooder" }));
    await helloOf(flooder);
    const polite = await connectFrom("127.0.0.7", node.wsUrl(PARTY, room, { _pk: "polite" }));
    await helloOf(polite);

    await flooder.send("y".repeat(LARGE));
    await listener.waitFor((m) => m.text.length === LARGE, 20000);
    await flooder.send("one more");
    const closed = await flooder.waitClose(20000);
    assert.equal(closed.code, 1008);
    assert.equal(closed.reason, "write rate over limits.max_write_bytes_per_second_per_ip (16384 bytes/s)");

    for (let i = 0; i < 5; i++) await polite.send(`polite ${i}`);
    await until(() => listener.texts.filter((t) => t.startsWith("polite ")).length === 5, { timeoutMs: 20000, what: "polite writes" });
    assert.deepEqual(
      listener.texts.filter((t) => t.startsWith("polite ") || t === "one more"),
      ["polite 0", "polite 1", "polite 2", "polite 3", "polite 4"],
    );
    assert.match(node.logs(), /write rate over limits\.max_write_bytes_per_second_per_ip .*closing connection/);
    listener.terminate();
    polite.terminate();
  });

  test("refusals are counted in partyline_write_rate_refused_total", T, async () => {
    const text = await (await httpFetch(`${node.url}/metrics`)).text();
    const refused = Number(/^partyline_write_rate_refused_total (\d+)$/m.exec(text)?.[1]);
    assert.equal(refused, 3, "two broadcasts and one WebSocket write");
  });
});
