// Starts examples/guestbook/backend.mjs as a child process on a free
// loopback port (it binds port 0 and prints the port it got), for the
// guestbook example's tests. Each backend is killed when the test file ends.

import { spawn } from "node:child_process";
import path from "node:path";
import { after } from "node:test";

import { SOURCE_DIR, httpFetch, withTimeout } from "./harness.mjs";

const BACKEND = path.join(SOURCE_DIR, "examples", "guestbook", "backend.mjs");
const running = new Set();

// Resolves with {port, host ("127.0.0.1:PORT"), url, request(method, path, body), stop()}
// once the backend listens. `port` 0 (the default) takes a free one.
export async function startBackend({ port = 0, env = {} } = {}) {
  const child = spawn(process.execPath, [BACKEND, String(port)], {
    cwd: SOURCE_DIR,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  exited.then(() => running.delete(child));
  let output = "";
  const listening = new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    };
    child.stdout.setEncoding("utf8").on("data", onData);
    child.stderr.setEncoding("utf8").on("data", (chunk) => (output += chunk));
    exited.then((code) => reject(new Error(`the guestbook backend exited (${code}) before it listened:\n${output}`)));
  });
  const bound = await withTimeout(listening, 15000, "the guestbook backend to listen");
  const url = `http://127.0.0.1:${bound}`;
  return {
    port: bound,
    host: `127.0.0.1:${bound}`,
    url,
    logs: () => output,
    // {status, json} of a call to the backend.
    async request(method, urlPath, body) {
      const res = await httpFetch(url + urlPath, {
        method,
        body: body === undefined ? undefined : JSON.stringify(body),
        headers: body === undefined ? undefined : { "content-type": "application/json" },
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      try {
        await withTimeout(exited, 5000, "the guestbook backend to stop");
      } catch {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}

after(() => {
  for (const child of running) child.kill("SIGKILL");
});
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});
