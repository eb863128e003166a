// partyline-client: a PartySocket that speaks partyline's `partyline.v1`
// subprotocol, so an application sees every write of a room's log once, in
// order, across any number of reconnects.
//
// What the node sends a partyline.v1 client (README, "URLs" and "Guarantees"):
//
//   {"seq":N,"data":"text"}                   a log write (text)
//   {"seq":N,"binary":true,"data":"<base64>"} a log write (binary)
//   {"data":...} / {"binary":true,"data":...} conn:send (no seq: not in the log)
//   {"truncated":true,"since":S,"first":F}    retention dropped writes after S
//   {"truncated":...,"epoch":E}               the log began again (a new epoch):
//                                             every sequence before means nothing
//   {"welcome":true,"id":ID,"resume":SECRET,  first frame: the connection's id, the
//    "epoch":E}                               secret that takes it back, and the
//                                             generation of the room's log
//   anything else                             conn:send from an older node, as sent
//
// PartylineSocket unwraps log writes (event.data is the write's data, event.seq
// its sequence), drops any write at or before the last sequence it delivered,
// and reconnects with ?since=<that sequence>&epoch=<its log's epoch>, by making PartySocket's `query`
// a function evaluated on every connection attempt. It also keeps the resume
// secret of the welcome frame and presents it (?_resume=) when it reconnects,
// so its id (_pk) comes back to it even while its old connection lingers
// half-open on the node, and no other client can take that id.

import { PartySocket } from "partysocket";

export const PROTOCOL = "partyline.v1";

const isSeq = (value) => Number.isSafeInteger(value) && value >= 0;

function hasExactly(object, keys) {
  const own = Object.keys(object);
  return own.length === keys.length && keys.every((key) => Object.prototype.hasOwnProperty.call(object, key));
}

// What a text frame from the node is: {kind: "write", seq, data, binary},
// {kind: "truncated", since, first[, epoch]}, {kind: "welcome", id, resume[, epoch]}
// (no epoch from a node that sends none),
// {kind: "direct", data, binary}, or null
// (a conn:send frame as the script sent it). Only the exact shapes count, so
// that a script's own JSON is not mistaken for a wrapper.
export function classifyFrame(text) {
  if (typeof text !== "string" || text.charCodeAt(0) !== 0x7b /* { */) return null;
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
  if (isSeq(value.seq) && typeof value.data === "string") {
    if (hasExactly(value, ["seq", "data"])) return { kind: "write", seq: value.seq, data: value.data, binary: false };
    if (value.binary === true && hasExactly(value, ["seq", "binary", "data"]))
      return { kind: "write", seq: value.seq, data: value.data, binary: true };
    return null;
  }
  const epoch = typeof value.epoch === "string" ? value.epoch : undefined;
  const keys = (list) => (epoch === undefined ? list : [...list, "epoch"]);
  if (value.welcome === true && typeof value.id === "string" && typeof value.resume === "string" && hasExactly(value, keys(["welcome", "id", "resume"])))
    return epoch === undefined ? { kind: "welcome", id: value.id, resume: value.resume } : { kind: "welcome", id: value.id, resume: value.resume, epoch };
  if (value.truncated === true && isSeq(value.since) && isSeq(value.first) && hasExactly(value, keys(["truncated", "since", "first"])))
    return epoch === undefined ? { kind: "truncated", since: value.since, first: value.first } : { kind: "truncated", since: value.since, first: value.first, epoch };
  if (typeof value.data === "string") {
    if (hasExactly(value, ["data"])) return { kind: "direct", data: value.data, binary: false };
    if (value.binary === true && hasExactly(value, ["binary", "data"])) return { kind: "direct", data: value.data, binary: true };
  }
  return null;
}

