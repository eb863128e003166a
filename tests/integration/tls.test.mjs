// TLS at the proxy: HAProxy runs deploy/haproxy.cfg (addresses swapped for
// loopback ports, its certificate for a self-signed one made here by openssl)
// in front of two nodes. The stock PartySocket client connects with wss://,
// trusting only that certificate, sends, receives, and replays across a
// reconnect with partyline.v1 and ?since=; plain HTTP on the redirect
// frontend is sent to https; a client that does not trust the certificate
// is refused by TLS itself.
//
// Needs haproxy and openssl (scripts/install-deps.sh installs them). Without
// haproxy the tests are skipped, except under CI, where they fail.

import assert from "node:assert/strict";
import https from "node:https";
import { after, before, describe, test } from "node:test";

import { WebSocket, findHaproxy, httpFetch, loadPartySocket, startHaproxy, startNats, startNode, until, withTimeout } from "./harness.mjs";

const T = { timeout: 60000 };
const UNDER_CI = Boolean(process.env.CI) && !["0", "false"].includes(process.env.CI.toLowerCase());
const SKIP = !findHaproxy() && !UNDER_CI ? "haproxy is not installed (scripts/install-deps.sh installs it); skipping TLS at the proxy" : null;
const PartySocket = loadPartySocket();

let nats;
let nodes = [];
let proxy;
const sockets = [];

// `ws` with the test certificate as the only trusted CA: what a browser does
// with a real certificate, PartySocket is given as its WebSocket class.
function trustingWebSocket(ca) {
  return class extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { ca });
    }
  };
}

function httpsGet(port, pathAndQuery, ca) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: "127.0.0.1", port, path: pathAndQuery, ca, servername: "localhost" }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error("no answer within 5 s")));
    req.on("error", reject);
  });
}

describe("TLS terminated at HAProxy", { skip: SKIP || false }, () => {
  before(async () => {
    nats = await startNats();
    for (const id of ["tls-a", "tls-b"]) {
      nodes.push(await startNode({ natsUrl: nats.url, nodeId: id, parties: { main: "log-room.lua" } }));
    }
    proxy = await startHaproxy({ backends: nodes.map((node, i) => ({ name: `node-${i + 1}`, port: node.port })) });
    await proxy.waitServersUp();
  });

  after(async () => {
    for (const socket of sockets) socket.close();
    await proxy?.stop();
    for (const node of nodes) await node.stop();
    await nats?.stop();
  });

  test("the HTTPS frontend answers with the test certificate", T, async () => {
    const ready = await httpsGet(proxy.ports["partyline-https"], "/readyz", proxy.tlsCert);
    assert.equal(ready.status, 200, ready.body);
  });

  test("plain HTTP on port 80's frontend is redirected to https", T, async () => {
    const res = await httpFetch(`http://127.0.0.1:${proxy.ports["http-to-https"]}/parties/main/lobby`, { redirect: "manual" });
    assert.equal(res.status, 301);
    assert.match(res.headers.get("location"), /^https:\/\/127\.0\.0\.1:\d+\/parties\/main\/lobby$/);
  });

  test("a client that does not trust the certificate is refused by TLS", T, async () => {
    await assert.rejects(httpsGet(proxy.ports["partyline-https"], "/readyz", undefined), /self[- ]signed|unable to verify|certificate/i);
  });

  test("stock PartySocket over wss:// sends, receives, and replays what it missed across a reconnect", T, async () => {
    const host = `127.0.0.1:${proxy.ports["partyline-https"]}`;
    let lastSeq = 0;
    const seen = [];
    const socket = new PartySocket({
      host,
      protocol: "wss",
      room: "tls-room",
      WebSocket: trustingWebSocket(proxy.tlsCert),
      protocols: ["partyline.v1"],
      query: () => (lastSeq ? { since: String(lastSeq) } : {}),
      maxRetries: 5,
      connectionTimeout: 4000,
    });
    sockets.push(socket);
    socket.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      if (typeof frame.seq === "number") {
        seen.push(frame);
        lastSeq = frame.seq;
      }
    });
    const frames = (data) => seen.filter((f) => f.data === data);

    await until(() => socket.readyState === WebSocket.OPEN, { timeoutMs: 10000, what: "the wss:// socket to open" });
    assert.match(socket.url, /^wss:\/\/127\.0\.0\.1:\d+\/parties\/main\/tls-room/);
    socket.send("over tls");
    await until(() => frames("over tls").length === 1, { timeoutMs: 10000, what: "the client's own write back from the log" });

    // Writes made while the socket is closed come back on the reconnect, once each, in order.
    socket.close();
    await until(() => socket.readyState === WebSocket.CLOSED, { what: "the socket to close" });
    for (const n of [1, 2, 3]) {
      const res = await httpsGet(proxy.ports["partyline-https"], "/readyz", proxy.tlsCert);
      assert.equal(res.status, 200);
      const posted = await nodes[n % 2].broadcast("main", "tls-room", `missed-${n}`);
      assert.equal(posted.status, 200, posted.body);
    }
    socket.reconnect();
    await withTimeout(
      until(() => ["missed-1", "missed-2", "missed-3"].every((d) => frames(d).length === 1), { timeoutMs: 10000, what: "the missed writes" }),
      15000,
      "replay over wss://",
    );
    const seqs = seen.map((f) => f.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "writes out of order");
    assert.equal(new Set(seqs).size, seqs.length, `a write arrived twice: ${seqs}`);
    assert.deepEqual(seen.map((f) => f.data), ["over tls", "missed-1", "missed-2", "missed-3"]);
  });
});
