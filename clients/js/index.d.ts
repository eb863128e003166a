import { PartySocket, type PartySocketOptions } from "partysocket";
import type { WebSocketEventMap } from "partysocket/ws";

/** The subprotocol a PartylineSocket always offers: `"partyline.v1"`. */
export declare const PROTOCOL: "partyline.v1";

type Maybe<T> = T | null | undefined;
type Params = Record<string, Maybe<string>>;

export type PartylineSocketOptions = PartySocketOptions & {
  /**
   * Resume after this log sequence on the first connection (e.g. one kept in
   * `sessionStorage` across a page reload); `0` replays what the room's log
   * still holds. Without it the first connection joins the live stream.
   */
  since?: number;
  /**
   * The generation of the room's log that `since` is of (`epoch` as read
   * when it was saved). With it, a node whose log began again since then
   * answers with a `truncated` event instead of resuming in the wrong log.
   */
  epoch?: string;
  /**
   * The socket's own query: an object, or a function (sync or async) called on
   * every connection attempt. `since` is added to it once a write was seen.
   */
  query?: Params | (() => Params | Promise<Params>);
};

/**
 * A `message` event. For a log write, `data` is the write's data (a string,
 * or binary data as `binaryType` asks) and `seq` its log sequence; for a frame
 * the script sent with `conn:send`, `seq` is undefined.
 */
export interface PartylineMessageEvent<T = any> extends MessageEvent<T> {
  readonly seq?: number;
}

/**
 * The node's log no longer holds the write `since`: retention dropped it, and
 * maybe writes after it. `first` is the first write the log still holds after
 * `since` (0 when it holds none); the writes from there on follow as usual.
 *
 * With `epoch`, the log itself began again (its stream was created anew):
 * every write before is gone, sequences start over, and the writes of the new
 * log follow from its start. Reload the state either way.
 */
export interface TruncatedEvent extends Event {
  readonly type: "truncated";
  readonly since: number;
  readonly first: number;
  readonly epoch?: string;
}

export interface PartylineSocketEventMap extends Omit<WebSocketEventMap, "message"> {
  message: PartylineMessageEvent;
  truncated: TruncatedEvent;
}

/**
 * A PartySocket for partyline rooms: offers `partyline.v1`, unwraps log writes
 * (`event.data` is the write's data, `event.seq` its sequence), drops writes at
 * or before the last one delivered, and reconnects with `?since=` so that every
 * write arrives once, in order, across reconnects.
 */
export declare class PartylineSocket extends PartySocket {
  constructor(options: PartylineSocketOptions);

  /** The sequence of the last log write delivered (or the `since` given); undefined before any. */
  get lastSeq(): number | undefined;
  /** The same as `lastSeq`. */
  get seq(): number | undefined;
  /** The generation of the room's log that `lastSeq` is of; keep it with `lastSeq`. */
  get epoch(): string | undefined;
  /**
   * The id the node gave the current connection (from its welcome frame):
   * `id`, or one the node chose while another connection holds `id` and this
   * one could not prove it is the same client. Undefined before the welcome.
   */
  get connectionId(): string | undefined;

  onmessage: ((event: PartylineMessageEvent) => void) | null;
  ontruncated: ((event: TruncatedEvent) => void) | null;

  /**
   * PartySocket's updateProperties. A new `query` or `protocols` is wrapped as
   * at construction; another room, party, basePath or prefix forgets the last
   * sequence (sequences belong to one room) unless `since` is given too.
   */
  updateProperties(options: Partial<PartylineSocketOptions>): void;

