/**
 * The host end of one profile: the socket tasks leave from and results come back to.
 *
 * This is the core both kinds of host share: pending mirai by id, keep-alive holds, waits for
 * connections, everywhere() calls (lib/host/everywhere.ts), result decoding and close. What differs goes through a
 * Link (lib/host/link.ts): with a dispatcher, lib/host/dispatcher-link.ts (a `pair` socket, the
 * dispatcher queues); without one ('direct'), lib/host/round-robin-link.ts (daemons dial a `poly`
 * socket and tasks go to them in turn at once). Either way results arrive on one receive loop
 * and settle the Mirai waiting in `pending`. The socket is unref'd: the process is held alive
 * only while something is outstanding.
 *
 * Each connection must prove it knows the profile's secret (lib/wire/auth.ts) before it is the
 * dispatcher or a daemon: until then it is sent nothing but the challenge, and what it sends is
 * the proof or gets it closed.
 */
import { Gate, HANDSHAKE_MAX_SIZE, DEFAULT_MAX_MESSAGE_SIZE } from '../wire/auth';
import { Code, codeFromWire, ErrorValue, MiraiError } from '../wire/errors';
import { Mirai, type Canceller } from './mirai';
import type { SerialCodec } from '../wire/serial';
import { keepAlive, Socket, type Message } from '../nng';
import {
  decodePayload,
  encode,
  FLAG_ERROR,
  Kind,
  readHeader,
  type Counters,
  type ErrorPayload,
  type DaemonRow,
  type TaskPayload,
} from '../wire/protocol';
import { DispatcherLink } from './dispatcher-link';
import { RoundRobinLink } from './round-robin-link';
import type { Link, LinkHost } from './link';
import { QueueBudget, QueueFullError } from './budget';
import { EverywhereCalls } from './everywhere';
import { activeTracer, endSpan, startSpan, traceparent } from '../wire/trace';
import { TaskSpans } from './task-spans';
import { MAX_TIMER } from '../wire/validate';
import { DaemonHub } from './daemon-hub';

export type HostMode = 'dispatcher' | 'direct';

export interface SubmitOptions {
  timeout?: number;
  signal?: AbortSignal;
  /** Times to resubmit it if its daemon is lost while it runs (u16). */
  retry?: number;
}

type Waiter = () => boolean; // returns true when done (and removes itself)

const MAX_ID = 0xffffffff;

/** Each mode: the socket protocol it speaks and its link. */
const LINKS: Record<HostMode, { protocol: 'pair' | 'poly'; create(host: LinkHost, maxMessageSize: number): Link }> = {
  dispatcher: { protocol: 'pair', create: (host) => new DispatcherLink(host) },
  direct: { protocol: 'poly', create: (host, max) => new RoundRobinLink(host, max) },
};

