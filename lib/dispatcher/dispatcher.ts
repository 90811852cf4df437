/**
 * The dispatcher: a FIFO queue between the host and its daemons.
 *
 *   host (pair, listens) <-- pair --> dispatcher --> poly (listens) <-- pair -- daemons
 *
 * Event-driven: one receive loop per socket plus pipe events; no timers, no polling (the only
 * timer bounds the wait for daemons to leave at teardown). It routes on the 8-byte header
 * (readHeader reads a Message in place) and forwards the received Message objects themselves, so task
 * payloads and results cross without being decoded or copied. Malformed messages from any
 * peer are dropped and counted.
 *
 * Which task goes to which daemon is lib/dispatcher/scheduler.ts's (with `prefetch`, a busy
 * daemon may hold its next task).
 *
 * Counters (STATUS): `connections` live daemons; `awaiting` queued tasks; `executing` tasks
 * on a daemon (held ahead included); `completed` tasks settled by the dispatcher (a result, a cancellation of a
 * queued task, or a daemon lost mid-task), so awaiting + executing + completed = every TASK
 * received. EVERYWHERE runs are not tasks and are not counted.
 *
 * Every connection proves itself first (lib/wire/auth.ts): the dispatcher to the host, each daemon
 * to the dispatcher. A daemon connection counts, and gets anything, only once it has.
 */
import { DEFAULT_MAX_MESSAGE_SIZE, Gate, HANDSHAKE_MAX_SIZE } from '../wire/auth';
import { Socket, type TlsConfig, type Message } from '../nng';
import { daemonTls, errorText, proveToHost, ready } from './connect';
import {
  BYE_IDLE_TIME,
  BYE_WALLTIME,
  FLAG_LAST,
  Kind,
  encodeCounters,
  encodeInfo,
  encodeNews,
  header,
  readHeader,
  readHello,
  type Counters,
} from '../wire/protocol';
import { DaemonTable } from './daemon-table';
import { Scheduler } from './scheduler';
import { Busy, checkOptions, newDaemon, type Daemon, type DispatcherOptions, type EverywhereItem } from './state';

export type { DispatcherOptions, DispatcherTls } from './state';

/** How long teardown waits for daemons to leave after EXIT before closing anyway. */
const EXIT_GRACE_MS = 1000;
const noop = (): void => {};

/**
 * Runs a dispatcher until the host sends SHUTDOWN or its connection ends. Rejects only if the
 * host cannot be reached; a daemon URL that cannot be listened on is reported to the host as
 * READY { error } and the dispatcher returns.
 */
export async function runDispatcher(opts: DispatcherOptions): Promise<void> {
  checkOptions(opts);
  return new Dispatcher(opts).run();
}

class Dispatcher {
  readonly #opts: DispatcherOptions;
  readonly #host = new Socket('pair');
  readonly #pool = new Socket('poly');
  readonly #gate: Gate;
  #tls: TlsConfig | undefined;

  readonly #daemons = new Map<number, Daemon>();
  readonly #sched: Scheduler;
  /** Every EVERYWHERE so far, replayed in order to daemons that join later. */
  readonly #replays: EverywhereItem[] = [];
  /** Who the daemons are; what happens to them goes to the host as DAEMON messages. */
  readonly #table = new DaemonTable((n) => this.#toHost(encodeNews(n)));

  #live = 0;
  #dropped = 0;

  #closing = false;
  #hostGone = false;
  #onDrained: (() => void) | undefined;
  #resolve!: () => void;
  readonly #done = new Promise<void>((r) => (this.#resolve = r));

