// PartylineMux: many rooms over one WebSocket, the node's `partyline.mux.v1`
// subprotocol (GET /v1/connect), on partysocket's ReconnectingWebSocket.
//
// What the client sends and the node answers (README, "Many rooms over one
// WebSocket"):
//
//   → {"op":"join","ref":1,"party":"main","room":"lobby","since":42,"epoch":"E","token":"...","query":{...}}
//   ← {"op":"joined","ref":1,"room":"main/lobby","id":"...","epoch":"E"}   or {"op":"error","ref":1,"status":403,"error":"..."}
//   ← {"room":"main/lobby","seq":43,"data":"..."}               a log write ("binary":true: base64)
//   ← {"room":"main/lobby","data":"..."}                        conn:send (no seq)
//   ← {"room":"main/lobby","truncated":true,"since":S,"first":F[,"epoch":E]}
//   ← {"op":"closed","room":"main/lobby","code":C,"reason":"..."} the node ended this room's connection
//   → {"op":"send","room":"main/lobby","data":"..."}
//   → {"op":"leave","ref":2,"room":"main/lobby"}                ← {"op":"left","ref":2,"room":"main/lobby"}
//   → {"op":"refresh","ref":3,"token":"..."}                    ← {"op":"refreshed","ref":3,"rooms":N}
//
// Each room remembers the sequence of the last write it delivered and joins
// again with `since` after every reconnect, so its listeners see the room's
// log once and in order: a write at or before that sequence (the seam of a
// replay) is dropped.

import ReconnectingWebSocket from "partysocket/ws";

export const MUX_PROTOCOL = "partyline.mux.v1";

// Codes with which the node ends one room's connection and a new join is worth
// trying: going away (1001), the room's log began again (1012), try again
// later (1013), the token expired (4001, a `token` function gives a new one).
const REJOIN_CODES = new Set([1001, 1012, 1013, 4001]);

const isSeq = (value) => Number.isSafeInteger(value) && value >= 0;

function base64Bytes(base64) {
  const raw = atob(base64);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes.buffer;
}

function bytesBase64(data) {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let raw = "";
  for (let i = 0; i < bytes.length; i += 0x8000) raw += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(raw);
}

function eventWith(type, fields) {
  const event = type === "message" && typeof MessageEvent === "function" ? new MessageEvent("message", { data: fields.data }) : new Event(type);
  for (const [key, value] of Object.entries(fields)) {
    if (type === "message" && key === "data" && typeof MessageEvent === "function") continue;
    Object.defineProperty(event, key, { value, enumerable: true });
  }
  return event;
}

async function resolve(value) {
  return typeof value === "function" ? await value() : value;
}

// One room of a PartylineMux. Events: `open` (joined; `id` is its connection
// id), `message` (`data`, and `seq` for a log write), `truncated` (`since`,
// `first`), `error` (`status`, `error`: a refused join or send), `close`
// (`code`, `reason`: the node ended this room's connection, or close()).
export class MuxRoom extends EventTarget {
  #mux;
  #options;
  #queue = [];
  #name;

  onmessage = null;
  onopen = null;
  onclose = null;
  onerror = null;
  ontruncated = null;

  constructor(mux, party, room, options) {
    super();
    this.#mux = mux;
    this.party = party;
    this.room = room;
    this.#options = options;
    this.lastSeq = isSeq(options.since) ? options.since : undefined;
    // The generation of the room's log lastSeq is of: sent with since, so a log that began
    // again is told apart from the one the sequence came from.
    this.epoch = typeof options.epoch === "string" && options.epoch !== "" ? options.epoch : undefined;
    this.joined = false; // the node has this room's connection now
    this.closed = false; // close() was called, or the node ended it for good
    this.id = undefined; // the connection id the node gave the current join
    this._preparing = false; // its join frame is being made (query and token may be async)
    this._joining = false; // its join was sent and not answered yet
  }

  // "party/room" as the node names it: the joined room (for a router party,
  // the shard room it was assigned); the asked one before the first join.
  get name() {
    return this.#name ?? `${this.party}/${this.room}`;
  }

  // Text, or binary data (an ArrayBuffer or a typed array, sent base64), to
  // the room's onMessage. Kept until the room is joined.
  send(data) {
    if (this.closed) throw new Error(`MuxRoom ${this.name}: send after close`);
    const frame = typeof data === "string" ? { op: "send", data } : { op: "send", binary: true, data: bytesBase64(data) };
    if (!this.joined) return void this.#queue.push(frame);
    this.#mux._sendFrame({ ...frame, room: this.name });
  }

