// examples/chess/public/index.html clicked through in headless Chromium, against two
// nodes run with the example's configuration: two pages on two nodes take
// seats, play a game to mate by clicking squares, see the same board, get the
// room's refusals, promote, reconnect and start a new game.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { assertNoPageErrors, dropSocket, launchBrowser } from "./browser.mjs";
import { startNats, startNodeWithConfig } from "./harness.mjs";

const T = { timeout: 120000 };
const CONFIG = "examples/chess/partyline.yaml";

describe("examples/chess page in Chromium", () => {
  let nats;
  let nodes;
  let browser;

  before(async () => {
    nats = await startNats();
    nodes = await Promise.all(["chess-page-1", "chess-page-2"].map((nodeId) => startNodeWithConfig(CONFIG, { natsUrl: nats.url, nodeId })));
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await Promise.all((nodes || []).map((n) => n.stop()));
    await nats?.stop();
  });

  async function openGame(node, room, label) {
    const page = await browser.open(`${node.url}/chess/?room=${encodeURIComponent(room)}`, { label });
    await page.locator("#status.online").waitFor();
    await page.locator('.square[data-square="e1"][data-piece]').waitFor(); // the state arrived
    return page;
  }

  const square = (page, name) => page.locator(`.square[data-square="${name}"]`);
  const pieceOn = (page, name) => square(page, name).getAttribute("data-piece");
  const showsPiece = (page, name, piece) => page.locator(`.square[data-square="${name}"][data-piece="${piece}"]`).waitFor();

  async function click(page, from, to) {
    await square(page, from).click();
    await page.locator(`.square[data-square="${to}"].target`).waitFor();
    await square(page, to).click();
  }

  test("two pages on two nodes take seats and play to mate by clicking", T, async () => {
    const room = "page-game";
    const ann = await openGame(nodes[0], room, "ann");
    const bob = await openGame(nodes[1], room, "bob");
    assert.equal(await ann.locator("#game").textContent(), "white to move");

    await ann.click("#sit-w");
    await ann.locator("#you", { hasText: "white" }).waitFor();
    await bob.locator("#sit-w:disabled").waitFor();
    await bob.click("#sit-b");
    await bob.locator("#you", { hasText: "black" }).waitFor();
    await ann.locator("#seat-b", { hasText: /^(?!free$)/ }).waitFor();
    // Each player sees the board from its side.
    assert.equal(await ann.locator(".square").first().getAttribute("data-square"), "a8");
    assert.equal(await bob.locator(".square").first().getAttribute("data-square"), "h1");

    // Selecting a piece shows where it may go; the other side's pieces do not select.
    await square(ann, "e2").click();
    const targets = await ann.locator(".square.target").evaluateAll((els) => els.map((e) => e.dataset.square).sort());
    assert.deepEqual(targets, ["e3", "e4"]);
    await square(ann, "e4").click();
    await showsPiece(bob, "e4", "P");
    assert.equal(await pieceOn(bob, "e2"), null);
    await square(bob, "d2").click();
    assert.equal(await bob.locator(".square.selected").count(), 0, "black cannot select a white piece");

    // Scholar's mate.
    const game = [[bob, "e7", "e5"], [ann, "f1", "c4"], [bob, "b8", "c6"], [ann, "d1", "h5"], [bob, "g8", "f6"], [ann, "h5", "f7"]];
    for (const [page, from, to] of game) {
      const other = page === ann ? bob : ann;
      const piece = await pieceOn(page, from);
      await click(page, from, to);
      await showsPiece(other, to, piece);
    }
    for (const page of [ann, bob]) {
      await page.locator("#game", { hasText: "checkmate: white wins" }).waitFor();
      assert.equal(await page.locator(".square.check").getAttribute("data-square"), "e8");
      assert.deepEqual(await page.locator("#moves li").allTextContents(), ["e2e4", "e7e5", "f1c4", "b8c6", "d1h5", "g8f6", "h5f7"]);
    }

    // A reconnect redraws the same game from the room's state.
    await dropSocket(bob);
    await bob.locator("#status.online").waitFor({ timeout: 15000 });
    await bob.locator("#game", { hasText: "checkmate: white wins" }).waitFor();
    assert.equal(await pieceOn(bob, "f7"), "Q");

    // A new game frees the seats and sets the pieces up again, on both pages.
    await bob.click("#reset");
    for (const page of [ann, bob]) {
      await page.locator("#game", { hasText: "white to move" }).waitFor();
      await page.locator("#seat-w", { hasText: "free" }).waitFor();
      assert.equal(await pieceOn(page, "d1"), "Q");
      assert.equal(await page.locator("#moves li").count(), 0);
    }
    assertNoPageErrors(ann, bob);
  });

  test("the room's refusals reach the page that sent them; promotion follows the chosen piece", T, async () => {
    const room = "page-rules";
    const ann = await openGame(nodes[0], room, "ann-rules");
    const bob = await openGame(nodes[1], room, "bob-rules");
    // The page only offers legal moves; a script can still send any frame.
    await ann.evaluate(`send({ type: "move", from: "e2", to: "e5" })`);
    await ann.locator("#error", { hasText: "a pawn cannot move from e2 to e5" }).waitFor();
    assert.equal(await bob.locator("#error").textContent(), "", "the refusal went to its sender only");

    await ann.evaluate(`send({ type: "reset", fen: "8/P6k/8/8/8/8/8/K7 w - - 0 1" })`);
    await showsPiece(bob, "a7", "P");
    await ann.selectOption("#promotion", "n");
    await click(ann, "a7", "a8");
    for (const page of [ann, bob]) await showsPiece(page, "a8", "N");
    assert.deepEqual(await bob.locator("#moves li").allTextContents(), ["a7a8n"]);
    assertNoPageErrors(ann, bob);
  });
});