  addEventListener<K extends keyof PartylineSocketEventMap>(
    type: K,
    listener: (event: PartylineSocketEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof PartylineSocketEventMap>(
    type: K,
    listener: (event: PartylineSocketEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}

/**
 * What a text frame from a node is, for code that reads partyline.v1 frames
 * itself: a log write, the truncation marker, a wrapped conn:send frame, or
 * null (a frame as the script sent it).
 */
export declare function classifyFrame(
  text: string,
):
  | { kind: "write"; seq: number; data: string; binary: boolean }
  | { kind: "truncated"; since: number; first: number; epoch?: string }
  | { kind: "welcome"; id: string; resume: string; epoch?: string }
  | { kind: "direct"; data: string; binary: boolean }
  | null;

/** The subprotocol of a PartylineMux socket: `"partyline.mux.v1"`. */
export declare const MUX_PROTOCOL: "partyline.mux.v1";

type Provided<T> = T | (() => T | Promise<T>);

export type PartylineMuxOptions = {
  /** The node's host and port; `http://`, `https://`, `ws://` or `wss://` in front chooses the scheme. */
  host: string;
  /** `"ws"` or `"wss"` when `host` has no scheme; default `wss` on an https page, else `ws`. */
  protocol?: "ws" | "wss";
  /** Fields every join carries in its `query`, under each room's own. */
  query?: Provided<Params>;
  /** Any option of partysocket's ReconnectingWebSocket (WebSocket, maxRetries, minReconnectionDelay, ...). */
  [option: string]: unknown;
};

export type MuxRoomOptions = {
  /** The join's query fields (req.query in onBeforeConnect and onConnect). */
  query?: Provided<Params>;
  /** The token the party's auth checks, asked for on every join. */
  token?: Provided<string | undefined>;
  /** Resume the first join after this log sequence. */
  since?: number;
  /** The generation of the room's log `since` is of (a room's `epoch`, kept with its `lastSeq`). */
  epoch?: string;
};

/** A room's `open` event: the node has its connection. */
export interface MuxOpenEvent extends Event {
  readonly type: "open";
  readonly id: string;
}

/** A refused join or send: an HTTP-like status and the node's reason. */
export interface MuxErrorEvent extends Event {
  readonly type: "error";
  readonly status: number;
  readonly error: string;
}

/** The room's connection ended: close(), or the node ended it with this code. */
export interface MuxCloseEvent extends Event {
  readonly type: "close";
  readonly code: number;
  readonly reason: string;
}

export interface MuxRoomEventMap {
  open: MuxOpenEvent;
  message: PartylineMessageEvent;
  truncated: TruncatedEvent;
  error: MuxErrorEvent;
  close: MuxCloseEvent;
}

/** One room of a PartylineMux; made by `mux.room()`. */
export declare class MuxRoom extends EventTarget {
  readonly party: string;
  readonly room: string;
  /** `party/room` as the node names it: the shard room a router party gave, once joined. */
  get name(): string;
  /** The sequence of the last log write delivered (or `since`); undefined before any. */
  readonly lastSeq: number | undefined;
  /** The generation of the room's log that `lastSeq` is of (from `joined`, or a truncation). */
  readonly epoch: string | undefined;
  /** The node has this room's connection now. */
  readonly joined: boolean;
  /** close() was called, or the node ended the room for good. */
  readonly closed: boolean;
  /** The connection id of the current join. */
  readonly id: string | undefined;

  onopen: ((event: MuxOpenEvent) => void) | null;
  onmessage: ((event: PartylineMessageEvent) => void) | null;
  ontruncated: ((event: TruncatedEvent) => void) | null;
  onerror: ((event: MuxErrorEvent) => void) | null;
  onclose: ((event: MuxCloseEvent) => void) | null;

  /** Text, or binary data (sent base64), to the room's onMessage; kept until the room is joined. */
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  /** Leaves the room; the socket stays open for the others. */
  close(): void;

  addEventListener<K extends keyof MuxRoomEventMap>(
    type: K,
    listener: (event: MuxRoomEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof MuxRoomEventMap>(
    type: K,
    listener: (event: MuxRoomEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

/**
 * Many rooms over one WebSocket (`GET /v1/connect`, `partyline.mux.v1`), on
 * partysocket's ReconnectingWebSocket: each room joins again with `since`
 * after every reconnect, so it sees its log once and in order.
 */
export declare class PartylineMux extends EventTarget {
  constructor(options: PartylineMuxOptions);
  /** The ws:// or wss:// URL of `/v1/connect` for a host. */
  static urlOf(host: string, protocol?: "ws" | "wss"): string;
  readonly url: string;
  /** The ReconnectingWebSocket underneath. */
  readonly socket: import("partysocket/ws").default;
  /** A room of `party`, joined now (or once the socket is open) and again after each reconnect. */
  room(party: string, room: string, options?: MuxRoomOptions): MuxRoom;
  /**
   * A new token for every joined room whose party has auth; resolves with how
   * many took it. Rejects with an Error whose `status` is the refusal's (401,
   * 403) when a room refused it (then no room took it), or when the socket is
   * not open.
   */
  refresh(token: string): Promise<number>;
  /** Reconnects the socket; every room joins again with `since`. */
  reconnect(): void;
  /** Closes the socket and every room for good. */
  close(code?: number, reason?: string): void;
}

export default PartylineSocket;
