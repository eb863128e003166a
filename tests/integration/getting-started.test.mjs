// README's "Getting started", as a newcomer follows it: the room and the page are taken from the
// README itself, served by `partyline dev room.lua` with no configuration file, and two pages in
// headless Chromium talk through the room; one that reconnects catches up on what it missed.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import { assertNoPageErrors, launchBrowser } from "./browser.mjs";
import { startNatsLink } from "./fault-tools.mjs";
import { SOURCE_DIR, bindFailed, freePort, spawnPartyline, startNats, tempDir, until } from "./harness.mjs";

const T = { timeout: 120000 };

// The fenced block of `language` that follows `marker` in README's Getting started.
function snippet(marker, language) {
  const readme = fs.readFileSync(path.join(SOURCE_DIR, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Getting started"), readme.indexOf("\n---\n"));
  const at = section.indexOf(marker);
  assert.ok(at >= 0, `README's Getting started has no "${marker}"`);
  const block = section.slice(at).match(new RegExp("```" + language + "\\n([\\s\\S]*?)```"));
  assert.ok(block, `no ${language} block after "${marker}"`);
  return block[1];
}

describe("README's Getting started", () => {
  let nats;
  let child;
  let url;
  let browser;

  before(async () => {
    nats = await startNats();
    const dir = tempDir("getting-started");
    fs.writeFileSync(path.join(dir, "room.lua"), snippet("A room that echoes", "lua"));
    fs.mkdirSync(path.join(dir, "public"));
    fs.writeFileSync(path.join(dir, "public", "index.html"), snippet("And a page for it", "html"));
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      child = spawnPartyline(
        ["dev", path.join(dir, "room.lua"), "--listen", `127.0.0.1:${port}`, "--data", tempDir("getting-started-data"), "--nats-url", nats.url],
        { label: "dev" },
      );
      try {
        await until(() => child.logs().includes("partyline dev: open "), { timeoutMs: 15000, what: "the URL" });
        url = child.logs().match(/open (http:\/\/127\.0\.0\.1:\d+)\//)[1];
        break;
      } catch (err) {
        await child.kill().catch(() => {});
        if (attempt < 3 && bindFailed(child.logs())) continue;
        throw new Error(`${err.message}\n${child.tail(40)}`);
      }
    }
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await child?.stop();
    await nats?.stop();
  });

  const lines = (page) => page.locator("#log li").allTextContents();
  const say = async (page, text) => {
    await page.fill("#text", text);
    await page.click("#send");
  };

  test("the README's room and page: two windows see what either types, once, and a reconnect catches up", T, async () => {
    // bob's network is a relay that the test can cut.
    const link = await startNatsLink(Number(new URL(url).port));
    const ann = await browser.open(`${url}/`, { label: "ann" });
    const bob = await browser.open(`http://127.0.0.1:${link.port}/`, { label: "bob" });
    for (const page of [ann, bob]) await page.locator("#log li", { hasText: '"welcome"' }).waitFor();

    await say(ann, "hello from ann");
    await say(bob, "hello from bob");
    for (const page of [ann, bob]) await page.locator("#log li", { hasText: "hello from bob" }).waitFor();

    // bob's network goes down; ann speaks meanwhile; bob's page catches up once it is back.
    link.cut();
    await say(ann, "while bob was away");
    await ann.locator("#log li", { hasText: "while bob was away" }).waitFor();
    link.restore();
    await bob.locator("#log li", { hasText: "while bob was away" }).waitFor();
    for (const page of [ann, bob]) {
      const shown = (await lines(page)).filter((text) => text.startsWith("hello") || text.startsWith("while"));
      assert.deepEqual(shown, ["hello from ann", "hello from bob", "while bob was away"], `${page.label} shows each line once, in order`);
    }
    assertNoPageErrors(ann, bob);
    await link.close();
  });
});
