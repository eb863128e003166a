// examples/cursors: the room script as party cursors on two nodes with a real
// nats-server, driven by 50 `ws` clients with binary frames.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { connect, httpFetch, startNats, startNodeWithConfig, until } from "./harness.mjs";

const T = { timeout: 120000 };
const CONFIG = "examples/cursors/partyline.yaml"; // the example's own configuration
const MOVE = 1;
const GONE = 2;
const HIDDEN = 65535;

// The records of one server frame, parsed independently of the page's code.
function parseRecords(buf) {
  const records = [];
  let at = 0;
  while (at < buf.length) {
    assert.ok(at + 2 <= buf.length, `truncated record header in ${buf.toString("hex")}`);
    const kind = buf[at];
    const len = buf[at + 1];
    const id = buf.subarray(at + 2, at + 2 + len).toString("utf8");
    assert.equal(Buffer.byteLength(id), len, `truncated id in ${buf.toString("hex")}`);
    at += 2 + len;
    if (kind === MOVE) {
      assert.ok(at + 4 <= buf.length, `truncated move in ${buf.toString("hex")}`);
      records.push({ kind, id, x: buf.readUInt16BE(at), y: buf.readUInt16BE(at + 2) });
      at += 4;
    } else {
      assert.equal(kind, GONE, `unknown record kind ${kind} in ${buf.toString("hex")}`);
      records.push({ kind, id });
    }
  }
  return records;
}

const position = (x, y) => {
  const buf = Buffer.alloc(4);
  buf.writeUInt16BE(x, 0);
  buf.writeUInt16BE(y, 2);
  return buf;
};

// Every record a client received, and what it makes of the room: id -> {x, y}.
function view(client) {
  const cursors = new Map();
  const records = [];
  for (const m of client.messages) {
    if (!m.binary) continue;
    for (const r of parseRecords(m.data)) {
      records.push(r);
      if (r.kind === MOVE) cursors.set(r.id, { x: r.x, y: r.y });
      else cursors.delete(r.id);
    }
  }
  return { cursors, records };
}

