// examples/guestbook/public/index.html in headless Chromium, against a real
// node with the example's configuration, a nats-server and the example's
// backend: two visitors sign in through the page, one signs and the other
// sees the entry live, the lobby's list counts it, a reload keeps the
// session and the entries, and a page whose session ended asks to sign in.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { assertNoPageErrors, dropSocket, launchBrowser } from "./browser.mjs";
import { startNats, startNodeWithConfig, until } from "./harness.mjs";
import { startBackend } from "./guestbook-backend.mjs";

const T = { timeout: 180000 };
const CONFIG = "examples/guestbook/partyline.yaml"; // the example's own configuration

describe("examples/guestbook page in Chromium", () => {
  let backend;
  let nats;
  let node;
  let browser;

  before(async () => {
    backend = await startBackend();
    process.env.GUESTBOOK_BACKEND = backend.host;
    nats = await startNats();
    node = await startNodeWithConfig(CONFIG, { natsUrl: nats.url, nodeId: "guestbook-page-1" });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await node?.stop();
    await nats?.stop();
    await backend?.stop();
  });

  const open = (room, label) => browser.open(`${node.url}/guestbook/?room=${encodeURIComponent(room)}`, { label });

  async function signIn(page, name) {
    await page.locator("#signin-form").waitFor();
    await page.fill("#name", name);
    await page.click("#signin");
    await page.locator("#status.online").waitFor();
    await until(async () => (await page.locator("#user").textContent()) === name, { timeoutMs: 15000, what: `${page.label} to be signed in` });
  }

  const entries = (page) =>
    page.locator("#entries li").evaluateAll((lis) => lis.map((li) => `${li.querySelector(".name").textContent}: ${li.querySelector(".text").textContent}`));

  async function waitEntries(page, expected, timeoutMs = 15000) {
    await until(async () => JSON.stringify(await entries(page)) === JSON.stringify(expected), { timeoutMs, what: `${page.label} to show ${expected.length} entries` }).catch(async (err) => {
      throw new Error(`${err.message} (shows ${JSON.stringify(await entries(page))})`);
    });
  }

  const bookCount = (page, room) => page.locator(`#books li[data-id="${room}"] .count`);

  test("sign in, sign, see it live and in the lobby; a reload keeps it; an ended session asks to sign in", T, async () => {
    const room = "page-party";
    const ann = await open(room, "ann");
    const bob = await open(room, "bob");
    assert.equal(await ann.locator("#signed-in").isHidden(), true, "nothing to sign before signing in");
    await signIn(ann, "ann");
    await signIn(bob, "bob");
    assert.equal(await ann.locator("#empty").isVisible(), true);

    await ann.fill("#text", "what a party");
    await ann.click("#sign");
    await waitEntries(bob, ["ann: what a party"]);
    await waitEntries(ann, ["ann: what a party"]);
    assert.equal(await ann.locator("#entries li.mine").count(), 1, "ann's own entry is marked");
    assert.equal(await bob.locator("#entries li.mine").count(), 0);

    // The lobby's list shows the room, and its count once the room saved.
    for (const page of [ann, bob]) {
      await until(async () => (await bookCount(page, room).count()) === 1 && (await bookCount(page, room).textContent()) === "1 entry", {
        timeoutMs: 20000,
        what: `${page.label} to list ${room} with 1 entry`,
      });
    }
    const stored = await backend.request("GET", `/rooms/${encodeURIComponent(`guestbook:${room}`)}`);
    assert.deepEqual(stored.json.entries.map((e) => e.text), ["what a party"]);

    // A dropped socket comes back; a reload keeps the session and shows the entries.
    await bob.fill("#text", "see you next year");
    await bob.click("#sign");
    await waitEntries(ann, ["ann: what a party", "bob: see you next year"]);
    await dropSocket(ann);
    await ann.locator("#status.online").waitFor();
    await ann.reload();
    await ann.locator("#status.online").waitFor();
    await waitEntries(ann, ["ann: what a party", "bob: see you next year"]);
    assert.equal(await ann.locator("#user").textContent(), "ann");

    // Signing out ends the session at the backend.
    const token = await bob.evaluate(() => localStorage.getItem("partyline-guestbook-token"));
    await bob.click("#signout");
    await bob.locator("#signin-form").waitFor();
    await until(async () => (await backend.request("GET", `/sessions/${token}`)).status === 401, { timeoutMs: 15000, what: "the backend to end bob's session" });

    // A page holding a session that ended is refused (401) and asks to sign in again.
    const carol = await open(room, "carol");
    await carol.evaluate((t) => localStorage.setItem("partyline-guestbook-token", t), token);
    await carol.reload();
    await carol.locator("#signin-form").waitFor();
    await until(async () => /sign in again/.test(await carol.locator("#error").textContent()), { timeoutMs: 15000, what: "carol to be asked to sign in again" });
    assert.equal(await carol.locator("#signed-in").isHidden(), true);

    assertNoPageErrors(ann, bob, carol);
  });
});
