// examples/chat/public/index.html clicked through in headless Chromium, against a
// real node and nats-server: two pages chat by name, a third page opened later
// shows the history, and a dropped socket resumes: the lines said meanwhile
// appear once, nothing is drawn twice, and joins and leaves are notices, not
// history.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { assertNoPageErrors, dropSocket, launchBrowser } from "./browser.mjs";
import { startNats, startNode, until } from "./harness.mjs";

const T = { timeout: 120000 };

describe("examples/chat page in Chromium", () => {
  let nats;
  let node;
  let browser;

  before(async () => {
    nats = await startNats();
    node = await startNode({ natsUrl: nats.url, nodeId: "chat-page", parties: { main: "examples/chat/room.lua" } });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await node?.stop();
    await nats?.stop();
  });

  // Opens the page and waits until its socket is open and the room welcomed it.
  async function openChat(room, label) {
    const page = await browser.open(`${node.url}/chat/?room=${encodeURIComponent(room)}`, { label });
    await page.locator("#status.online").waitFor();
    await page.locator("#log li.notice", { hasText: `joined room ${room} as` }).waitFor();
    assert.equal(await page.locator("#send").isDisabled(), false, `${label}: Send is still disabled once online`);
    return page;
  }

  // The chat lines of the page, "from: text", in the order shown.
  async function chatLines(page, className) {
    return page.locator(`#log li${className ? `.${className}` : ""}`).evaluateAll((items) =>
      items
        .filter((li) => li.querySelector(".from"))
        .map((li) => `${li.querySelector(".from").textContent}: ${li.lastElementChild.textContent}`),
    );
  }

  async function say(page, name, text, { byEnter = false } = {}) {
    await page.fill("#name", name);
    await page.fill("#text", text);
    if (byEnter) await page.press("#text", "Enter");
    else await page.click("#send");
    assert.equal(await page.inputValue("#text"), "", "the message box is emptied after sending");
  }

  const shows = (page, text) => page.locator("#log li", { hasText: text }).first().waitFor();

  test("two pages chat by name, both see each line, a later page gets the history", T, async () => {
    const room = "page-test";
    const ann = await openChat(room, "ann");
    const bob = await openChat(room, "bob");
    await ann.locator("#log li.notice", { hasText: "joined" }).nth(1).waitFor(); // bob's join notice

    await say(ann, "Ann", "hello from the first page");
    await shows(bob, "hello from the first page");
    await say(bob, "Bob", "hello back from the second page", { byEnter: true });
    await shows(ann, "hello back from the second page");

    const expected = ["Ann: hello from the first page", "Bob: hello back from the second page"];
    for (const page of [ann, bob]) assert.deepEqual(await chatLines(page), expected, `${page.label} shows both lines in order`);
    assert.equal(await ann.locator("#log li.mine").count(), 1, "ann's own line is marked as hers");
    assert.equal(await bob.locator("#log li.mine").count(), 1, "bob's own line is marked as his");

    // A third page, opened after the conversation: the history comes before its welcome.
    const carol = await openChat(room, "carol");
    await until(async () => (await chatLines(carol, "history")).length >= 2, { timeoutMs: 10000, what: "carol's history" });
    assert.deepEqual(await chatLines(carol, "history"), expected, "carol sees the earlier lines as history");
    const items = await carol.locator("#log li").allTextContents();
    const welcomeAt = items.findIndex((t) => t.startsWith(`joined room ${room} as`));
    assert.equal(welcomeAt, 2, `history first, then the welcome: ${JSON.stringify(items)}`);
    assert.equal(items.filter((t) => / (joined|left)$/.test(t)).length, 0, "old join notices are not history");

    await say(carol, "Carol", "a line from the late page");
    for (const page of [ann, bob, carol]) await shows(page, "a line from the late page");

    // A dropped socket resumes after the last line it showed: what was said meanwhile, once.
    await dropSocket(carol);
    await say(ann, "Ann", "said while carol was away");
    await carol.locator("#status.online").waitFor({ timeout: 15000 });
    await shows(carol, "said while carol was away");
    assert.deepEqual(await chatLines(carol), [...expected, "Carol: a line from the late page", "Ann: said while carol was away"]);
    assert.deepEqual(await chatLines(carol, "history"), expected, "the history is drawn once, not again after the reconnect");

    // Joins and leaves are told as they happen, never replayed: bob leaves, the others hear it.
    await bob.close();
    for (const page of [ann, carol]) await page.locator("#log li.notice", { hasText: "Bob left" }).waitFor();

    assertNoPageErrors(ann, bob, carol);
  });

  test("an invalid line is refused in the page that sent it only", T, async () => {
    const room = "page-errors";
    const ann = await openChat(room, "ann-errors");
    const bob = await openChat(room, "bob-errors");
    await say(ann, "x".repeat(64), "fine");
    await shows(bob, "fine");
    // The input's maxlength stops a long name typed by hand; a script can still send one.
    await ann.evaluate(`socket.send(JSON.stringify({ type: "chat", text: "too long a name", name: "${"n".repeat(65)}" }))`);
    await ann.locator("#log li.error", { hasText: "not sent: name must be" }).waitFor();
    await say(bob, "Bob", "after the error");
    await shows(ann, "after the error");
    assert.equal(await bob.locator("#log li.error").count(), 0, "the error went to the sender only");
    assert.equal(await bob.locator("#log li", { hasText: "too long a name" }).count(), 0);
    assertNoPageErrors(ann, bob);
  });
});
