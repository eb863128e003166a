// examples/cursors/public/index.html in headless Chromium, against two real nodes on
// one nats-server: moving the mouse in one page draws its cursor in the other
// (each page on its own node), and a closed page's cursor disappears.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { assertNoPageErrors, launchBrowser } from "./browser.mjs";
import { startNats, startNodeWithConfig, until } from "./harness.mjs";

const T = { timeout: 120000 };
const CONFIG = "examples/cursors/partyline.yaml"; // the example's own configuration
const VIEWPORT = { width: 1000, height: 700 };

describe("examples/cursors page in Chromium", () => {
  let nats;
  let nodes;
  let browser;

  before(async () => {
    nats = await startNats();
    nodes = await Promise.all(
      ["cursors-page-1", "cursors-page-2"].map((nodeId) =>
        startNodeWithConfig(CONFIG, { natsUrl: nats.url, nodeId }),
      ),
    );
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await Promise.all((nodes || []).map((node) => node.stop()));
    await nats?.stop();
  });

  async function openCursors(node, room, label) {
    const page = await browser.open(`${node.url}/cursors/?room=${encodeURIComponent(room)}`, { label, viewport: VIEWPORT });
    await page.locator("#status.online").waitFor();
    page.cursorId = await page.locator("#me").textContent();
    assert.match(page.cursorId, /^[0-9a-f]{8}$/);
    return page;
  }

  // Where `viewer` draws the tip of `owner`'s cursor, or null when it is not shown.
  async function tipOf(viewer, owner) {
    const box = await viewer.locator(`.cursor[data-id="${owner.cursorId}"]`).boundingBox();
    return box && { x: box.x, y: box.y };
  }

  async function waitTipNear(viewer, owner, x, y) {
    let last = null;
    await until(
      async () => {
        last = await tipOf(viewer, owner);
        return last && Math.abs(last.x - x) <= 2 && Math.abs(last.y - y) <= 2;
      },
      { timeoutMs: 10000, what: `${viewer.label} to draw ${owner.label}'s cursor at ${x},${y}` },
    ).catch((err) => {
      throw new Error(`${err.message} (last: ${JSON.stringify(last)})`);
    });
  }

  test("a mouse moved in one page is drawn in the other; a closed page's cursor goes away", T, async () => {
    const room = "page-test";
    const ann = await openCursors(nodes[0], room, "ann");
    const bob = await openCursors(nodes[1], room, "bob");
    assert.equal(await bob.locator(".cursor").count(), 0, "no cursor before anyone moves");

    await ann.mouse.move(300, 200, { steps: 5 });
    await waitTipNear(bob, ann, 300, 200);
    assert.equal(await bob.locator("#count").textContent(), "1");
    await ann.mouse.move(720, 510, { steps: 5 });
    await waitTipNear(bob, ann, 720, 510);
    assert.equal(await ann.locator(".cursor").count(), 0, "a page does not draw its own cursor");

    await bob.mouse.move(100, 600);
    await waitTipNear(ann, bob, 100, 600);

    // A page opened later sees both cursors at once, from the snapshot.
    const carol = await openCursors(nodes[0], room, "carol");
    await waitTipNear(carol, ann, 720, 510);
    await waitTipNear(carol, bob, 100, 600);
    assert.equal(await carol.locator("#count").textContent(), "2");

    // The pointer leaves ann's page: her cursor is hidden elsewhere, not removed.
    await ann.evaluate(() => document.documentElement.dispatchEvent(new PointerEvent("pointerleave")));
    await bob.locator(`.cursor[data-id="${ann.cursorId}"]`).waitFor({ state: "hidden" });
    assert.equal(await bob.locator(`.cursor[data-id="${ann.cursorId}"]`).count(), 1);
    await until(async () => (await bob.locator("#count").textContent()) === "0", { what: "bob's count to drop to 0" });

    // ann's page closes: her cursor element disappears from bob's and carol's pages.
    assertNoPageErrors(ann);
    await ann.close();
    for (const viewer of [bob, carol]) {
      await viewer.locator(`.cursor[data-id="${ann.cursorId}"]`).waitFor({ state: "detached" });
    }
    assert.ok(await tipOf(carol, bob), "bob's cursor is still drawn in carol's page");
    assertNoPageErrors(bob, carol);
  });
});
