// examples/sharded-broadcast/public/index.html clicked through in headless Chromium,
// against two nodes run with the example's configuration: a page on each node
// joins a shard room, one click posts to every shard, and both pages show the
// post; a refused post is reported in the page that sent it; a dropped socket comes back to its
// shard room and shows the posts made meanwhile, each once.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { assertNoPageErrors, dropSocket, launchBrowser } from "./browser.mjs";
import { startNats, startNodeWithConfig, until } from "./harness.mjs";

const T = { timeout: 120000 };
const CONFIG = "examples/sharded-broadcast/partyline.yaml";

describe("examples/sharded-broadcast page in Chromium", () => {
  let nats;
  let nodes;
  let browser;

  before(async () => {
    nats = await startNats();
    nodes = await Promise.all(["feed-page-1", "feed-page-2"].map((nodeId) => startNodeWithConfig(CONFIG, { natsUrl: nats.url, nodeId })));
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await Promise.all((nodes || []).map((n) => n.stop()));
    await nats?.stop();
  });

  // Opens the page on `node` and waits until it has joined a shard room.
  async function openFeed(node, room, label) {
    const page = await browser.open(`${node.url}/sharded-broadcast/?room=${encodeURIComponent(room)}`, { label });
    await page.locator("#status.online").waitFor();
    await page.locator("#log li.notice", { hasText: "joined shard room" }).waitFor();
    return page;
  }

  const postsShown = (page) => page.locator("#log li.post").allTextContents();

  test("one click posts to every shard; pages on both nodes show it once", T, async () => {
    const room = "page-feed";
    const ann = await openFeed(nodes[0], room, "ann");
    const bob = await openFeed(nodes[1], room, "bob");
    for (const [page, node] of [[ann, "feed-page-1"], [bob, "feed-page-2"]]) {
      assert.match(await page.locator("#shard").textContent(), new RegExp(`^${room}-[1-4]$`));
      assert.equal(await page.locator("#node").textContent(), node);
    }

    await ann.fill("#from", "Ann");
    await ann.fill("#text", "one post for every shard");
    await ann.click("#post");
    await ann.locator("#result", { hasText: "stored in 4 shard rooms" }).waitFor();
    assert.equal(await ann.inputValue("#text"), "", "the post box is emptied once stored");
    for (const page of [ann, bob]) {
      await page.locator("#log li.post", { hasText: "one post for every shard" }).waitFor();
      const shard = await page.locator("#shard").textContent();
      assert.deepEqual(await postsShown(page), [`[${shard}]Annone post for every shard`], `${page.label} shows it once, from its shard`);
    }

    // The shard table lists the four shard rooms, each with its clients on every node.
    await bob.click("#refresh");
    await until(
      async () => {
        const rows = await bob.locator("#shards tr").evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
        if (rows.length !== 4) return false;
        assert.deepEqual(rows.map((r) => r[0]), [1, 2, 3, 4].map((k) => `${room}-${k}`));
        const total = rows.reduce((sum, r) => sum + Number(r[1]), 0);
        if (total !== 2) await bob.click("#refresh"); // presence counts arrive within a few ms
        return total === 2;
      },
      { timeoutMs: 10000, what: "the shard table to count both pages" },
    );
    assert.equal(await bob.locator("#shards tr.mine td").first().textContent(), await bob.locator("#shard").textContent());
    assertNoPageErrors(ann, bob);
  });

  test("a dropped socket resumes in its shard room: posts made meanwhile shown once, none twice", T, async () => {
    const room = "page-feed-resume";
    const ann = await openFeed(nodes[0], room, "ann-resume");
    const shard = await ann.locator("#shard").textContent();
    const post = async (text) => {
      const answer = await fetch(`${nodes[1].url}/parties/feed/${room}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text }) });
      assert.equal(answer.status, 200, await answer.text());
    };
    await post("before");
    await ann.locator("#log li.post", { hasText: "before" }).waitFor();
    await dropSocket(ann);
    await post("while away 1");
    await post("while away 2");
    await ann.locator("#status.online").waitFor();
    await ann.locator("#log li.post", { hasText: "while away 2" }).waitFor();
    await post("after");
    await ann.locator("#log li.post", { hasText: "after" }).waitFor();
    assert.deepEqual(
      await postsShown(ann),
      ["before", "while away 1", "while away 2", "after"].map((text) => `[${shard}]anonymous${text}`),
    );
    assert.equal(await ann.locator("#shard").textContent(), shard, "the same shard room after the reconnect");
    assertNoPageErrors(ann);
  });

  test("a refused post is reported in the page, and nobody receives it", T, async () => {
    const room = "page-feed-errors";
    const ann = await openFeed(nodes[0], room, "ann-errors");
    const bob = await openFeed(nodes[1], room, "bob-errors");
    // The input's maxlength stops a long post typed by hand; without it the server refuses it.
    await ann.evaluate(`document.getElementById("text").removeAttribute("maxlength")`);
    await ann.fill("#text", "x".repeat(1001));
    await ann.click("#post");
    await ann.locator("#result.error", { hasText: "text must be 1 to 1000 characters" }).waitFor();
    await bob.fill("#text", "after the refusal");
    await bob.click("#post");
    for (const page of [ann, bob]) {
      await page.locator("#log li.post", { hasText: "after the refusal" }).waitFor();
      assert.equal((await postsShown(page)).length, 1, `${page.label} shows only the accepted post`);
    }
    assertNoPageErrors(ann, bob);
  });
});
