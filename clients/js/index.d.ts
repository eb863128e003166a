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

export default PartylineSocket;