describe("examples/cursors on two nodes", () => {
  let nats;
  let nodes;

  before(async () => {
    nats = await startNats();
    nodes = await Promise.all(
      ["cursors-1", "cursors-2"].map((nodeId) =>
        startNodeWithConfig(CONFIG, { natsUrl: nats.url, nodeId }),
      ),
    );
  });

  after(async () => {
    await Promise.all((nodes || []).map((node) => node.stop()));
    await nats?.stop();
  });

  const join = (room, id, n) => connect(nodes[n % 2].wsUrl("cursors", room, { _pk: id }));

  test("50 clients: every move reaches the 49 others as a binary record, a newcomer gets a snapshot, leavers disappear", T, async () => {
    const room = "many";
    const ids = Array.from({ length: 50 }, (_, i) => `c${String(i).padStart(2, "0")}`);
    const clients = [];
    for (let i = 0; i < ids.length; i += 10) {
      clients.push(...(await Promise.all(ids.slice(i, i + 10).map((id, j) => join(room, id, i + j)))));
    }
    const where = (i) => ({ x: i * 1300 + 1, y: 65534 - i * 1300 });
    await Promise.all(clients.map((client, i) => client.send(position(where(i).x, where(i).y), { binary: true })));

    for (const [i, client] of clients.entries()) {
      await until(() => view(client).cursors.size >= 49, { timeoutMs: 20000, what: `${ids[i]} to see 49 cursors` });
    }
    for (const [i, client] of clients.entries()) {
      assert.ok(client.messages.every((m) => m.binary), `${ids[i]} got a text frame: ${client.texts.find((t) => t)}`);
      const { cursors, records } = view(client);
      assert.equal(cursors.has(ids[i]), false, `${ids[i]} received its own move`);
      assert.equal(records.length, 49, `${ids[i]} got ${records.length} records, expected one per other client`);
      for (const [j, id] of ids.entries()) if (j !== i) assert.deepEqual(cursors.get(id), where(j), `${ids[i]} sees ${id}`);
    }

    // Newcomers on each node: one snapshot frame with all 50 cursors, whichever node saw the moves.
    for (const n of [0, 1]) {
      const late = await join(room, `late${n}`, n);
      const [snapshot] = await late.waitFor(1, 10000);
      assert.equal(snapshot.binary, true);
      const records = parseRecords(snapshot.data);
      assert.equal(records.length, 50, `late${n}'s snapshot`);
      for (const [j, id] of ids.entries()) assert.deepEqual(view(late).cursors.get(id), where(j), `late${n} sees ${id}`);
      await late.close();
    }

    // Ten leave; the other forty see a gone record for each, and the room forgets them.
    const leaving = clients.slice(0, 10);
    await Promise.all(leaving.map((client) => client.close()));
    const staying = clients.slice(10);
    for (const [k, client] of staying.entries()) {
      await until(() => view(client).cursors.size === 39, { timeoutMs: 20000, what: `${ids[k + 10]} to see 39 cursors` });
      const gone = view(client).records.filter((r) => r.kind === GONE).map((r) => r.id);
      for (const id of ids.slice(0, 10)) assert.ok(gone.includes(id), `${ids[k + 10]} got no gone record for ${id}`);
    }
    const late = await join(room, "late-after", 1);
    const [snapshot] = await late.waitFor(1, 10000);
    assert.deepEqual(parseRecords(snapshot.data).map((r) => r.id).sort(), ids.slice(10), "the snapshot after the leaves");
    await Promise.all([...staying, late].map((client) => client.close()));
  });

  test("a hidden pointer is relayed; a reconnect with the same id and its resume secret is not a leave", T, async () => {
    const room = "hidden";
    // partyline.v1, for the welcome frame's resume secret.
    const ann = await connect(nodes[0].wsUrl("cursors", room, { _pk: "ann" }), { protocols: ["partyline.v1"] });
    const bob = await join(room, "bob", 1);
    await ann.send(position(100, 200), { binary: true });
    await until(() => view(bob).cursors.get("ann")?.x === 100, { what: "bob to see ann" });
    await ann.send(position(HIDDEN, HIDDEN), { binary: true });
    await until(() => view(bob).cursors.get("ann")?.x === HIDDEN, { what: "bob to see ann hidden" });
    assert.deepEqual(view(bob).cursors.get("ann"), { x: HIDDEN, y: HIDDEN });

    // ann reconnects with the same id on the same node, proving it with the secret: the old socket is replaced.
    await ann.waitWelcome();
    const ann2 = await connect(nodes[0].wsUrl("cursors", room, { _pk: "ann", _resume: ann.welcome.resume }));
    await ann.waitClose();
    await ann2.send(position(300, 400), { binary: true });
    await until(() => view(bob).cursors.get("ann")?.x === 300, { what: "bob to see ann's new position" });
    assert.equal(view(bob).records.filter((r) => r.kind === GONE).length, 0, "the replaced socket did not announce a leave");
    await Promise.all([ann2.close(), bob.close()]);
  });

  test("bad frames are answered with an error to the sender and not broadcast", T, async () => {
    const room = "strict";
    const ann = await join(room, "ann-bad", 0);
    const bob = await join(room, "bob-bad", 1);
    const bad = [
      ["text", "12,34", {}],
      ["3 bytes", Buffer.from([1, 2, 3]), { binary: true }],
      ["5 bytes", Buffer.from([1, 2, 3, 4, 5]), { binary: true }],
      ["x hidden only", position(HIDDEN, 5), { binary: true }],
    ];
    for (const [, data, options] of bad) await ann.send(data, options);
    await ann.waitFor(bad.length, 10000);
    const errors = ann.messages.map((m) => (m.binary ? null : m.json()));
    assert.equal(errors.length, bad.length);
    for (const [k, error] of errors.entries()) {
      assert.equal(error?.type, "error", `${bad[k][0]}: ${JSON.stringify(error)}`);
      assert.equal(typeof error.error, "string");
    }
    await ann.send(position(7, 8), { binary: true });
    await until(() => view(bob).cursors.has("ann-bad"), { what: "bob to see the valid move" });
    assert.deepEqual(view(bob).records, [{ kind: MOVE, id: "ann-bad", x: 7, y: 8 }], "only the valid move was broadcast");
    await Promise.all([ann.close(), bob.close()]);
  });

  test("a connection id over 64 bytes is closed with 4000", T, async () => {
    const client = await join("strict", "x".repeat(65), 0);
    const { code, reason } = await client.waitClose(10000);
    assert.equal(code, 4000);
    assert.match(reason, /longer than 64 bytes/);
  });

  test("the page is served at /cursors/", T, async () => {
    const res = await httpFetch(`${nodes[0].url}/cursors/`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /partyline cursors/);
  });
});
