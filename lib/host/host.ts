/**
 * The host end of one profile: the socket tasks leave from and results come back to.
 *
 * With a dispatcher, the host talks to it over a `pair` socket and the dispatcher does the
 * queueing. Without one ('direct', round-robin), daemons dial the host's `poly` socket and
 * tasks go to them in turn at once. Either way results arrive on one receive loop and settle
 * the Mirai waiting in `pending`. The socket is unref'd: the process is held alive only while
 * something is outstanding.
 *
 * Each connection must prove it knows the profile's secret (lib/wire/auth.ts) before it is the
 * dispatcher or a daemon: until then it is sent nothing but the challenge, and what it sends is
 * the proof or gets it closed. Round-robin takes a result only from the daemon that holds its task.
 */
import { DEFAULT_MAX_MESSAGE_SIZE, Gate, HANDSHAKE_MAX_SIZE } from '../wire/auth';
import { ErrorValue, MiraiError } from '../wire/errors';
import { Mirai, type Canceller } from './mirai';
import type { SerialCodec } from '../wire/serial';
import { RoundRobin } from './round-robin';
import { keepAlive, Socket, type Message } from '../nng';
import {
  decodeCounters, decodePayload, encode, FLAG_ERROR, FLAG_LAST, header, HEADER_SIZE, Kind, PROTOCOL_VERSION, splitBatch,
  type Counters, type ErrorPayload, type TaskPayload,
} from '../wire/protocol';

export type HostMode = 'dispatcher' | 'direct';

export interface SubmitOptions {
  timeout?: number;
  signal?: AbortSignal;
  /** Times to resubmit it if its daemon is lost while it runs (u16). */
  retry?: number;
}

interface EverywhereCall {
  expected: number | undefined;
  results: unknown[];
  error: MiraiError | undefined;
  resolve: (v: unknown[]) => void;
  reject: (e: unknown) => void;
}

type Waiter = () => boolean; // returns true when done (and removes itself)

const MAX_ID = 0xffffffff;

export class Host implements Canceller {
  readonly socket: Socket;
  readonly mode: HostMode;
  /** The URL daemons dial (real port). */
  url = '';
  connections = 0;
  /** Custom serialization (daemons({ serial })): applied to task data and results. */
  codec: SerialCodec | undefined;
  /** Counters from the last STATUS (dispatcher mode). */
  #pending = new Map<number, Mirai<unknown>>();
  #nextId = 1;
  #holds = 0;
  #release: (() => void) | undefined;
  #waiters: Waiter[] = [];
  /** Timers of pending waitConnections, cleared when the host closes. */
  #waitTimers = new Set<NodeJS.Timeout>();
  #statusWaiters: Array<(c: Counters | null) => void> = [];
  #everywhere = new Map<number, EverywhereCall>();
  #ready: ((r: { url?: string; error?: string }) => void) | undefined;
  #closed = false;
  /** The dispatcher went away (crashed, killed): nothing can run on this host any more. */
  #lost = false;
  // direct mode
  #rr: RoundRobin | undefined;
  #everywhereLog: Array<[number, Buffer[]]> = [];
  /** CANCELs of this tick, sent together newest first (see cancel). */
  #cancels: number[] = [];
  readonly #gate: Gate;
  /** Messages dropped: malformed, a kind that peer may not send, a result from the wrong daemon. */
  #dropped = 0;
  // dispatcher mode
  /** The dispatcher's pipe once it has proved itself (0 before). */
  #dispatcherPipe = 0;
  /** Sends held until the dispatcher has proved itself (a pair socket would hand them to
   *  whatever connected first). */
  #early: Array<() => void> = [];
  /** Retries left of tasks submitted with `retry` (round-robin: the dispatcher keeps its own). */
  #retries = new Map<number, number>();