  // Leaves the room (its onClose runs on the node); the socket stays open for
  // the mux's other rooms.
  close() {
    if (this.closed) return;
    this.closed = true;
    this.#queue = [];
    this.#mux._leave(this);
    this.#emit("close", { code: 1000, reason: "left" });
  }

  // ---- called by PartylineMux ----

  async _joinFrame() {
    const own = (await resolve(this.#options.query)) || {};
    const shared = (await resolve(this.#mux._query)) || {};
    const token = await resolve(this.#options.token);
    const frame = { op: "join", party: this.party, room: this.room, query: { ...shared, ...own } };
    if (typeof token === "string" && token !== "") frame.token = token;
    if (this.lastSeq !== undefined) {
      frame.since = this.lastSeq;
      if (this.epoch !== undefined) frame.epoch = this.epoch;
    }
    return frame;
  }

  _joined(name, id, epoch) {
    this.#name = name;
    this.id = id;
    // Taken only with nothing to resume from another generation: a different one is followed by
    // a truncation frame, which adopts it.
    if (typeof epoch === "string" && (this.epoch === undefined || this.lastSeq === undefined)) this.epoch = epoch;
    this.joined = true;
    this.#emit("open", { id });
    const queued = this.#queue;
    this.#queue = [];
    for (const frame of queued) this.#mux._sendFrame({ ...frame, room: this.name });
  }

  _disconnected() {
    this.joined = false;
  }

  _ended(code, reason) {
    this.joined = false;
    if (!REJOIN_CODES.has(code)) this.closed = true;
    this.#emit("close", { code, reason });
    return !this.closed;
  }

  _error(status, error) {
    this.#emit("error", { status, error });
  }

  _frame(frame) {
    if (frame.truncated === true) {
      if (typeof frame.epoch === "string" && frame.epoch !== this.epoch) {
        // The log began again: its sequences start over.
        this.epoch = frame.epoch;
        this.lastSeq = undefined;
      }
      return this.#emit("truncated", { since: frame.since, first: frame.first, epoch: frame.epoch });
    }
    if (typeof frame.data !== "string") return;
    const data = frame.binary === true ? base64Bytes(frame.data) : frame.data;
    if (!isSeq(frame.seq)) return this.#emit("message", { data, seq: undefined });
    // Sequences of a room's log only grow: one at or before the last
    // delivered came twice (the seam of a replay).
    if (this.lastSeq !== undefined && frame.seq <= this.lastSeq) return;
    this.lastSeq = frame.seq;
    this.#emit("message", { data, seq: frame.seq });
  }

  #emit(type, fields) {
    const event = eventWith(type, fields);
    const handler = this[`on${type}`];
    if (typeof handler === "function") handler.call(this, event);
    this.dispatchEvent(event);
  }
}

// One WebSocket to a node's GET /v1/connect, reconnecting as PartySocket
// does. Options: `host` (with a port; "http://", "https://", "ws://" or
// "wss://" in front chooses the scheme), `protocol` ("ws" or "wss"; default
// wss on an https page, else ws), `query` (an object or a function, sync or
// async: fields every join carries, under each room's own), and any option of
// ReconnectingWebSocket (`WebSocket`, `maxRetries`, `minReconnectionDelay`, ...).
export class PartylineMux extends EventTarget {
  #socket;
  #rooms = new Set(); // every room not closed
  #byName = new Map(); // joined rooms by the node's name
  #pending = new Map(); // ref -> {room} of a join, {resolve, reject} of a refresh
  #nextRef = 1;

  constructor(options = {}) {
    super();
    const { host, protocol, query, ...rest } = options;
    if (typeof host !== "string" || host === "") throw new TypeError("PartylineMux: host is required");
    this._query = query;
    const url = PartylineMux.urlOf(host, protocol);
    this.url = url;
    this.#socket = new ReconnectingWebSocket(url, [MUX_PROTOCOL], rest);
    this.#socket.addEventListener("open", () => this.#onOpen());
    this.#socket.addEventListener("close", () => this.#onClose());
    this.#socket.addEventListener("message", (event) => this.#onMessage(event.data));
    for (const type of ["open", "close", "error"]) this.#socket.addEventListener(type, (event) => this.dispatchEvent(new Event(event.type)));
  }

  static urlOf(host, protocol) {
    const scheme = /^(https?|wss?):\/\//.exec(host);
    if (scheme) return `${scheme[1].replace(/^http/, "ws")}://${host.slice(scheme[0].length).replace(/\/+$/, "")}/v1/connect`;
    const secure = protocol ? protocol === "wss" : typeof location !== "undefined" && location.protocol === "https:";
    return `${secure ? "wss" : "ws"}://${host}/v1/connect`;
  }

  // The ReconnectingWebSocket underneath: its readyState, reconnect(), close().
  get socket() {
    return this.#socket;
  }

  // A room of `party` over this socket, joined now (or once the socket opens)
  // and again with `since` after each reconnect. Options: `query` and `token`
  // (each a value or a function, sync or async, called on every join), and
  // `since` (resume after this sequence on the first join, with the `epoch` it is of).
  room(party, room, options = {}) {
    const handle = new MuxRoom(this, party, room, options);
    this.#rooms.add(handle);
    if (this.#socket.readyState === ReconnectingWebSocket.OPEN) this.#join(handle);
    return handle;
  }

  // A new token for every joined room whose party checks tokens, before the
  // old one expires: no reconnect. Resolves with how many rooms took it.
  refresh(token) {
    return new Promise((resolve, reject) => {
      if (this.#socket.readyState !== ReconnectingWebSocket.OPEN) return reject(new Error("the socket is not open"));
      const ref = this.#nextRef++;
      this.#pending.set(ref, { resolve, reject });
      this._sendFrame({ op: "refresh", ref, token });
    });
  }

  // Closes the socket and every room for good.
  close(code = 1000, reason = "") {
    for (const room of this.#rooms) room._disconnected();
    this.#rooms.clear();
    this.#byName.clear();
    this.#socket.close(code, reason);
  }

  reconnect() {
    this.#socket.reconnect();
  }

  // ---- for MuxRoom ----

  _sendFrame(frame) {
    if (this.#socket.readyState !== ReconnectingWebSocket.OPEN) return;
    this.#socket.send(JSON.stringify(frame));
  }

  _leave(room) {
    this.#rooms.delete(room);
    if (this.#byName.get(room.name) === room) {
      this.#byName.delete(room.name);
      this._sendFrame({ op: "leave", ref: this.#nextRef++, room: room.name });
      return;
    }
    // A join on its way is left once answered, by the name the node gives the room.
    for (const pending of this.#pending.values()) if (pending.room === room) pending.left = true;
  }

  // ---- the socket ----

  #onOpen() {
    for (const room of this.#rooms) this.#join(room);
  }

  #onClose() {
    this.#byName.clear();
    for (const [ref, pending] of this.#pending) {
      if (pending.reject) pending.reject(new Error("the socket closed before the answer"));
      this.#pending.delete(ref);
    }
    for (const room of this.#rooms) {
      room._joining = false;
      room._disconnected();
    }
  }

  // Joins `room` on the socket open now: its frame is made first (its query and token may be
  // async), and sent only if that socket is still the one open and the room still wanted.
  async #join(room) {
    if (room._preparing || room._joining || room.joined) return;
    room._preparing = true;
    const socket = this.#socket._ws;
    let frame;
    try {
      frame = await room._joinFrame();
    } catch (err) {
      return room._error(0, `cannot make the join: ${err?.message ?? err}`);
    } finally {
      room._preparing = false;
    }
    if (socket !== this.#socket._ws || room.closed || !this.#rooms.has(room)) return;
    const ref = this.#nextRef++;
    room._joining = true;
    this.#pending.set(ref, { room });
    this._sendFrame({ ...frame, ref });
  }

  #onMessage(text) {
    if (typeof text !== "string") return;
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame === null || typeof frame !== "object") return;
    if (typeof frame.op === "string") return this.#onAnswer(frame);
    const room = this.#byName.get(frame.room);
    if (room) room._frame(frame);
  }

  #onAnswer(frame) {
    const pending = frame.ref !== undefined ? this.#pending.get(frame.ref) : undefined;
    if (pending && frame.op !== "closed") this.#pending.delete(frame.ref);
    switch (frame.op) {
      case "joined":
        if (!pending?.room) return;
        pending.room._joining = false;
        if (pending.left) return this._sendFrame({ op: "leave", ref: this.#nextRef++, room: frame.room });
        this.#byName.set(frame.room, pending.room);
        return pending.room._joined(frame.room, frame.id, frame.epoch);
      case "refreshed":
        return pending?.resolve?.(frame.rooms);
      case "left":
        return;
      case "closed": {
        const room = this.#byName.get(frame.room);
        if (!room) return;
        this.#byName.delete(frame.room);
        if (room._ended(frame.code, frame.reason)) this.#join(room);
        else this.#rooms.delete(room);
        return;
      }
      case "error": {
        const status = frame.status;
        if (pending?.reject) return pending.reject(Object.assign(new Error(frame.error), { status }));
        if (pending?.left) return;
        const room = pending?.room ?? this.#byName.get(frame.room);
        if (pending?.room) pending.room._joining = false;
        if (room) room._error(status, frame.error);
        else this.dispatchEvent(eventWith("error", { status, error: frame.error }));
        return;
      }
    }
  }
}

export default PartylineMux;
