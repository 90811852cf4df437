/**
 * The host's link to a dispatcher (see lib/host/link.ts): one `pair` connection, over which
 * tasks, CANCELs, everywhere() calls and STATUS requests go and results, connection counts and
 * READY come back. The dispatcher does the queueing; this side only holds early sends until the
 * dispatcher has proved itself (a pair socket would hand them to whatever connected first),
 * batches the CANCELs of one tick, and reports the dispatcher lost when its pipe goes.
 */
import {
  decodeCounters,
  decodePayload,
  header,
  Kind,
  type Counters,
  type DaemonNews,
  type DaemonRow,
  type Header,
} from '../wire/protocol';
import { ignore, type Link, type LinkHost } from './link';

export class DispatcherLink implements Link {
  /** The dispatcher enforces the daemons' limit itself; what it forwards is taken whole. */
  readonly maxMessageSize = 0;
  readonly #host: LinkHost;
  /** The dispatcher's pipe once it has proved itself (0 before). */
  #pipe = 0;
  /** Sends held until the dispatcher has proved itself. */
  #early: Array<() => void> = [];
  /** CANCELs of this tick, sent together newest first (see cancel). */
  #cancels: number[] = [];
  #statusWaiters: Array<(c: Counters | null) => void> = [];
  #infoWaiters: Array<(rows: DaemonRow[] | null) => void> = [];

  constructor(host: LinkHost) {
    this.#host = host;
  }

  /** The dispatcher has proved itself: what waited for it goes now, in order. */
  added(pipe: number): void {
    this.#pipe = pipe;
    for (const send of this.#early.splice(0)) send();
  }

  /**
   * The dispatcher's pipe goes only at teardown (closed by then) or when the dispatcher dies,
   * and then nothing outstanding can ever be answered.
   */
  removed(pipe: number): void {
    if (pipe === this.#pipe) this.#host.gone('the dispatcher exited');
  }

  has(pipe: number): boolean {
    return pipe === this.#pipe;
  }

  submit(id: number, parts: Buffer[]): void {
    this.#send(parts, () => this.#host.sendFailed(id));
  }

  /**
   * Several stops in one tick (miraiMap stopping the rest, say) go out together, newest first:
   * in FIFO order every running task is older than every queued one, so the queued ones are
   * gone before a cancelled running task frees its daemon for the next in line.
   */
  cancel(id: number): void {
    if (this.#cancels.push(id) === 1) queueMicrotask(this.#flushCancels);
  }

  readonly #flushCancels = (): void => {
    const ids = this.#cancels.sort((a, b) => b - a);
    this.#cancels = [];
    if (!this.#host.isClosed()) for (const id of ids) this.#send(header(Kind.CANCEL, id));
  };

  drop(daemon: number): void {
    if (!this.#host.isClosed()) this.#send(header(Kind.DROP, daemon));
  }

  stopEverywhere(id: number): void {
    this.cancel(id); // the dispatcher interrupts the daemons still running that call
  }

  everywhere(_id: number, parts: Buffer[]): void {
    this.#send(parts);
  }

  settled(): void {}

  counters(timeoutMs: number): Promise<Counters | null> {
    return this.#ask(this.#statusWaiters, Kind.STATUS_REQUEST, timeoutMs);
  }

  info(timeoutMs: number): Promise<DaemonRow[] | null> {
    return this.#ask(this.#infoWaiters, Kind.INFO_REQUEST, timeoutMs);
  }

  /** A request the dispatcher answers in order (STATUS, INFO): null on timeout or failure. */
  #ask<T>(waiters: Array<(v: T | null) => void>, kind: Kind, timeoutMs: number): Promise<T | null> {
    return this.#host.hold(
      new Promise<T | null>((resolve) => {
        const t = setTimeout(() => {
          const i = waiters.indexOf(done);
          if (i >= 0) waiters.splice(i, 1);
          resolve(null);
        }, timeoutMs);
        const done = (v: T | null): void => {
          clearTimeout(t);
          resolve(v);
        };
        waiters.push(done);
        this.#send(header(kind, 0), () => done(null));
      }),
    );
  }

  receive(h: Header, body: Buffer): void {
    const host = this.#host;
    switch (h.kind) {
      case Kind.RESULT:
        return host.result(h.id, h.flags, body);
      case Kind.ERROR_VALUE:
        return host.errorValue(h.id, h.flags);
      case Kind.STARTED:
        return host.started(h.id, h.flags);
      case Kind.CONNECTIONS:
        return host.setConnections(h.id);
      case Kind.STATUS:
        this.#statusWaiters.shift()?.(decodeCounters(body));
        return;
      case Kind.EVERYWHERE_ACK:
        return host.everywhereArrived(h.id, h.flags);
      case Kind.DAEMON: {
        let n: DaemonNews;
        try {
          n = decodePayload<DaemonNews>(body);
        } catch {
          return host.dropped();
        }
        return host.news(n);
      }
      case Kind.INFO: {
        let rows: DaemonRow[] | null;
        try {
          rows = decodePayload<DaemonRow[]>(body);
        } catch {
          rows = null;
        }
        this.#infoWaiters.shift()?.(rows);
        return;
      }
      case Kind.READY: {
        let r: { url?: string; error?: string };
        try {
          r = decodePayload<{ url?: string; error?: string }>(body);
        } catch {
          r = { error: 'malformed READY from the dispatcher' };
        }
        return host.ready(r);
      }
      default:
        return; // unknown kinds are dropped
    }
  }

  abandon(): void {
    for (const w of this.#statusWaiters.splice(0)) w(null);
    for (const w of this.#infoWaiters.splice(0)) w(null);
  }

  async close(shutdown: boolean): Promise<void> {
    this.#early = [];
    if (shutdown && this.#pipe !== 0) await this.#host.socket.send(header(Kind.SHUTDOWN, 0), { timeout: 1000 });
  }

  /** Sends to the dispatcher, or holds the send until it has proved itself. */
  #send(data: Buffer | Buffer[], failed: () => void = ignore): void {
    if (this.#pipe === 0) this.#early.push(() => this.#send(data, failed));
    else this.#host.socket.send(data).catch(failed);
  }
}
