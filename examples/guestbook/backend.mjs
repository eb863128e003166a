#!/usr/bin/env node
// The guestbook's backend: the app's own server, which the rooms call with
// fetch. Node's built-in http only, no packages.
//
//   node examples/guestbook/backend.mjs [PORT]        (default: $PORT or 8787)
//   GUESTBOOK_DATA=guestbook.json node examples/guestbook/backend.mjs
//
// It listens on 127.0.0.1 (PORT 0: a free port) and prints
// "guestbook backend listening on http://127.0.0.1:PORT" once it does.
// With GUESTBOOK_DATA set, the rooms' state is also kept in that JSON file
// and read back at start; sessions live in memory only.
//
//   POST   /sessions          {"name":NAME}   -> 201 {"token":TOKEN,"user":{"name":NAME}}
//   GET    /sessions/TOKEN                    -> 200 {"user":{"name":NAME}}, or 401
//   DELETE /sessions/TOKEN                    -> 204
//   GET    /rooms/ID                          -> 200 the state last PUT, or 404
//   PUT    /rooms/ID          any JSON value  -> 204
//   GET    /rooms                             -> 200 {"rooms":[ID, ...]}
//
// Errors answer {"error":WHY} with 400, 401, 404, 405 or 413.

import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";

const MAX_BODY = 1024 * 1024; // bytes
const MAX_NAME = 40; // characters
const SESSION_MS = 24 * 60 * 60 * 1000;

const port = Number(process.argv[2] ?? process.env.PORT ?? 8787);
const dataFile = process.env.GUESTBOOK_DATA || "";

const sessions = new Map(); // token -> {user, expires}
const rooms = new Map(); // room id -> state (a JSON value)

if (dataFile && fs.existsSync(dataFile)) {
  for (const [id, state] of Object.entries(JSON.parse(fs.readFileSync(dataFile, "utf8")))) rooms.set(id, state);
}

function saveFile() {
  if (!dataFile) return;
  const tmp = `${dataFile}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(Object.fromEntries(rooms)));
  fs.renameSync(tmp, dataFile); // whole or not at all
}

function send(res, status, body) {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, `the body is over ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch {
        reject(new HttpError(400, "the body must be JSON"));
      }
    });
    req.on("error", reject);
  });
}

function session(token) {
  const found = sessions.get(token);
  if (!found) return null;
  if (found.expires < Date.now()) {
    sessions.delete(token);
    return null;
  }
  return found;
}

async function route(req, res) {
  const url = new URL(req.url, "http://backend");
  const [, kind, rawId, extra] = url.pathname.split("/");
  let id;
  try {
    id = rawId === undefined ? undefined : decodeURIComponent(rawId);
  } catch {
    throw new HttpError(400, "a bad %-escape in the path");
  }
  if (extra !== undefined) throw new HttpError(404, "no such path");

  if (kind === "sessions" && id === undefined) {
    if (req.method !== "POST") throw new HttpError(405, "POST /sessions");
    const body = await readJson(req);
    const name = typeof body?.name === "string" ? body.name.trim() : "";
    if (!name || [...name].length > MAX_NAME) throw new HttpError(400, `name must be 1 to ${MAX_NAME} characters`);
    const token = crypto.randomBytes(24).toString("base64url");
    const user = { name };
    sessions.set(token, { user, expires: Date.now() + SESSION_MS });
    return send(res, 201, { token, user });
  }

  if (kind === "sessions") {
    if (req.method === "GET") {
      const found = session(id);
      if (!found) throw new HttpError(401, "no such session");
      return send(res, 200, { user: found.user });
    }
    if (req.method === "DELETE") {
      sessions.delete(id);
      return send(res, 204);
    }
    throw new HttpError(405, "GET or DELETE /sessions/TOKEN");
  }

  if (kind === "rooms" && id === undefined) {
    if (req.method !== "GET") throw new HttpError(405, "GET /rooms");
    return send(res, 200, { rooms: [...rooms.keys()] });
  }

  if (kind === "rooms" && id) {
    if (req.method === "GET") {
      if (!rooms.has(id)) throw new HttpError(404, "no such room");
      return send(res, 200, rooms.get(id));
    }
    if (req.method === "PUT") {
      rooms.set(id, await readJson(req));
      saveFile();
      return send(res, 204);
    }
    throw new HttpError(405, "GET or PUT /rooms/ID");
  }

  throw new HttpError(404, "no such path");
}

const server = http.createServer((req, res) => {
  route(req, res).catch((err) => {
    if (res.headersSent) return;
    if (err instanceof HttpError) return send(res, err.status, { error: err.message });
    console.error(err);
    send(res, 500, { error: "internal error" });
  });
});

server.listen(port, "127.0.0.1", () => {
  console.log(`guestbook backend listening on http://127.0.0.1:${server.address().port}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
  });
}