  constructor(opts: DispatcherOptions) {
    this.#opts = opts;
    this.#gate = new Gate(
      this.#pool,
      opts.secret,
      (pipe) => this.#added(pipe),
      opts.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
    );
    this.#sched = new Scheduler(
      {
        toDaemon: (d, data) => this.#toDaemon(d, data),
        toHost: (data) => this.#toHost(data),
        taskLost: (d, id, retried) => this.#table.taskLost(d.row, id, retried),
      },
      opts.prefetch ?? false,
    );
  }

  async run(): Promise<void> {
    const host = this.#host;
    const pool = this.#pool;
    try {
      // Handshake-sized until the peer has proved itself; raised per connection then.
      host.setOption('recvMaxSize', HANDSHAKE_MAX_SIZE);
      pool.setOption('recvMaxSize', HANDSHAKE_MAX_SIZE);
      host.onPipe((e) => {
        if (e.type === 'remove') this.#lostHost();
      });
      pool.onPipe((e) => {
        if (e.type === 'add') this.#gate.added(e.pipe.id);
        else if (!this.#gate.removed(e.pipe.id)) this.#removed(e.pipe.id);
      });
      await host.dial(this.#opts.hostUrl, { block: true });
      await proveToHost(this.#host, this.#opts.secret);
    } catch (e) {
      this.#close();
      throw new Error(`dispatcher: cannot reach the host at '${this.#opts.hostUrl}': ${errorText(e)}`);
    }
    let url: string;
    try {
      this.#tls = daemonTls(this.#opts);
      url = this.#pool.listen(this.#opts.daemonUrl, { tls: this.#tls }).url;
    } catch (e) {
      // Tell the host why, then give the message time to leave before closing.
      this.#toHost(ready({ error: errorText(e) }));
      if (!this.#hostGone) await this.#drain(() => this.#hostGone);
      this.#close();
      return;
    }
    // Synchronously after listen: READY precedes any CONNECTIONS the host will see.
    this.#toHost(ready({ url }));
    this.#loop(host, (m) => this.#fromHost(m));
    this.#loop(pool, (m) => this.#fromDaemon(m));
    return this.#done;
  }

  /** One receive loop: re-arms before handling, so NNG always has a receive pending. */
  #loop(sock: Socket, handle: (m: Message) => void): void {
    const onMsg = (m: Message): void => {
      if (this.#closing) return;
      arm();
      try {
        handle(m);
      } catch {
        this.#dropped++;
      }
    };
    const onErr = (): void => {
      if (!this.#closing) void this.#teardown();
    };
    const arm = (): void => {
      try {
        sock.recv().then(onMsg, onErr);
      } catch {
        onErr();
      }
    };
    arm();
  }

  // ---- host -> dispatcher ----

  #fromHost(m: Message): void {
    const h = readHeader(m);
    if (h === null) {
      this.#dropped++; // malformed
      return;
    }
    const id = h.id;
    switch (h.kind) {
      case Kind.TASK:
        if (!this.#sched.submit(id, m, h.flags)) this.#dropped++; // an id already known: a confused peer
        return;
      case Kind.CANCEL:
        if (!this.#sched.cancel(id, m)) this.#stopEverywhere(id); // a task finished already, or an everywhere() call
        return;
      case Kind.EVERYWHERE:
        return this.#everywhere(id, m);
      case Kind.STATUS_REQUEST:
        return this.#toHost(encodeCounters(this.counters()));
      case Kind.INFO_REQUEST:
        return this.#toHost(encodeInfo(this.#table.rows((pipe) => this.#sched.running(this.#daemons.get(pipe)))));
      case Kind.SHUTDOWN:
        void this.#teardown();
        return;
      case Kind.DROP: // the host saw daemon number id's process exit; its connection stayed
        return this.#table.closeConnection(id);
      default:
        this.#dropped++; // malformed, or a kind the host does not send
    }
  }

  /** An everywhere() call timed out at the host: interrupt the daemons still running it. */
  #stopEverywhere(id: number): void {
    for (const d of this.#daemons.values()) {
      if (!d.gone && d.busy === Busy.EVERYWHERE && d.runId === id) this.#toDaemon(d, header(Kind.CANCEL, id));
    }
  }

  #everywhere(id: number, m: Message): void {
    const body = Buffer.from(m.body); // copied once: kept for daemons that join later
    this.#replays.push({ id, body, forward: false });
    const item: EverywhereItem = { id, body, forward: true };
    let n = 0;
    for (const d of this.#daemons.values()) {
      if (d.gone || d.retiring) continue;
      n++;
      d.pending.push(item);
      if (!this.#closing) this.#sched.wake(d);
    }
    this.#toHost(header(Kind.EVERYWHERE_ACK, id, n));
  }

  // ---- daemons -> dispatcher ----

  #fromDaemon(m: Message): void {
    if (this.#gate.holds(m.pipe)) return this.#gate.message(m.pipe, m.body);
    if (!this.#daemons.has(m.pipe)) return this.#gate.refuse(m.pipe);
    const h = readHeader(m);
    const kind = h?.kind ?? -1;
    const id = h?.id ?? 0;
    const d = this.#daemons.get(m.pipe);
    if (kind === Kind.HELLO) {
      const who = readHello(m.body);
      if (who === null) this.#dropped++;
      else this.#table.hello(m.pipe, who.pid, who.hostname);
      return;
    }
    if (kind === Kind.BYE && d !== undefined) {
      // It wants to leave: nothing more for it; EXIT once it has answered what it runs.
      const why =
        (h!.flags & 0xff) === BYE_IDLE_TIME ? 'idleTime' : (h!.flags & 0xff) === BYE_WALLTIME ? 'walltime' : undefined;
      if (why !== undefined) this.#table.leaving(m.pipe, why);
      this.#sched.retire(d);
      return;
    }
    if (kind === Kind.STARTED) {
      // A traced task started: the host's span says on which daemon (flags: its number).
      if (d !== undefined && d.busy === Busy.TASK && d.runId === id)
        this.#toHost(header(Kind.STARTED, id, Math.min(d.row.daemon, 0xffff)));
      else this.#dropped++;
      return;
    }
    const last = ((h?.flags ?? 0) & FLAG_LAST) !== 0;
    if (d === undefined || !this.#sched.answer(d, kind, id, m, last)) {
      this.#dropped++; // malformed, or not the answer to anything that daemon holds
      return;
    }
    if (last) this.#table.leaving(d.pipe, 'maxTasks');
  }

  #added(pipe: number): void {
    if (this.#closing || this.#daemons.has(pipe)) return;
    const d = newDaemon(pipe, this.#replays, this.#table.added(pipe));
    this.#daemons.set(pipe, d);
    this.#live++;
    this.#toHost(header(Kind.CONNECTIONS, this.#live));
    this.#sched.next(d);
  }

  #removed(pipe: number): void {
    const d = this.#daemons.get(pipe);
    if (d === undefined || d.gone) return;
    d.gone = true;
    this.#live--;
    this.#sched.gone(d);
    if (this.#closing) {
      this.#daemons.delete(pipe);
      if (this.#live === 0) this.#onDrained?.();
      return;
    }
    this.#toHost(header(Kind.CONNECTIONS, this.#live));
    this.#table.removed(pipe);
    if (d.busy === Busy.IDLE && d.ahead === null && !d.pending.some((p) => p.forward)) {
      this.#daemons.delete(pipe);
    } else {
      // A result it sent just before leaving may still be on its way through the addon's
      // completion queue: let it land first, then settle what is left with ErrorValue 19.
      setImmediate(() => this.#lost(d));
    }
  }

  #lost(d: Daemon): void {
    this.#daemons.delete(d.pipe);
    this.#sched.lost(d, this.#closing);
  }

  counters(): Counters {
    return {
      connections: this.#live,
      awaiting: this.#sched.awaiting,
      executing: this.#sched.executing,
      completed: this.#sched.completed,
      dropped: this.#dropped,
      rejected: this.#gate.rejected,
    };
  }

  // ---- sending ----

  // Sends never throw here: a closed socket means teardown; a pipe that has just gone drops
  // the message, and its remove event settles the task.
  #toHost(data: Message | Buffer | Buffer[]): void {
    if (!this.#host.closed) this.#host.send(data).catch(noop);
  }

  #toDaemon(d: Daemon, data: Message | Buffer): void {
    if (!this.#pool.closed) this.#pool.send(data, { pipe: d.pipe }).catch(noop);
  }

  // ---- teardown ----

  #lostHost(): void {
    this.#hostGone = true;
    this.#onDrained?.();
    void this.#teardown();
  }

  /** EXIT to every daemon, wait (bounded) for them to leave, close, return. */
  async #teardown(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const exit = header(Kind.EXIT, 0);
    const sends: Promise<void>[] = [];
    for (const d of this.#daemons.values()) {
      if (!d.gone && !this.#pool.closed) sends.push(this.#pool.send(exit, { pipe: d.pipe }).catch(noop));
    }
    await Promise.all(sends);
    // NNG has no linger: closing now could cut the EXITs off on the wire.
    if (this.#live > 0) await this.#drain(() => this.#live === 0);
    this.#close();
    this.#resolve();
  }

  /** Waits until `done()` holds (checked on pipe events), at most EXIT_GRACE_MS. */
  #drain(done: () => boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(finish, EXIT_GRACE_MS);
      function finish(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#onDrained = () => {
        if (done()) finish();
      };
    });
  }

  #close(): void {
    this.#closing = true;
    this.#onDrained = undefined;
    this.#gate.close();
    this.#pool.close();
    this.#host.close();
    this.#tls?.close();
    this.#tls = undefined;
  }
}
