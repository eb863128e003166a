// Headless Chromium for the example pages' tests: Debian's /usr/bin/chromium
// driven by playwright-core (which never downloads a browser of its own).
//
// Use it with harness.mjs: start nats-server and partyline nodes there, then
//
//   const browser = await launchBrowser();
//   const page = await browser.open(`${node.url}/chat/`, { label: "ann" });
//   await page.click("#send");
//
// Each page lives in its own browser context, so pages share no cookies,
// localStorage or sessionStorage: two pages are two users. Every wait has a
// bound (launch, navigation, each action, close). Every browser is closed by a
// node:test `after` hook, and killed at process exit if it did not close;
// Playwright starts Chromium with a fresh temporary profile (--user-data-dir)
// and removes it on close.
//
// Environment:
//   CHROMIUM_BIN   the browser (default /usr/bin/chromium, Debian's package)
//   PARTYLINE_TEST_VERBOSE=1  copy every page's console to stderr as it arrives
//
// When a test file fails, the last console lines and errors of every page are
// printed at exit, beside the nodes' logs the harness prints.

import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { after } from "node:test";
import { fileURLToPath } from "node:url";

import { withTimeout } from "./harness.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TESTS_DIR = path.resolve(HERE, "..");
const VERBOSE = process.env.PARTYLINE_TEST_VERBOSE === "1";

export const CHROMIUM_BIN = process.env.CHROMIUM_BIN || "/usr/bin/chromium";

// Flags known to work as root on a machine without a network or a GPU:
// without the background-networking ones Chromium keeps trying to reach
// Google's hosts. Playwright adds --headless and its own profile directory.
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// Bounds, generous for a loaded 2-core machine.
const LAUNCH_TIMEOUT_MS = 60000;
const ACTION_TIMEOUT_MS = 10000;
const NAVIGATION_TIMEOUT_MS = 20000;
const CLOSE_TIMEOUT_MS = 10000;

function loadPlaywright() {
  const requireFromTests = createRequire(path.join(TESTS_DIR, "package.json"));
  try {
    return requireFromTests("playwright-core");
  } catch (err) {
    throw new Error(`cannot load npm package "playwright-core" from ${TESTS_DIR}/node_modules: run "npm ci" in tests/ (${err.message})`);
  }
}

const browsers = new Set();
const pagesOpened = []; // kept after they close, for the failure report

// Starts headless Chromium. Rejects with a clear message when the binary is
// missing or does not start within the bound.
export async function launchBrowser() {
  try {
    fs.accessSync(CHROMIUM_BIN, fs.constants.X_OK);
  } catch {
    throw new Error(`${CHROMIUM_BIN} not found: install Debian's chromium (scripts/install-deps.sh) or set CHROMIUM_BIN`);
  }
  const { chromium } = loadPlaywright();
  const browser = await chromium.launch({
    executablePath: CHROMIUM_BIN,
    headless: true,
    chromiumSandbox: false,
    args: CHROMIUM_ARGS,
    timeout: LAUNCH_TIMEOUT_MS,
  });
  const handle = new Browser(browser);
  browsers.add(handle);
  return handle;
}

// A launched Chromium; open() gives isolated pages.
export class Browser {
  constructor(browser) {
    this.browser = browser;
    this.contexts = [];
  }

  // Opens `url` in a new context and page, after the page's `load` event.
  // `label` names the page in failures. The page gets:
  //   page.errors     uncaught exceptions of the page (Error objects)
  //   page.consoleLines  what it wrote to the console, "type: text"
  async open(url, { label = `page-${pagesOpened.length + 1}`, viewport = { width: 1000, height: 700 } } = {}) {
    const context = await this.browser.newContext({ viewport });
    this.contexts.push(context);
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
    const page = await context.newPage();
    page.label = label;
    page.errors = [];
    page.consoleLines = [];
    pagesOpened.push(page);
    page.on("pageerror", (err) => {
      page.errors.push(err);
      record(page, `pageerror: ${err.message}`);
    });
    page.on("console", (msg) => record(page, `${msg.type()}: ${msg.text()}`));
    page.on("crash", () => record(page, "crash: the page crashed"));
    await page.goto(url, { waitUntil: "load" });
    return page;
  }

  // Closes every context, then the browser; kills it when it does not close
  // within the bound. Never rejects.
  async close() {
    if (!browsers.delete(this)) return;
    try {
      await withTimeout(
        (async () => {
          await Promise.allSettled(this.contexts.map((context) => context.close()));
          await this.browser.close();
        })(),
        CLOSE_TIMEOUT_MS,
        "Chromium to close",
      );
    } catch (err) {
      process.stderr.write(`[browser] ${err.message}: killing it\n`);
      killChromiumChildren();
    }
  }
}

function record(page, line) {
  page.consoleLines.push(line);
  if (page.consoleLines.length > 500) page.consoleLines.splice(0, page.consoleLines.length - 500);
  if (VERBOSE) process.stderr.write(`[${page.label}] ${line}\n`);
}

// Drops the page's WebSocket (the page script's global `socket`) and resolves
// once the page took #status out of its "online" state. The page itself
// watches for that, so it is seen even when the page is back online (the
// examples retry after 500 ms) before this process would have looked.
// Bounded like an action.
export function dropSocket(page) {
  const dropped = page.evaluate(
    () =>
      new Promise((resolve) => {
        const status = document.getElementById("status");
        const observer = new MutationObserver(() => {
          if (status.classList.contains("online")) return;
          observer.disconnect();
          resolve();
        });
        observer.observe(status, { attributes: true, attributeFilter: ["class"] });
        // A PartySocket's reconnect() drops the connection and opens another, as a network
        // blip would (its close() would end it for good); a plain WebSocket page retries itself.
        if (typeof socket.reconnect === "function") socket.reconnect();
        else socket.close();
      }),
  );
  return withTimeout(dropped, ACTION_TIMEOUT_MS, `${page.label} to go offline once its socket closed`);
}

// Throws when a page had an uncaught exception: a page test that passes with a
// broken script is not a pass.
export function assertNoPageErrors(...pages) {
  const found = pages.flatMap((page) => page.errors.map((err) => `${page.label}: ${err.stack || err.message}`));
  if (found.length) throw new Error(`uncaught errors in the page:\n${found.join("\n")}`);
}

// SIGKILL to the Chromium processes this process started (its direct
// children running the chromium binary, and their process groups). Playwright
// starts each browser in a process group of its own.
function killChromiumChildren() {
  const real = (() => {
    try {
      return fs.realpathSync(CHROMIUM_BIN);
    } catch {
      return CHROMIUM_BIN;
    }
  })();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== process.pid) continue;
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (!cmdline.some((arg) => arg === real || arg === CHROMIUM_BIN || arg.endsWith("/chromium"))) continue;
      try {
        process.kill(-Number(entry), "SIGKILL");
      } catch {
        process.kill(Number(entry), "SIGKILL");
      }
    } catch {}
  }
}

after(async () => {
  await Promise.allSettled([...browsers].map((browser) => browser.close()));
});
process.once("exit", (code) => {
  if (browsers.size) killChromiumChildren();
  if ((code || process.exitCode) && !VERBOSE) {
    for (const page of pagesOpened) {
      process.stderr.write(`\n----- last console lines of page ${page.label} -----\n${page.consoleLines.slice(-40).join("\n")}\n`);
    }
  }
});