  /** maxMessageSize: the largest message a daemon may send (round-robin; a dispatcher has its own). */
  constructor(mode: HostMode, secret: string, maxMessageSize = DEFAULT_MAX_MESSAGE_SIZE) {
    this.mode = mode;
    // Handshake-sized until a connection has proved itself (the Gate raises it then).
    this.socket = new Socket(mode === 'dispatcher' ? 'pair' : 'poly', { recvMaxSize: HANDSHAKE_MAX_SIZE });
    this.socket.unref();
    if (mode === 'direct') {
      this.#rr = new RoundRobin(this.socket, (id) => this.#failSend(id));
      this.#gate = new Gate(this.socket, secret, (pipe) => this.#pipeAdded(pipe), maxMessageSize);
    } else {
      this.#gate = new Gate(this.socket, secret, (pipe) => this.#linked(pipe));
    }
    this.socket.onPipe((ev) => {
      const pipe = ev.pipe.id;
      if (ev.type === 'add') this.#gate.added(pipe);
      else if (this.#gate.removed(pipe)) return; // never proved itself: nobody knew it
      else if (this.#rr) this.#pipeRemoved(pipe);
      // The dispatcher's pipe goes only at teardown (closed by then) or when the dispatcher
      // dies, and then nothing outstanding can ever be answered.
      else if (pipe === this.#dispatcherPipe) this.#dispatcherLost();
    });
  }

  /** Messages dropped and connections refused (status()). */
  get refused(): { dropped: number; rejected: number } {
    return { dropped: this.#dropped, rejected: this.#gate.rejected };
  }

  /** The dispatcher has proved itself: what waited for it goes now, in order. */
  #linked(pipe: number): void {
    this.#dispatcherPipe = pipe;
    for (const send of this.#early.splice(0)) send();
  }

  /** Sends to the dispatcher, or holds the send until it has proved itself. */
  #toDispatcher(data: Buffer | Buffer[], failed: () => void = ignore): void {
    if (this.#dispatcherPipe === 0) this.#early.push(() => this.#toDispatcher(data, failed));
    else this.socket.send(data).catch(failed);
  }

  /** Settles everything outstanding with ErrorValue 19 (they may have run), connections 0. */
  #dispatcherLost(): void {
    if (this.#closed || this.#lost) return;
    this.#lost = true;
    this.connections = 0;
    this.#ready?.({ error: 'the dispatcher exited' });
    this.#ready = undefined;
    this.#settleAll();
  }

  /** Every mirai, everywhere() and status() outstanding: ErrorValue 19 (they may have run). */
  #settleAll(): void {
    for (const [id, m] of this.#pending) {
      this.#done(id);
      m.settleError(new ErrorValue(19));
    }
    for (const e of this.#everywhere.values()) e.reject(new ErrorValue(19));
    this.#everywhere.clear();
    for (const w of this.#statusWaiters.splice(0)) w(null);
    // Waits for connections end now (false), so no timer outlives the host.
    this.#waiters = this.#waiters.filter((w) => !w());
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
        const t = setTimeout(() => resolve({ error: `the dispatcher did not start within ${timeoutMs} ms` }), timeoutMs);
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

  /** Sends a task; the returned Mirai settles with its result. */
  submit<T>(payload: TaskPayload, opts: SubmitOptions = {}): Mirai<T> {
    if (this.#closed) throw new ErrorValue(7);
    if (this.#lost) {
      // Nothing can run here any more: settled at once, nothing encoded.
      const dead = new Mirai<T>(this.#takeId());
      dead.settleError(new ErrorValue(19));
      return dead;
    }
    if (this.codec) payload.data = this.codec.pack(payload.data);
    const id = this.#takeId();
    const retry = opts.retry ?? 0;
    // The dispatcher reads the retry budget from the TASK flags; daemons ignore them.
    const parts = encode(Kind.TASK, id, payload, this.mode === 'dispatcher' ? retry : 0);
    if (retry > 0 && this.mode === 'direct') this.#retries.set(id, retry);
    const m = new Mirai<T>(id, this);
    this.#track(id, m as Mirai<unknown>);
    if (opts.timeout !== undefined) m.armTimeout(opts.timeout);
    if (opts.signal) {
      const signal = opts.signal;
      if (signal.aborted) m.stop(signal.reason);
      else signal.addEventListener('abort', () => m.stop(signal.reason), { once: true });
    }
    if (m.unresolved) this.#send(id, parts);
    return m;
  }

  /** Canceller: a timed-out or stopped task. */
  cancel(id: number, _code: 5 | 20): boolean {
    const m = this.#pending.get(id);
    if (!m) return false;
    this.#done(id);
    if (this.#closed) return true;
    if (this.mode === 'dispatcher') {
      // Several stops in one tick (miraiMap stopping the rest, say) go out together, newest
      // first: in FIFO order every running task is older than every queued one, so the queued
      // ones are gone before a cancelled running task frees its daemon for the next in line.
      if (this.#cancels.push(id) === 1) queueMicrotask(this.#flushCancels);
    } else {
      const pipe = this.#rr!.forget(id);
      if (pipe !== undefined) this.socket.send(header(Kind.CANCEL, id), { pipe }).catch(ignore);
    }
    return true;
  }

  readonly #flushCancels = (): void => {
    const ids = this.#cancels.sort((a, b) => b - a);
    this.#cancels = [];
    if (!this.#closed) for (const id of ids) this.#toDispatcher(header(Kind.CANCEL, id));
  };

  /** Runs a task once on every connected daemon (and on those that join later). */
  everywhere(payload: TaskPayload): Promise<unknown[]> {
    if (this.#closed) return Promise.reject(new ErrorValue(7));
    if (this.#lost) return Promise.reject(new ErrorValue(19));
    if (this.codec) payload.data = this.codec.pack(payload.data);
    const id = this.#takeId();
    const parts = encode(Kind.EVERYWHERE, id, payload);
    const p = new Promise<unknown[]>((resolve, reject) => {
      this.#everywhere.set(id, { expected: undefined, results: [], error: undefined, resolve, reject });
    });
    if (this.mode === 'dispatcher') {
      this.#toDispatcher(parts);
    } else {
      this.#everywhereLog.push([id, parts]);
      const pipes = this.#rr!.pipes;
      for (const pipe of pipes) this.#rr!.sendTo(pipe, id, parts);
      this.#everywhereArrived(id, pipes.length);
    }
    return this.#hold(p);
  }

  /** Counters from the dispatcher; null without one (or if it does not answer). */
  counters(timeoutMs = 5000): Promise<Counters | null> {
    if (this.mode !== 'dispatcher' || this.#closed || this.#lost) return Promise.resolve(null);
    return this.#hold(
      new Promise<Counters | null>((resolve) => {
        const t = setTimeout(() => {
          const i = this.#statusWaiters.indexOf(done);
          if (i >= 0) this.#statusWaiters.splice(i, 1);
          resolve(null);
        }, timeoutMs);
        const done = (c: Counters | null): void => {
          clearTimeout(t);
          resolve(c);
        };
        this.#statusWaiters.push(done);
        this.#toDispatcher(header(Kind.STATUS_REQUEST, 0), () => done(null));
      }),
    );
  }

  /** Settles everything outstanding with ErrorValue 19 and, if asked, tells the far side to stop. */
  async close(shutdown: boolean): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#settleAll();
    this.#gate.close();
    this.#early = [];
    if (shutdown && !this.#lost) {
      try {
        if (this.mode === 'dispatcher') {
          if (this.#dispatcherPipe !== 0) await this.socket.send(header(Kind.SHUTDOWN, 0), { timeout: 1000 });
        }
        else await Promise.all(this.#rr!.pipes.map((pipe) => this.socket.send(header(Kind.EXIT, 0), { pipe, timeout: 1000 })));
      } catch {
        // the far side is gone already
      }
    }
    this.socket.close();
  }

  // ---- internals ----

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
    this.#retries.delete(id);
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

  #send(id: number, parts: Buffer[]): void {
    if (this.#rr) this.#rr.assign(id, parts);
    else this.#toDispatcher(parts, () => this.#failSend(id));
  }

  #failSend(id: number): void {
    const m = this.#pending.get(id);
    if (!m) return;
    this.#done(id);
    m.settleError(new ErrorValue(this.#closed ? 7 : 19));
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
    if (this.#rr ? !this.#rr.has(pipe) : pipe !== this.#dispatcherPipe) {
      // Sent before it was challenged (honest peers never do), or after it left.
      this.#gate.refuse(pipe);
      return;
    }
    this.#onBody(msg.body, pipe);
  }

  /** One message (or one of a BATCH) from the dispatcher, or from daemon `pipe` (round-robin). */
  #onBody(body: Buffer, pipe: number): void {
    if (this.#lost || body.length < HEADER_SIZE || body[0] !== PROTOCOL_VERSION) return;
    const kind = body[1] as Kind;
    const flags = body[2]! | (body[3]! << 8);
    const id = body.readUInt32LE(4);
    if (this.#rr) {
      if (kind === Kind.RESULT || kind === Kind.ERROR_VALUE) {
        // Only the daemon that holds a task may answer it.
        if (!this.#rr.holds(pipe, id)) {
          this.#dropped++;
          return;
        }
        if ((flags & FLAG_LAST) !== 0) this.#rr.retire(pipe, 'last');
        this.#rr.answered(pipe, id);
      } else if (kind === Kind.BYE) {
        this.#rr.retire(pipe, 'bye');
        this.socket.send(header(Kind.EXIT, 0), { pipe }).catch(ignore);
        return;
      } else if (kind === Kind.BATCH) {
        // Replies of tasks the daemon ran back to back; a malformed batch is dropped whole.
        const items = splitBatch(body);
        if (items === null) this.#dropped++;
        else for (const item of items) if (item[1] !== Kind.BATCH) this.#onBody(item, pipe);
        return;
      } else {
        this.#dropped++; // CONNECTIONS, STATUS, READY...: a daemon has no say in them
        return;
      }
    }
    switch (kind) {
      case Kind.RESULT:
        return this.#onResult(id, flags, body);
      case Kind.ERROR_VALUE: {
        const code = flags & 0xff;
        const value = new ErrorValue(code === 5 || code === 7 || code === 19 ? code : 20);
        const e = this.#everywhere.get(id);
        if (e) return this.#everywhereResult(id, e, value, true);
        const m = this.#pending.get(id);
        if (!m) return;
        this.#done(id);
        m.settleError(value);
        return;
      }
      case Kind.CONNECTIONS:
        this.connections = id;
        this.#waiters = this.#waiters.filter((w) => !w());
        return;
      case Kind.STATUS:
        this.#statusWaiters.shift()?.(decodeCounters(body));
        return;
      case Kind.EVERYWHERE_ACK:
        return this.#everywhereArrived(id, flags);
      case Kind.READY: {
        let r: { url?: string; error?: string };
        try {
          r = decodePayload<{ url?: string; error?: string }>(body);
        } catch {
          r = { error: 'malformed READY from the dispatcher' };
        }
        if (r.url) this.url = r.url;
        this.#ready?.(r);
        this.#ready = undefined;
        return;
      }
      default:
        return; // unknown kinds are dropped
    }
  }

  #onResult(id: number, flags: number, body: Buffer): void {
    const e = this.#everywhere.get(id);
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
    if (e) return this.#everywhereResult(id, e, outcome, isError);
    this.#done(id);
    if (isError) m!.settleError(outcome as MiraiError);
    else m!.settleValue(outcome);
  }

  #everywhereArrived(id: number, expected: number): void {
    const e = this.#everywhere.get(id);
    if (!e) return;
    e.expected = expected;
    this.#everywhereMaybeDone(id, e);
  }

  #everywhereResult(id: number, e: EverywhereCall, v: unknown, isError: boolean): void {
    e.results.push(v);
    if (isError && !e.error) e.error = v as MiraiError;
    this.#everywhereMaybeDone(id, e);
  }

  #everywhereMaybeDone(id: number, e: EverywhereCall): void {
    if (e.expected === undefined || e.results.length < e.expected) return;
    this.#everywhere.delete(id);
    if (e.error) e.reject(e.error);
    else e.resolve(e.results);
  }

  // ---- direct mode: pipes are the daemons ----

  #pipeAdded(pipe: number): void {
    const rr = this.#rr!;
    const backlog = rr.added(pipe);
    this.connections = rr.size;
    // Everywhere first (replayed in order), then the tasks that waited for a daemon.
    for (const [id, parts] of this.#everywhereLog) rr.sendTo(pipe, id, parts);
    for (const [id, parts] of backlog) if (this.#pending.has(id)) rr.assign(id, parts);
    this.#waiters = this.#waiters.filter((w) => !w());
  }

  #pipeRemoved(pipe: number): void {
    const rr = this.#rr!;
    const departure = rr.removed(pipe);
    this.connections = rr.size;
    const lost: number[] = [];
    // A lost task with retries left goes out again first: it is older than what is re-sent.
    for (const [id, parts] of departure.lost) {
      const left = this.#retries.get(id);
      if (left === undefined || !this.#pending.has(id)) {
        lost.push(id);
        continue;
      }
      if (left > 1) this.#retries.set(id, left - 1);
      else this.#retries.delete(id);
      rr.assign(id, parts);
    }
    for (const [id, parts] of departure.resend) {
      if (this.#pending.has(id)) rr.assign(id, parts);
      else if (this.#everywhere.has(id)) lost.push(id); // that daemon's share: it never ran
    }
    for (const id of lost) {
      const e = this.#everywhere.get(id);
      if (e) this.#everywhereResult(id, e, new ErrorValue(19), true);
      const m = this.#pending.get(id);
      if (!m) continue;
      this.#done(id);
      m.settleError(new ErrorValue(19));
    }
  }
}

function ignore(): void {}
