// A page that uses the client library the node serves (/_partyline/partyline-client.js, the
// bundle of clients/js with partysocket: no bundler of the page's own), in headless Chromium,
// through a network cut (its socket killed by a relay between the browser and the node) and a
// node restart (the node stopped and another started in its place), with POSTs made meanwhile:
// the page sees every write of the room's log exactly once, in order.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { assertNoPageErrors, launchBrowser } from "./browser.mjs";
import { compareWithLog, orderProblems, post, readLog, startNatsLink } from "./fault-tools.mjs";
import { SOURCE_DIR, httpFetch, startNats, startNode, tempDir, until } from "./harness.mjs";

const T = { timeout: 180000 };
const PARTY = "client";
const PARTIES = { [PARTY]: "client-room.lua" };

// The page: a PartylineSocket whose every message and truncation goes to window.events.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>client bundle</title><link rel="icon" href="data:,"></head>
<body><p id="status">loading</p>
<script type="module">
import { PartylineSocket } from "/_partyline/partyline-client.js";
const room = new URLSearchParams(location.search).get("room");
window.events = [];
window.hellos = 0;
const socket = new PartylineSocket({ host: location.host, party: "${PARTY}", room,
                                     minReconnectionDelay: 50, maxReconnectionDelay: 500 });
socket.addEventListener("message", (e) => {
  if (e.seq === undefined) {
    if (JSON.parse(e.data).type === "hello") window.hellos++;
    return;
  }
  window.events.push({ seq: e.seq, data: e.data });
});
socket.addEventListener("truncated", (e) => window.events.push({ truncated: true, since: e.since, first: e.first }));
socket.addEventListener("open", () => (document.getElementById("status").textContent = "online"));
socket.addEventListener("close", () => (document.getElementById("status").textContent = "offline"));
window.socket = socket;
</script></body></html>
`;

describe("the client bundle the node serves", () => {
  let nats;
  let nodes = [];
  let link;
  let browser;
  let pages;

  before(async () => {
    pages = tempDir("client-page");
    fs.writeFileSync(path.join(pages, "index.html"), PAGE);
    nats = await startNats();
    nodes.push(await startNode({ natsUrl: nats.url, nodeId: "client-page-a", parties: PARTIES, args: ["--static", pages] }));
    link = await startNatsLink(nodes[0].port); // a TCP relay: the browser's network
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await link?.close();
    for (const node of nodes) await node.stop();
    await nats?.stop();
  });

  test("is the bundle scripts/bundle-client.sh makes from clients/js, served with its type, an ETag and 304", T, async () => {
    execFileSync(path.join(SOURCE_DIR, "scripts", "bundle-client.sh"), ["--check"], { stdio: "pipe" });
    const url = `${nodes[0].url}/_partyline/partyline-client.js`;
    const answer = await httpFetch(url);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(answer.headers.get("cache-control"), "no-cache");
    assert.equal(await answer.text(), fs.readFileSync(path.join(SOURCE_DIR, "clients", "js", "dist", "partyline-client.js"), "utf8"));
    const tag = answer.headers.get("etag");
    assert.match(tag, /^"[0-9a-f]{64}"$/);
    const again = await httpFetch(url, { headers: { "If-None-Match": tag } });
    assert.equal(again.status, 304);
    const other = await httpFetch(url, { headers: { "If-None-Match": '"another"' } });
    assert.equal(other.status, 200);
    const posted = await httpFetch(url, { method: "POST", body: "x" });
    assert.equal(posted.status, 405);
    assert.equal(posted.headers.get("allow"), "GET");
  });

  test("a page importing it sees every write once, in order, through a network cut and a node restart", T, async () => {
    const room = "through-faults";
    const page = await browser.open(`http://127.0.0.1:${link.port}/?room=${room}`, { label: "bundle" });
    const hellos = () => page.evaluate(() => window.hellos);
    const writes = () => page.evaluate(() => window.events);
    await until(async () => (await hellos()) >= 1, { timeoutMs: 20000, what: "the page's first connection" });

    const expected = [];
    const postMany = async (node, prefix, count) => {
      for (let i = 1; i <= count; i++) {
        const body = `${prefix}-${i}`;
        const answer = await post(node, PARTY, room, body, 10000);
        assert.equal(answer.status, 200, `POST ${body}: ${answer.status} ${answer.body}`);
        expected.push(body);
      }
    };
    const seesAll = (what) =>
      until(async () => (await writes()).length >= expected.length, { timeoutMs: 30000, what: `${what}: ${expected.length} writes on the page` });

    await postMany(nodes[0], "before", 5);
    await seesAll("before any fault");

    // The network cut: every connection through the relay dropped, new ones refused for a while.
    link.cut();
    await postMany(nodes[0], "cut", 5);
    link.restore();
    await until(async () => (await hellos()) >= 2, { timeoutMs: 30000, what: "the page back after the cut" });
    await seesAll("after the cut");

    // The node restart: another node takes the relay's new connections, the first one stops.
    nodes.push(await startNode({ natsUrl: nats.url, nodeId: "client-page-b", parties: PARTIES, args: ["--static", pages] }));
    link.retarget(nodes[1].port);
    await nodes[0].stop();
    await postMany(nodes[1], "restart", 5);
    await until(async () => (await hellos()) >= 3, { timeoutMs: 30000, what: "the page back after the restart" });
    await seesAll("after the restart");
    await postMany(nodes[1], "after", 3);
    await seesAll("live again");

    const events = await writes();
    assert.equal(events.filter((e) => e.truncated).length, 0, "no truncation: the log holds every write");
    assert.deepEqual(events.map((e) => e.data), expected, "every write once, in order");
    assert.deepEqual(orderProblems("page", events), []);
    const log = await readLog(nodes[1], PARTY, room);
    assert.deepEqual(compareWithLog("page", events, log), []);
    assertNoPageErrors(page);
  });
});