export class Host implements Canceller {
  readonly socket: Socket;
  readonly mode: HostMode;
  /** The URL daemons dial (real port). */
  url = '';
  connections = 0;
  /** Custom serialization (daemons({ serial })): applied to task data and results. */
  codec: SerialCodec | undefined;
  /** daemons({ maxQueueBytes }): the cap on task bytes held until they settle (lib/host/budget.ts). */
  budget: QueueBudget | undefined;
  /** The size of the last task refused for want of room: what whenRoom() waits for by default. */
  refusedBytes = 1;
  #pending = new Map<number, Mirai<unknown>>();
  #nextId = 1;
  #holds = 0;
  #release: (() => void) | undefined;
  #waiters: Waiter[] = [];
  /** Timers of pending waitConnections, cleared when the host closes. */
  #waitTimers = new Set<NodeJS.Timeout>();
  readonly #everywhere = new EverywhereCalls({
    send: (id, parts) => {
      if (!this.#closed && !this.#lost) this.#link.everywhere(id, parts);
    },
    stop: (id) => {
      if (!this.#closed) this.#link.stopEverywhere(id);
    },
  });
  #ready: ((r: { url?: string; error?: string }) => void) | undefined;
  #closed = false;
  /** The far side went away for good (the dispatcher crashed, was killed): nothing can run here any more. */
  #lost = false;
  readonly #gate: Gate;
  readonly #link: Link;
  /** Messages dropped: malformed, a kind that peer may not send, a result from the wrong daemon. */
  #dropped = 0;
  readonly #dropDaemon = (daemon: number): void => this.#link.drop(daemon);
  /** Who the daemons are and what happens to them: daemonEvents(), info() (lib/host/events.ts). */
  readonly daemonHub = new DaemonHub(() => this.url, this.#dropDaemon);
  readonly #spans = new TaskSpans();

  /** maxMessageSize: the largest message a daemon may send (round-robin; a dispatcher has its own). */
  constructor(mode: HostMode, secret: string, maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE) {
    this.mode = mode;
    const { protocol, create } = LINKS[mode];
    // Handshake-sized until a connection has proved itself (the Gate raises it then).
    this.socket = new Socket(protocol, { recvMaxSize: HANDSHAKE_MAX_SIZE });
    this.socket.unref();
    this.#link = create(this.#forLink(), maxMessageSize);
    this.#gate = new Gate(this.socket, secret, (pipe) => this.#link.added(pipe), this.#link.maxMessageSize);
    this.socket.onPipe((ev) => {
      const pipe = ev.pipe.id;
      if (ev.type === 'add') this.#gate.added(pipe);
      else if (!this.#gate.removed(pipe)) this.#link.removed(pipe); // else: never proved itself, nobody knew it
    });
  }

  /** Messages dropped and connections refused (status()). */
  get refused(): { dropped: number; rejected: number } {
    return { dropped: this.#dropped, rejected: this.#gate.rejected };
  }

  /** Starts the receive loop; call once the socket listens. */
  start(): void {
    void this.#loop();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Number of tasks sent and not settled. */
  get outstanding(): number {
    return this.#pending.size;
  }

  /** Waits for the dispatcher's READY: the daemons' real URL, or why it failed. */
  ready(timeoutMs: number): Promise<{ url?: string; error?: string }> {
    return this.#hold(
      new Promise((resolve) => {
        const t = setTimeout(
          () => resolve({ error: `the dispatcher did not start within ${timeoutMs} ms` }),
          timeoutMs,
        );
        this.#ready = (r) => {
          clearTimeout(t);
          resolve(r);
        };
      }),
    );
  }

  /** Resolves true once at least n daemons are connected, false after timeoutMs. */
  waitConnections(n: number, timeoutMs: number): Promise<boolean> {
    if (this.connections >= n) return Promise.resolve(true);
    return this.#hold(
      new Promise<boolean>((resolve) => {
        const w: Waiter = () => {
          if (this.connections < n && !this.#closed && !this.#lost) return false;
          clearTimeout(t);
          this.#waitTimers.delete(t);
          resolve(!this.#closed && !this.#lost);
          return true;
        };
        const t = setTimeout(() => {
          this.#waitTimers.delete(t);
          this.#waiters = this.#waiters.filter((x) => x !== w);
          resolve(false);
        }, timeoutMs);
        this.#waitTimers.add(t);
        this.#waiters.push(w);
      }),
    );
  }

  /**
   * Sends a task; the returned Mirai settles with its result. Under maxQueueBytes, a task that
   * does not fit is not sent: null if `tryOnly`, else QueueFullError.
   */
  submit<T>(payload: TaskPayload, opts: SubmitOptions, tryOnly: true): Mirai<T> | null;
  submit<T>(payload: TaskPayload, opts?: SubmitOptions): Mirai<T>;
  submit<T>(payload: TaskPayload, opts: SubmitOptions = {}, tryOnly = false): Mirai<T> | null {
    if (this.#closed) throw new ErrorValue(Code.CLOSED);
    if (this.#lost) {
      // Nothing can run here any more: settled at once, nothing encoded.
      const dead = new Mirai<T>(this.#takeId());
      dead.settleError(new ErrorValue(Code.RESET));
      return dead;
    }
    if (this.codec) payload.data = this.codec.pack(payload.data);
    const id = this.#takeId();
    const retry = opts.retry ?? 0;
    const tracer = activeTracer(); // first: without an SDK no attributes are built either
    const span = tracer && startSpan('mirai.task', { 'mirai.task.id': id, 'mirai.mode': this.mode }, tracer);
    if (span !== undefined) payload.trace = traceparent(span);
    // The TASK flags carry the retry budget (a dispatcher reads it; daemons ignore it).
    const parts = encode(Kind.TASK, id, payload, retry);
    const budget = this.budget;
    let bytes = 0;
    if (budget !== undefined) {
      for (const part of parts) bytes += part.length;
      if (!budget.fits(bytes)) {
        this.refusedBytes = Math.min(bytes, budget.limit + 1);
        const full = new QueueFullError(bytes, budget.used, budget.limit);
        if (span !== undefined) endSpan(span, full);
        if (tryOnly) return null;
        throw full;
      }
    }
    const m = new Mirai<T>(id, this);
    this.#track(id, m as Mirai<unknown>);
    budget?.take(id, bytes);
    if (span !== undefined) this.#spans.track(id, span, m as Mirai<unknown>);
    if (opts.timeout !== undefined) m.armTimeout(opts.timeout);
    if (opts.signal) {
      const signal = opts.signal;
      if (signal.aborted) m.stop(signal.reason);
      else signal.addEventListener('abort', () => m.stop(signal.reason), { once: true });
    }
    if (m.unresolved) this.#link.submit(id, parts, retry);
    return m;
  }

  /** Canceller: a timed-out or stopped task. */
  cancel(id: number, _code: typeof Code.TIMEOUT | typeof Code.CANCELED): boolean {
    const m = this.#pending.get(id);
    if (!m) return false;
    this.#done(id);
    if (!this.#closed) this.#link.cancel(id);
    return true;
  }

  /**
   * Runs a task once on every connected daemon (and on those that join later); with `min`, once
   * at least that many are connected. `timeout` bounds the whole call (see EverywhereOptions).
   */
  everywhere(payload: TaskPayload, opts: { timeout?: number; min?: number } = {}): Promise<unknown[]> {
    if (this.#closed) return Promise.reject(new ErrorValue(Code.CLOSED));
    if (this.#lost) return Promise.reject(new ErrorValue(Code.RESET));
    if (this.codec) payload.data = this.codec.pack(payload.data);
    const id = this.#takeId();
    const span = startSpan('mirai.everywhere', { 'mirai.everywhere.id': id, 'mirai.mode': this.mode });
    if (span !== undefined) payload.trace = traceparent(span);
    const parts = encode(Kind.EVERYWHERE, id, payload);
    const min = opts.min ?? 0;
    const p = this.#everywhere.start(id, parts, min, opts.timeout);
    if (this.connections >= min) this.#everywhere.send(id);
    // Else sent once enough daemons are here, or at the deadline anyway (lib/host/everywhere.ts):
    // its state then reaches the daemons that come later, as every everywhere() call's does.
    else void this.waitConnections(min, opts.timeout ?? MAX_TIMER).then(() => this.#everywhere.send(id));
    if (span !== undefined)
      p.then(
        (r) => endSpan(span, undefined, { 'mirai.daemons': r.length }),
        (e) => endSpan(span, e),
      );
    return this.#hold(p);
  }

  /** Counters from the dispatcher; null without one (or if it does not answer). */
  counters(timeoutMs = 5000): Promise<Counters | null> {
    if (this.#closed || this.#lost) return Promise.resolve(null);
    return this.#link.counters(timeoutMs);
  }

  /** One row per connected daemon from the link (info()); null once closed, or without an answer. */
  daemonRows(timeoutMs = 5000): Promise<DaemonRow[] | null> {
    if (this.#closed || this.#lost) return Promise.resolve(null);
    return this.#link.info(timeoutMs);
  }

  /** Settles everything outstanding with ErrorValue RESET and, if asked, tells the far side to stop. */
  async close(shutdown: boolean): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#settleAll();
    this.#gate.close();
    try {
      await this.#link.close(shutdown && !this.#lost);
    } catch {
      // the far side is gone already
    }
    this.socket.close();
  }

  // ---- internals ----

  /** The view of this core its link gets (lib/host/link.ts LinkHost). */
  #forLink(): LinkHost {
    return {
      socket: this.socket, // made before the link
      isClosed: () => this.#closed,
      pending: (id) => this.#pending.has(id),
      isEverywhere: (id) => this.#everywhere.has(id),
      setConnections: (n) => {
        this.connections = n;
        this.#waiters = this.#waiters.filter((w) => !w());
      },
      result: (id, flags, body) => this.#onResult(id, flags, body),
      errorValue: (id, flags) => this.#onErrorValue(id, flags),
      everywhereArrived: (id, expected) => this.#everywhere.arrived(id, expected),
      lost: (id) => this.#lostOne(id),
      sendFailed: (id) => this.#failSend(id),
      gone: (why) => {
        this.daemonHub.farSideLost();
        this.#gone(why);
      },
      ready: (r) => {
        if (r.url) this.url = r.url;
        this.#ready?.(r);
        this.#ready = undefined;
      },
      dropped: () => {
        this.#dropped++;
      },
      hold: (p) => this.#hold(p),
      news: (n) => this.daemonHub.news(n),
      started: (id, daemon) => this.#spans.started(id, this.daemonHub.runsOn(daemon)),
    };
  }

  /** The far side is gone for good: everything outstanding settles with ErrorValue RESET. */
  #gone(why: string): void {
    if (this.#closed || this.#lost) return;
    this.#lost = true;
    this.connections = 0;
    this.#ready?.({ error: why });
    this.#ready = undefined;
    this.#settleAll();
  }

  /** Every mirai, everywhere() and status() outstanding: ErrorValue RESET (they may have run). */
  #settleAll(): void {
    for (const [id, m] of this.#pending) {
      this.#done(id);
      m.settleError(new ErrorValue(Code.RESET));
    }
    this.#everywhere.rejectAll(() => new ErrorValue(Code.RESET));
    this.#link.abandon();
    this.budget?.close();
    // Waits for connections end now (false), so no timer outlives the host.
    this.#waiters = this.#waiters.filter((w) => !w());
  }

  #takeId(): number {
    const id = this.#nextId;
    this.#nextId = id === MAX_ID ? 1 : id + 1;
    return id;
  }

  #track(id: number, m: Mirai<unknown>): void {
    this.#pending.set(id, m);
    if (this.#holds++ === 0) this.#release = keepAlive();
  }

  #done(id: number): void {
    if (!this.#pending.delete(id)) return;
    this.#link.settled(id);
    this.budget?.release(id);
    if (--this.#holds === 0) {
      this.#release?.();
      this.#release = undefined;
    }
  }

  #hold<T>(p: Promise<T>): Promise<T> {
    if (this.#holds++ === 0) this.#release = keepAlive();
    const unhold = (): void => {
      if (--this.#holds === 0) {
        this.#release?.();
        this.#release = undefined;
      }
    };
    p.then(unhold, unhold);
    return p;
  }

  #failSend(id: number): void {
    const m = this.#pending.get(id);
    if (!m) return;
    this.#done(id);
    m.settleError(new ErrorValue(this.#closed ? Code.CLOSED : Code.RESET));
  }

  /** Id was lost with its daemon: a task settles, an everywhere() call gets that daemon's RESET. */
  #lostOne(id: number): void {
    if (this.#everywhere.has(id)) this.#everywhere.result(id, new ErrorValue(Code.RESET), true);
    const m = this.#pending.get(id);
    if (!m) return;
    this.#done(id);
    m.settleError(new ErrorValue(Code.RESET));
  }

  async #loop(): Promise<void> {
    while (!this.#closed) {
      let msg: Message;
      try {
        msg = await this.socket.recv();
      } catch {
        if (this.#closed) return;
        continue;
      }
      this.#onMessage(msg);
    }
  }

  #onMessage(msg: Message): void {
    const pipe = msg.pipe;
    if (this.#gate.holds(pipe)) return this.#gate.message(pipe, msg.body);
    if (!this.#link.has(pipe)) {
      // Sent before it was challenged (honest peers never do), or after it left.
      this.#gate.refuse(pipe);
      return;
    }
    const body = msg.body;
    const h = readHeader(body);
    if (this.#lost || h === null) return;
    this.#link.receive(h, body, pipe);
  }

  #onErrorValue(id: number, flags: number): void {
    const value = new ErrorValue(codeFromWire(flags));
    if (this.#everywhere.has(id)) return this.#everywhere.result(id, value, true);
    const m = this.#pending.get(id);
    if (!m) return;
    this.#done(id);
    m.settleError(value);
  }

  #onResult(id: number, flags: number, body: Buffer): void {
    const e = this.#everywhere.has(id);
    const m = e ? undefined : this.#pending.get(id);
    if (!e && !m) return;
    let value: unknown;
    let isError = (flags & FLAG_ERROR) !== 0;
    try {
      value = decodePayload(body);
      if (this.codec && !isError) value = this.codec.unpack(value);
    } catch (err) {
      isError = true;
      value = { name: 'Error', message: `result could not be decoded: ${(err as Error).message}`, props: {} };
    }
    const outcome = isError ? MiraiError.fromPayload(value as ErrorPayload) : value;
    if (e) return this.#everywhere.result(id, outcome, isError);
    this.#done(id);
    if (isError) m!.settleError(outcome as MiraiError);
    else m!.settleValue(outcome);
  }
}

/** Ends a task's span when it settles, with its outcome (lib/wire/trace.ts). */
