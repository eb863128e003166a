// Slow clients do not slow a room (guarantee 7): one client among 100 in a
// room stops reading while POST broadcasts flow. The node closes it with 1013
// once its queue passes limits.send_buffer_bytes, and every other client
// receives every write, in order, once, the whole time.
//
// The writes go in lockstep: each POST is followed by a wait until all 100
// readers have it, so every write sent while the stalled client was held
// shows that deliveries went on without waiting for it. No timing threshold
// is asserted.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { RawWebSocket, WebSocket, httpFetch, sleep, startNats, startNode, until, withTimeout } from "./harness.mjs";

const T = { timeout: 240000 };
const READERS = 100;
const SEND_BUFFER = 64 * 1024;
const PAYLOAD = 32 * 1024;
// The kernel's socket buffers take a few MB before the node's own queue grows
// (4 MB of tcp_wmem here): this many writes is well past both.
const MAX_WRITES = 600;
const AFTER_CLOSE = 20;

// A reader that keeps only the index of each write it receives, not its 32 KiB.
class Reader {
  static open(url) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 5000 });
      const reader = new Reader(ws);
      ws.once("open", () => resolve(reader));
      ws.once("error", reject);
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.indexes = [];
    this.hello = null;
    this.closeCode = null;
    ws.on("message", (data) => {
      const text = data.toString("latin1", 0, 24);
      if (text.startsWith("{")) this.hello = JSON.parse(data.toString());
      else this.indexes.push(Number(text.slice(0, text.indexOf(":"))));
    });
    ws.on("close", (code) => (this.closeCode = code));
    ws.on("error", () => {});
  }

  get last() {
    return this.indexes.length ? this.indexes[this.indexes.length - 1] : -1;
  }
}

async function metric(node, name) {
  const text = await (await httpFetch(`${node.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
}

describe("slow consumer", () => {
  let nats;
  let node;

  before(async () => {
    nats = await startNats();
    node = await startNode({
      natsUrl: nats.url,
      nodeId: "slow",
      parties: { slow: "slow.lua" },
      limits: { send_buffer_bytes: SEND_BUFFER, max_connections: 1000 },
    });
  });

  after(async () => {
    await node?.stop();
    await nats?.stop();
  });

  test(`one stalled client among ${READERS} is closed 1013; the others get every write in order`, T, async (t) => {
    const readers = [];
    for (let i = 0; i < READERS; i += 20) {
      readers.push(...(await Promise.all(Array.from({ length: 20 }, () => Reader.open(node.wsUrl("slow", "room"))))));
    }
    await until(() => readers.every((r) => r.hello), { what: "every reader admitted" });

    // The stalled client completes the upgrade, reads its greeting, then stops reading.
    const stalled = await RawWebSocket.open(node.port, "/parties/slow/room");
    const hello = JSON.parse((await stalled.waitFrame((f) => f.opcode === 1)).payload.toString());
    stalled.socket.pause();

    const padding = "x".repeat(PAYLOAD);
    let writes = 0;
    let closedAt = null; // writes made when the node had closed the stalled client
    const post = async () => {
      const index = writes++;
      const res = await node.broadcast("slow", "room", `${index}:${padding}`, 10000);
      assert.equal(res.status, 200, res.body);
      await withTimeout(
        until(() => readers.every((r) => r.last >= index), { timeoutMs: 20000, intervalMs: 2, what: `write ${index} at every reader` }),
        25000,
        `write ${index} at every reader`,
      );
    };
    while (writes < MAX_WRITES && closedAt === null) {
      await post();
      if (writes % 10 === 0 && (await metric(node, "partyline_slow_consumer_closes_total")) >= 1) closedAt = writes;
    }
    assert.ok(closedAt !== null, `the stalled client was not closed after ${writes} writes of ${PAYLOAD} bytes`);
    for (let i = 0; i < AFTER_CLOSE; i++) await post();

    // Every reader: every write, in order, once; nobody else was closed.
    const expected = Array.from({ length: writes }, (_, i) => i);
    for (const reader of readers) {
      assert.equal(reader.closeCode, null, "a reader was closed");
      assert.deepEqual(reader.indexes, expected);
    }
    // Deliveries went on while the stalled client held its data: post() waited for every write
    // to reach all readers before making the next one.

    // The node closed the stalled client with 1013 and says why.
    await until(() => node.logs().includes(`closed id=${hello.id} code=1013`), { what: "the room's onClose for the stalled client" });
    const line = node.logs().split("\n").find((l) => l.includes(`closed id=${hello.id} code=1013`));
    assert.match(line, /reason=slow consumer: send buffer of 65536 bytes/);
    assert.equal(await metric(node, "partyline_slow_consumer_closes_total"), 1);

    // Reading again, it finds a prefix of the writes in order, then the end of the stream,
    // after a 1013 Close if the Close found room in its socket before the node gave up on it.
    stalled.socket.resume();
    await until(() => stalled.ended, { timeoutMs: 15000, what: "the stalled client's stream to end" });
    const got = stalled.frames.filter((f) => f.opcode === 1 && !f.payload.toString("latin1", 0, 1).startsWith("{"));
    const indexes = got.map((f) => Number(f.payload.toString("latin1", 0, 12).split(":")[0]));
    assert.deepEqual(indexes, Array.from({ length: indexes.length }, (_, i) => i));
    // The write that found its send buffer full never reached it, nor anything after the close.
    assert.ok(indexes.length < closedAt, `the stalled client read ${indexes.length} of the ${closedAt} writes before its close`);
    assert.ok(writes - indexes.length > AFTER_CLOSE, `the stalled client read ${indexes.length} of ${writes} writes`);
    const close = stalled.frames.find((f) => f.opcode === 8);
    if (close) assert.equal(close.payload.readUInt16BE(0), 1013);
    t.diagnostic(`closed after ${closedAt} writes of ${PAYLOAD} bytes; it had read ${indexes.length}; Close frame: ${close ? "seen" : "not seen"}`);

    for (const reader of readers) reader.ws.terminate();
    await sleep(100);
  });
});