function base64Bytes(base64) {
  const raw = atob(base64);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

// Binary data as the socket's binaryType asks, as a binary frame would come.
function binaryData(base64, binaryType) {
  const bytes = base64Bytes(base64);
  if (binaryType === "blob" && typeof Blob === "function") return new Blob([bytes]);
  if (binaryType === "nodebuffer" && typeof Buffer === "function") return Buffer.from(bytes.buffer, 0, bytes.length);
  return bytes.buffer;
}

function messageEvent(data, seq) {
  const event = typeof MessageEvent === "function" ? new MessageEvent("message", { data }) : Object.assign(new Event("message"), { data });
  Object.defineProperty(event, "seq", { value: seq, enumerable: true });
  return event;
}

function truncatedEvent(since, first, epoch) {
  const event = new Event("truncated");
  Object.defineProperty(event, "since", { value: since, enumerable: true });
  Object.defineProperty(event, "first", { value: first, enumerable: true });
  Object.defineProperty(event, "epoch", { value: epoch, enumerable: true });
  return event;
}

// The user's protocols with partyline.v1 first; PartySocket takes a string, a
// list or a function (sync or async) returning either.
function withProtocol(protocols) {
  const merge = (value) => {
    const list = value == null ? [] : Array.isArray(value) ? value : [value];
    return [PROTOCOL, ...list.filter((p) => p !== PROTOCOL)];
  };
  if (typeof protocols !== "function") return merge(protocols);
  return () => {
    const value = protocols();
    return value && typeof value.then === "function" ? value.then(merge) : merge(value);
  };
}

function checkEpoch(epoch) {
  if (epoch === undefined || epoch === null) return undefined;
  if (typeof epoch !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(epoch))
    throw new TypeError(`PartylineSocket: epoch must be the string a welcome frame gave, not ${String(epoch)}`);
  return epoch;
}

function checkSince(since) {
  if (since === undefined || since === null) return undefined;
  if (!isSeq(since)) throw new TypeError(`PartylineSocket: since must be a non-negative integer, not ${String(since)}`);
  return since;
}

export class PartylineSocket extends PartySocket {
  #state;

  // Called with the `truncated` event, like onmessage with `message`.
  ontruncated = null;

  constructor(options = {}) {
    const { since, epoch, query, protocols, ...rest } = options;
    // The query function runs on every connection attempt, after this
    // constructor returned (PartySocket connects asynchronously).
    // resume: the secret the node gave the last connection that had this
    // socket's id; connectionId: the id the node gave the current connection.
    // epoch: the generation of the room's log that lastSeq is of.
    const state = { lastSeq: checkSince(since), epoch: checkEpoch(epoch), query, protocols, resume: undefined, connectionId: undefined };
    state.queryProvider = async () => {
      const own = typeof state.query === "function" ? await state.query() : state.query;
      const merged = { ...(own || {}) };
      if (state.lastSeq !== undefined) merged.since = String(state.lastSeq);
      if (state.lastSeq !== undefined && state.epoch !== undefined) merged.epoch = state.epoch;
      if (state.resume !== undefined) merged._resume = state.resume;
      return merged;
    };
    super({ ...rest, protocols: withProtocol(protocols), query: state.queryProvider });
    this.#state = state;
  }

  // The sequence of the last log write delivered (or given as `since`), which
  // the next connection resumes after; undefined before the first one.
  get lastSeq() {
    return this.#state.lastSeq;
  }

  get seq() {
    return this.#state.lastSeq;
  }

  // The generation of the room's log that lastSeq is of (the node's welcome
  // says it); keep it beside lastSeq to resume after a page reload. Undefined
  // before the first welcome, or from a node that sends none.
  get epoch() {
    return this.#state.epoch;
  }

  // The id the node gave the current connection (its welcome frame): the
  // socket's `id` (_pk), or, while another connection holds that id and this
  // one could not prove it is the same client, one the node chose. Undefined
  // before the welcome.
  get connectionId() {
    return this.#state.connectionId;
  }

  // PartySocket's updateProperties, keeping the resume logic: a new `query` or
  // `protocols` is wrapped like the constructor's; another room, party,
  // basePath or prefix starts without a sequence (sequences belong to a room),
  // unless `since` is given too.
  updateProperties(options = {}) {
    const state = this.#state;
    const { since, epoch: _epoch, query, protocols, ...rest } = options;
    const changed = (key, current) => rest[key] !== undefined && rest[key] !== current;
    if (
      changed("room", this.room) ||
      changed("party", this.name) ||
      changed("basePath", this.basePath) ||
      changed("prefix", this.partySocketOptions.prefix)
    ) {
      state.lastSeq = undefined;
      state.epoch = undefined;
      state.resume = undefined; // a secret belongs to one room too
    }
    if (rest.id !== undefined && rest.id !== this.id) state.resume = undefined;
    if ("since" in options) state.lastSeq = checkSince(since);
    if ("epoch" in options) state.epoch = checkEpoch(options.epoch);
    if ("query" in options) state.query = query;
    if ("protocols" in options) state.protocols = protocols;
    super.updateProperties({ ...rest, query: state.queryProvider, protocols: withProtocol(state.protocols) });
  }

  // Replaces PartySocket's own message handler (an instance field of
  // ReconnectingWebSocket, attached to each underlying WebSocket when it is
  // created, which is always after this constructor returned).
  _handleMessage = (event) => this.#receive(event.data);

  #receive(data) {
    // A node (or a proxy) that did not agree to partyline.v1 sends writes as
    // they were written: nothing to unwrap, no sequence to track.
    if (this.protocol !== PROTOCOL) return this.#deliver(data, undefined);
    // Binary frames are conn:send's: log writes come as text.
    if (typeof data !== "string") return this.#deliver(data, undefined);
    const frame = classifyFrame(data);
    if (frame === null) return this.#deliver(data, undefined);
    const state = this.#state;
    switch (frame.kind) {
      case "write":
        // Sequences of a room's log only grow: one at or before the last
        // delivered is a duplicate (the seam of a replay).
        if (state.lastSeq !== undefined && frame.seq <= state.lastSeq) return;
        state.lastSeq = frame.seq;
        return this.#deliver(frame.binary ? binaryData(frame.data, this.binaryType) : frame.data, frame.seq);
      case "welcome":
        state.connectionId = frame.id;
        // The secret of a connection that has this socket's id: the one to
        // present next time. A node-chosen id's secret would prove nothing
        // about ours.
        if (frame.id === this.id) state.resume = frame.resume;
        // The log's generation, taken only when nothing is to be resumed
        // from another one: a different epoch with a sequence to resume is
        // followed by a truncation, which adopts it (taking it here would let
        // a reconnect before that frame resume old sequences in the new log).
        if (state.epoch === undefined || state.lastSeq === undefined) state.epoch = frame.epoch;
        return;
      case "truncated": {
        if (frame.epoch !== undefined && frame.epoch !== state.epoch) {
          // The log began again: its sequences start over.
          state.epoch = frame.epoch;
          state.lastSeq = undefined;
        }
        const event = truncatedEvent(frame.since, frame.first, frame.epoch);
        if (this.ontruncated) this.ontruncated(event);
        this.dispatchEvent(event);
        return;
      }
      case "direct":
        return this.#deliver(frame.binary ? binaryData(frame.data, this.binaryType) : frame.data, undefined);
    }
  }

  #deliver(data, seq) {
    const event = messageEvent(data, seq);
    if (this.onmessage) this.onmessage(event);
    this.dispatchEvent(event);
  }
}

export default PartylineSocket;
