/**
 * The seam between the host core (lib/host/host.ts) and the far side it talks to. A host talks
 * either to a dispatcher (lib/host/dispatcher-link.ts, one `pair` connection; the dispatcher
 * queues) or straight to daemons (lib/host/round-robin-link.ts, a `poly` socket; tasks go out
 * in turn at once). The core keeps what both have in common (pending mirai, ids, keep-alive,
 * waits for connections, everywhere() bookkeeping, result decoding, close) and hands every
 * mode-specific decision to its Link, so it never asks which mode it is in.
 */
import type { Socket } from '../nng';
import type { Counters, DaemonNews, DaemonRow, Header } from '../wire/protocol';

/** What the core asks of a link. */
export interface Link {
  /** The largest message a connection that proved itself may send (0: any). */
  readonly maxMessageSize: number;
  /** A connection proved itself (lib/wire/auth.ts Gate). */
  added(pipe: number): void;
  /** A connection that had proved itself went away. */
  removed(pipe: number): void;
  /** True if messages from pipe are to be taken (it proved itself and has not left). */
  has(pipe: number): boolean;
  /** One message from pipe (header already read and of this protocol version). */
  receive(h: Header, body: Buffer, pipe: number): void;
  /** Sends task id (its message: header and payload; flags = its retry budget). */
  submit(id: number, parts: Buffer[], retry: number): void;
  /** Task id was stopped (timeout, stop()) and is no longer pending here. */
  cancel(id: number): void;
  /** Sends everywhere() call id; the expected count arrives through LinkHost.everywhereArrived. */
  everywhere(id: number, parts: Buffer[]): void;
  /** everywhere() call id expired (its timeout): interrupt the daemons still running it. */
  stopEverywhere(id: number): void;
  /**
   * Daemon number `daemon` is dead (its local process exited) but its connection has not gone:
   * close it, so that what it held settles as on any disconnect.
   */
  drop(daemon: number): void;
  /** Task id settled (any way): forget what was kept for it. */
  settled(id: number): void;
  /** Counters of the far side, or null when it has none. */
  counters(timeoutMs: number): Promise<Counters | null>;
  /** One row per connected daemon (info()), or null if the far side does not answer. */
  info(timeoutMs: number): Promise<DaemonRow[] | null>;
  /** Everything the link itself waits for ends now (the host closes, or the far side is gone). */
  abandon(): void;
  /** The host closes: tell the far side to stop too if `shutdown` (may reject: ignored). */
  close(shutdown: boolean): Promise<void>;
}

/** What a link may do to the core: a narrow view, so links never reach into its state. */
export interface LinkHost {
  readonly socket: Socket;
  /** True once the host has closed. */
  isClosed(): boolean;
  /** True while task id waits for its result. */
  pending(id: number): boolean;
  /** True while everywhere() call id waits for results. */
  isEverywhere(id: number): boolean;
  /** The number of connected daemons is now n (wakes waitConnections). */
  setConnections(n: number): void;
  /** RESULT for id: flags & FLAG_ERROR means an ErrorPayload. */
  result(id: number, flags: number, body: Buffer): void;
  /** ERROR_VALUE for id: flags carries the code. */
  errorValue(id: number, flags: number): void;
  /** everywhere() call id went to `expected` daemons. */
  everywhereArrived(id: number, expected: number): void;
  /** Id was lost with its daemon (it may have run): ErrorValue RESET. */
  lost(id: number): void;
  /** Sending task id failed: ErrorValue CLOSED if the host closed, else RESET. */
  sendFailed(id: number): void;
  /** The far side is gone for good: everything outstanding settles, nothing runs here any more. */
  gone(why: string): void;
  /** The dispatcher's READY: the daemons' URL, or why it failed. */
  ready(r: { url?: string; error?: string }): void;
  /** A message was dropped (malformed, a kind that peer may not send, from the wrong daemon). */
  dropped(): void;
  /** Keeps the process alive until p settles. */
  hold<T>(p: Promise<T>): Promise<T>;
  /** Something happened to a daemon (lib/host/events.ts DaemonHub: daemonEvents(), info()). */
  news(n: DaemonNews): void;
  /** Traced task id started on daemon number `daemon` (STARTED). */
  started(id: number, daemon: number): void;
}

export function ignore(): void {}
