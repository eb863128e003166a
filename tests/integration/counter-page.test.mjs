// examples/counter/public/index.html in headless Chromium, against two real nodes
// (party counter with storage) on one nats-server: clicks on two pages on
// two nodes add up exactly, a reloaded page shows the stored count, and a
// page on a node started after the others stopped shows it too.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { assertNoPageErrors, launchBrowser } from "./browser.mjs";
import { httpFetch, startNats, startNodeWithConfig, until } from "./harness.mjs";

const T = { timeout: 180000 };
const CONFIG = "examples/counter/partyline.yaml"; // the example's own configuration

describe("examples/counter page in Chromium", () => {
  let nats;
  let nodes;
  let browser;

  before(async () => {
    nats = await startNats();
    nodes = await Promise.all(["counter-page-1", "counter-page-2"].map((nodeId) => startNodeWithConfig(CONFIG, { natsUrl: nats.url, nodeId })));
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await Promise.all((nodes || []).map((node) => node.stop()));
    await nats?.stop();
  });

  async function openCounter(node, room, label) {
    const page = await browser.open(`${node.url}/counter/?room=${encodeURIComponent(room)}`, { label });
    await page.locator("#status.online").waitFor();
    await until(async () => /^-?\d+$/.test(await page.locator("#value").textContent()), { what: `${label} to show a count` });
    return page;
  }

  const shown = async (page) => Number(await page.locator("#value").textContent());

  async function waitShown(page, value, timeoutMs = 15000) {
    await until(async () => (await shown(page)) === value, { timeoutMs, what: `${page.label} to show ${value}` }).catch(async (err) => {
      throw new Error(`${err.message} (shows ${await page.locator("#value").textContent()})`);
    });
  }

  async function stored(node, room) {
    const res = await httpFetch(node.httpUrl("counter", room));
    return (await res.json()).value;
  }

  test("clicks on two pages on two nodes add up; a reload and a node started later show the stored count", T, async () => {
    const room = "page-test";
    const ann = await openCounter(nodes[0], room, "ann");
    const bob = await openCounter(nodes[1], room, "bob");
    assert.equal(await shown(ann), 0);
    assert.equal(await ann.locator("#meta").textContent(), "never changed");

    for (let i = 0; i < 3; i++) await ann.click("#inc");
    await bob.click("#dec");
    for (const page of [ann, bob]) await waitShown(page, 2);

    // Both pages click as fast as they can, at once: nothing is lost.
    await Promise.all([
      (async () => {
        for (let i = 0; i < 15; i++) await ann.click("#inc");
      })(),
      (async () => {
        for (let i = 0; i < 15; i++) await bob.click("#inc");
      })(),
    ]);
    for (const page of [ann, bob]) await waitShown(page, 32);
    assert.equal(await stored(nodes[0], room), 32);
    assert.match(await bob.locator("#meta").textContent(), /^revision \d+$/);

    // A reload reads the count from storage.
    await ann.reload();
    await ann.locator("#status.online").waitFor();
    await waitShown(ann, 32);

    // bob's node stops: his page goes offline with its buttons disabled. A new
    // node (on another port) serves the page with the stored count.
    await nodes[1].stop();
    await bob.locator("#status:not(.online)").waitFor();
    assert.equal(await bob.locator("#inc").isDisabled(), true, "the buttons are disabled while offline");
    nodes[1] = await startNodeWithConfig(CONFIG, { natsUrl: nats.url, nodeId: "counter-page-3" });
    const bob2 = await openCounter(nodes[1], room, "bob-after-restart");
    assert.equal(await shown(bob2), 32);
    await bob2.click("#dec");
    await waitShown(ann, 31);
    await waitShown(bob2, 31);

    assertNoPageErrors(ann, bob, bob2);
  });
});
