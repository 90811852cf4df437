/**
 * daemonEvents(): what happens to a profile's daemons, pushed as it happens — connect,
 * disconnect (and why), replaced (respawn), taskLost — to typed EventEmitters that are also
 * async iterators.
 *
 * Each Host has one DaemonHub. What it hears comes from three places:
 *  - its link (lib/host/link.ts LinkHost.news): DaemonNews from the dispatcher's daemon table
 *    (DAEMON messages over the host's pair link) or from the round-robin link's own table
 *    (lib/dispatcher/daemon-table.ts): who connected (pid, host name from the daemon's HELLO),
 *    who went (and what the daemon said about why: maxTasks, idleTime, walltime), which task
 *    was lost with which daemon;
 *  - the local launcher (lib/launchers/local.ts LocalObserver): which pids it started, how
 *    each exited (code, signal), which pid replaced which;
 *  - the profile's teardown (closing(), end()).
 * A local daemon's disconnect waits for its exit status (bounded: EXIT_WAIT_MS), so that the
 * event says how it ended; a task lost with it is told after its disconnect, never before.
 *
 * The hub also keeps what info() shows of daemons that left: the last DEPARTED_KEPT of them.
 * Nothing here is on the task path.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { DaemonNews, DaemonRow, DepartureHint } from '../wire/protocol';
import type { Scheme } from '../wire/url';
import type { LocalObserver } from '../launchers/local';

/** How long a local daemon's disconnect waits for its exit status before it is told without. */
export const EXIT_WAIT_MS = 2000;
/** Departed daemons info() keeps (the most recent). */
export const DEPARTED_KEPT = 32;
/** Events an iterator holds that nobody has taken yet; beyond, the oldest are dropped. */
export const EVENT_QUEUE_MAX = 4096;

/** The URL scheme daemons connect over: 'ipc', 'abstract', 'tcp', 'tls+tcp', 'ws', 'wss'. */
export type Transport = Scheme;

/** One daemon, as events and info() name it. */
export interface DaemonRef {
  /** Its number in this profile's current set of daemons, from 1, in order of connection. */
  id: number;
  /** Its process id, once it said who it is (daemons of this package do, at once). */
  pid?: number;
  /** The name of the machine it runs on (os.hostname() there), with pid. */
  hostname?: string;
  transport: Transport;
  /** Started by this process (daemons(n), launchLocal()): its exit status is known. */
  local: boolean;
}

/**
 * Why a daemon left:
 * - `maxTasks`, `idleTime`, `walltime`: it said so (its limit was reached);
 * - `crash`: a local daemon that died (a signal such as SIGKILL, a non-zero exit status);
 * - `interrupted`: a local daemon stopped by Ctrl-C (SIGINT, exit status 130);
 * - `hostClosed`: the profile was reset (daemons(0), a new daemons() call, close());
 * - `dispatcherLost`: the profile's dispatcher died, and its daemons with it;
 * - `unknown`: it cannot be known — a remote daemon whose connection ended without a word
 *   (it may have crashed, or the network failed), or a local one that exited 0 unasked.
 */
export type DisconnectReason = DepartureHint | 'crash' | 'interrupted' | 'hostClosed' | 'dispatcherLost' | 'unknown';

/** How a local daemon's process ended (as a ChildProcess 'exit' event says). */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A daemon connected and proved it knows the secret. */
export interface ConnectEvent {
  type: 'connect';
  daemon: DaemonRef;
  at: Date;
}

/** A daemon's connection ended. */
export interface DisconnectEvent {
  type: 'disconnect';
  daemon: DaemonRef;
  reason: DisconnectReason;
  /** A local daemon's exit status, when it was known within EXIT_WAIT_MS; absent otherwise. */
  exit?: ProcessExit;
  /** Mirai it finished (everywhere() runs are not counted). */
  tasksDone: number;
  at: Date;
}

/** A local daemon that died unexpectedly was replaced (respawn): told once the new one connects. */
export interface ReplacedEvent {
  type: 'replaced';
  old: DaemonRef;
  new: DaemonRef;
  at: Date;
}

/** A mirai was running on a daemon that left: it settles with ErrorValue 19, or runs again (retry). */
export interface TaskLostEvent {
  type: 'taskLost';
  /** The mirai's id (Mirai#id). */
  task: number;
  daemon: DaemonRef;
  /** It had retries left and was submitted again (mirai(..., { retry })). */
  retried: boolean;
  at: Date;
}

export type DaemonEvent = ConnectEvent | DisconnectEvent | ReplacedEvent | TaskLostEvent;

/** One row of info(): a connected daemon, or one of the last 32 that left. */
export interface DaemonInfo extends DaemonRef {
  /** 'gone': it left (see `reason`). */
  state: 'busy' | 'idle' | 'gone';
  /** The mirai it runs (busy on an everywhere() run: no task). */
  task?: number;
  /** Mirai it finished. */
  tasksDone: number;
  connectedAt: Date;
  /** Gone rows only. */
  disconnectedAt?: Date;
  /** Gone rows only: why it left. */
  reason?: DisconnectReason;
  /** Gone local rows, once known: how its process ended. */
  exit?: ProcessExit;
}

/** The listener signature of each event. */
export interface DaemonEventMap {
  connect: [ConnectEvent];
  disconnect: [DisconnectEvent];
  replaced: [ReplacedEvent];
  taskLost: [TaskLostEvent];
  /** The profile was reset (or close() was called): no more events. */
  end: [];
}

type Listener<K extends keyof DaemonEventMap> = (...args: DaemonEventMap[K]) => void;

/**
 * The events of one profile's daemons until that profile is reset (daemons(0), a new
 * daemons() call, close() of its DaemonSet). An EventEmitter (`on('connect', (e) => ...)`)
 * and an async iterator (`for await (const e of daemonEvents())`, which ends then). Events are
 * queued for the iterator from the moment daemonEvents() returns, so none is missed between
 * creating it and iterating; call close() to stop early (a `break` out of `for await` does).
 */
// A typed EventEmitter: the interface narrows the class's inherited listener methods to the
// events above (the merge adds no members the class lacks).
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface DaemonEvents {
  on<K extends keyof DaemonEventMap>(event: K, listener: Listener<K>): this;
  once<K extends keyof DaemonEventMap>(event: K, listener: Listener<K>): this;
  off<K extends keyof DaemonEventMap>(event: K, listener: Listener<K>): this;
  addListener<K extends keyof DaemonEventMap>(event: K, listener: Listener<K>): this;
  removeListener<K extends keyof DaemonEventMap>(event: K, listener: Listener<K>): this;
  prependListener<K extends keyof DaemonEventMap>(event: K, listener: Listener<K>): this;
  emit<K extends keyof DaemonEventMap>(event: K, ...args: DaemonEventMap[K]): boolean;
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class DaemonEvents extends EventEmitter implements AsyncIterable<DaemonEvent> {
  /** The profile whose daemons these are. */
  readonly profile: string;
  /** Events dropped from the iterator's queue because it held EVENT_QUEUE_MAX untaken ones. */
  droppedEvents = 0;
  #queue: DaemonEvent[] = [];
  #head = 0;
  #wake: (() => void) | undefined;
  #ended = false;
  #detach: (() => void) | undefined;

  /** @internal */
  constructor(profile: string) {
    super();
    this.profile = profile;
  }

  /** True once the profile was reset or close() was called. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Stops listening: 'end' is emitted and the iterator ends after what it holds. */
  close(): void {
    this.#detach?.();
    this.#end();
  }

  /** @internal The hub it listens to (detach undoes it). */
  attach(detach: () => void): void {
    this.#detach = detach;
  }

  /** @internal */
  push(e: DaemonEvent): void {
    if (this.#ended) return;
    if (this.#queue.length - this.#head >= EVENT_QUEUE_MAX) {
      this.#head++;
      this.droppedEvents++;
    }
    this.#queue.push(e);
    this.#wake?.();
    this.emit(e.type, e as never);
  }

  /** @internal The profile was reset. */
  end(): void {
    this.#end();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#detach = undefined;
    this.#wake?.();
    this.emit('end');
  }

  #take(): DaemonEvent | undefined {
    if (this.#head >= this.#queue.length) return undefined;
    const e = this.#queue[this.#head++]!;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return e;
  }

  [Symbol.asyncIterator](): AsyncIterator<DaemonEvent> {
    return {
      next: async (): Promise<IteratorResult<DaemonEvent>> => {
        for (;;) {
          const e = this.#take();
          if (e !== undefined) return { value: e, done: false };
          if (this.#ended) return { value: undefined, done: true };
          await new Promise<void>((resolve) => (this.#wake = resolve));
          this.#wake = undefined;
        }
      },
      return: async (): Promise<IteratorResult<DaemonEvent>> => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }
}

/** A daemon the hub knows of, connected or on its way out. */
interface Entry {
  ref: DaemonRef;
  connectedAt: Date;
  tasksDone: number;
  /** Its connection went (the link's disconnect news, or the dispatcher was lost). */
  gone?: { hint: DepartureHint | undefined; closing: boolean; dispatcherLost: boolean; at: Date };
  /** Bounds the wait for the other half (connection gone / exit status) of a local daemon. */
  timer?: NodeJS.Timeout;
  /** Events about it held until its disconnect is told (taskLost). */
  held: DaemonEvent[];
}

/** A process the local launcher started. */
interface LocalProcess {
  exit?: ProcessExit;
  /** The daemon it became, once it connected. */
  daemon?: number;
  /** The daemon it replaces (respawn), until it connects. */
  replaces?: DaemonRef;
}

export class DaemonHub implements LocalObserver {
  readonly #url: () => string;
  readonly #subs = new Set<DaemonEvents>();
  readonly #live = new Map<number, Entry>();
  readonly #departed: DaemonInfo[] = [];
  /** Processes the local launcher started and that are not told yet, by pid. */
  readonly #local = new Map<number, LocalProcess>();
  readonly #hostname = hostname();
  #closing = false;
  #ended = false;

  /** url: the daemons' URL (its scheme is every daemon's transport). */
  constructor(url: () => string) {
    this.#url = url;
  }

  /** Events from now on go to ev too, until end(). */
  subscribe(ev: DaemonEvents): void {
    if (this.#ended) {
      ev.end();
      return;
    }
    this.#subs.add(ev);
    ev.attach(() => this.#subs.delete(ev));
  }

  // ---- from the link ----

  news(n: DaemonNews): void {
    if (this.#ended) return;
    switch (n.type) {
      case 'connect':
        return this.#connected(n.daemon, n.pid, n.hostname, new Date(n.at));
      case 'disconnect': {
        const e = this.#live.get(n.daemon);
        if (e === undefined || e.gone) return;
        e.tasksDone = n.tasksDone;
        e.gone = { hint: n.hint, closing: this.#closing, dispatcherLost: false, at: new Date(n.at) };
        return this.#settle(e);
      }
      case 'taskLost': {
        const e = this.#live.get(n.daemon);
        const daemon = e?.ref ?? this.#departed.find((d) => d.id === n.daemon) ?? this.#unknown(n.daemon);
        const ev: TaskLostEvent = {
          type: 'taskLost',
          task: n.task,
          daemon: refOf(daemon),
          retried: n.retried,
          at: new Date(n.at),
        };
        // Its daemon's disconnect comes first: held until that is told.
        if (e !== undefined) e.held.push(ev);
        else this.#emit(ev);
        return;
      }
    }
  }

  /** The dispatcher is gone: so is every daemon behind it. */
  farSideLost(): void {
    const at = new Date();
    for (const e of [...this.#live.values()]) {
      if (e.gone) continue;
      e.gone = { hint: undefined, closing: this.#closing, dispatcherLost: true, at };
      this.#settle(e);
    }
  }

  // ---- from the local launcher (LocalObserver) ----

  spawned(pid: number): void {
    if (!this.#ended) this.#local.set(pid, {});
  }

  exited(pid: number, code: number | null, signal: NodeJS.Signals | null): void {
    const p = this.#local.get(pid);
    if (p === undefined) return;
    p.exit = { code, signal };
    const e = p.daemon === undefined ? undefined : this.#live.get(p.daemon);
    if (e !== undefined) this.#settle(e);
    // Else it never connected, or its connect news is still on its way (#connected settles it).
  }

  replaced(oldPid: number, newPid: number): void {
    const p = this.#local.get(newPid);
    if (p === undefined) return;
    let old: DaemonRef | undefined;
    for (const e of this.#live.values()) if (e.ref.local && e.ref.pid === oldPid) old = e.ref;
    for (let i = this.#departed.length - 1; old === undefined && i >= 0; i--) {
      const d = this.#departed[i]!;
      if (d.local && d.pid === oldPid) old = d;
    }
    if (old !== undefined) p.replaces = refOf(old);
  }

  // ---- from the profile ----

  /** The profile is being reset: whoever leaves from now on leaves because of it. */
  closing(): void {
    this.#closing = true;
  }

  /** The profile is gone: what is still open is told as it stands, then every subscriber ends. */
  end(): void {
    if (this.#ended) return;
    this.#closing = true;
    for (const e of [...this.#live.values()]) this.#settle(e, true);
    this.#ended = true;
    this.#local.clear();
    for (const s of [...this.#subs]) {
      try {
        s.end();
      } catch (err) {
        process.nextTick(() => {
          throw err; // an 'end' listener threw: not the teardown's problem
        });
      }
    }
    this.#subs.clear();
  }

  /** info(): the link's rows of connected daemons, then the departed ones, by id. */
  rows(live: DaemonRow[]): DaemonInfo[] {
    const out: DaemonInfo[] = [];
    const transport = this.#transport();
    for (const r of live) {
      const e = this.#live.get(r.daemon);
      if (e?.gone) continue; // shown below, as gone
      const ref: DaemonRef = e
        ? refOf(e.ref)
        : {
            id: r.daemon,
            ...(r.pid !== undefined ? { pid: r.pid, hostname: r.hostname } : {}),
            transport,
            local: this.#isLocal(r.pid, r.hostname),
          };
      out.push({
        ...ref,
        state: r.busy ? 'busy' : 'idle',
        ...(r.task !== undefined ? { task: r.task } : {}),
        tasksDone: r.tasksDone,
        connectedAt: new Date(r.at),
      });
    }
    for (const e of this.#live.values()) if (e.gone) out.push(this.#goneRow(e));
    out.push(...this.#departed.map((d) => ({ ...d, ...(d.exit ? { exit: { ...d.exit } } : {}) })));
    return out.sort((a, b) => a.id - b.id);
  }

  // ---- internals ----

  #connected(id: number, pid: number | undefined, host: string | undefined, at: Date): void {
    if (this.#live.has(id)) return;
    const lp = pid === undefined ? undefined : this.#local.get(pid);
    const local = lp !== undefined && host === this.#hostname;
    const ref: DaemonRef = {
      id,
      ...(pid !== undefined ? { pid, hostname: host } : {}),
      transport: this.#transport(),
      local,
    };
    const e: Entry = { ref, connectedAt: at, tasksDone: 0, held: [] };
    this.#live.set(id, e);
    this.#emit({ type: 'connect', daemon: refOf(ref), at });
    if (!local) return;
    lp!.daemon = id;
    const old = lp!.replaces;
    lp!.replaces = undefined;
    if (old !== undefined) this.#emit({ type: 'replaced', old, new: refOf(ref), at });
    if (lp!.exit !== undefined) this.#settle(e); // it died before this news arrived
  }

  /**
   * A daemon is told gone once its connection went and, for a local one, its exit status is
   * known: the two arrive in either order (the link's news, the child's 'exit' event). After
   * the first, the second is waited for at most EXIT_WAIT_MS; `now` tells it as it stands.
   */
  #settle(e: Entry, now = false): void {
    if (!this.#live.has(e.ref.id)) return;
    const lp = e.ref.local ? this.#local.get(e.ref.pid!) : undefined;
    const complete = e.gone !== undefined && (lp === undefined || lp.exit !== undefined);
    if (!complete && !now) {
      if (e.timer === undefined) {
        e.timer = setTimeout(() => this.#settle(e, true), EXIT_WAIT_MS);
        e.timer.unref();
      }
      return;
    }
    clearTimeout(e.timer);
    e.gone ??= { hint: undefined, closing: this.#closing, dispatcherLost: false, at: new Date() };
    const row = this.#goneRow(e);
    this.#live.delete(e.ref.id);
    if (lp !== undefined) this.#local.delete(e.ref.pid!);
    this.#departed.push(row);
    if (this.#departed.length > DEPARTED_KEPT) this.#departed.shift();
    this.#emit({
      type: 'disconnect',
      daemon: refOf(e.ref),
      reason: row.reason!,
      ...(row.exit ? { exit: { ...row.exit } } : {}),
      tasksDone: e.tasksDone,
      at: e.gone.at,
    });
    for (const h of e.held) this.#emit(h);
  }

  #goneRow(e: Entry): DaemonInfo {
    const g = e.gone ?? { hint: undefined, closing: this.#closing, dispatcherLost: false, at: new Date() };
    const exit = e.ref.local ? this.#local.get(e.ref.pid!)?.exit : undefined;
    return {
      ...refOf(e.ref),
      state: 'gone',
      tasksDone: e.tasksDone,
      connectedAt: e.connectedAt,
      disconnectedAt: g.at,
      reason: reasonFor(g.hint, g.closing, g.dispatcherLost, exit),
      ...(exit ? { exit: { ...exit } } : {}),
    };
  }

  #emit(e: DaemonEvent): void {
    for (const s of this.#subs) {
      try {
        s.push(e);
      } catch (err) {
        // A listener threw: it is the user's uncaught exception, as from any emitter, but
        // thrown outside the host's receive loop and this hub, which must carry on.
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }

  #isLocal(pid: number | undefined, host: string | undefined): boolean {
    return pid !== undefined && host === this.#hostname && this.#local.has(pid);
  }

  #transport(): Transport {
    const url = this.#url();
    const i = url.indexOf('://');
    return (i > 0 ? url.slice(0, i) : url) as Transport;
  }

  #unknown(id: number): DaemonRef {
    return { id, transport: this.#transport(), local: false };
  }
}

/** Why a daemon left, from what it said, what the host was doing, and how its process ended. */
function reasonFor(
  hint: DepartureHint | undefined,
  closing: boolean,
  dispatcherLost: boolean,
  exit: ProcessExit | undefined,
): DisconnectReason {
  if (hint !== undefined) return hint;
  if (closing) return 'hostClosed';
  if (exit !== undefined) {
    if (exit.code === 130 || exit.signal === 'SIGINT') return 'interrupted';
    if (exit.code !== 0) return 'crash';
  }
  return dispatcherLost ? 'dispatcherLost' : 'unknown';
}

/** A fresh DaemonRef (events never share objects with the hub's state or with each other). */
function refOf(r: DaemonRef): DaemonRef {
  return {
    id: r.id,
    ...(r.pid !== undefined ? { pid: r.pid } : {}),
    ...(r.hostname !== undefined ? { hostname: r.hostname } : {}),
    transport: r.transport,
    local: r.local,
  };
}

/** Subscribers waiting for a profile that is not set up yet, by profile name. */
const waiting = new Map<string, Set<DaemonEvents>>();

/** @internal daemons() set up profile `name` with this hub: its waiting subscribers join it. */
export function adoptWaiting(name: string, hub: DaemonHub): void {
  const subs = waiting.get(name);
  if (subs === undefined) return;
  waiting.delete(name);
  for (const ev of subs) if (!ev.ended) hub.subscribe(ev);
}

/** @internal A subscriber for profile `name`, which has no daemons yet: it joins the next set. */
export function waitForProfile(name: string, ev: DaemonEvents): void {
  let subs = waiting.get(name);
  if (subs === undefined) waiting.set(name, (subs = new Set()));
  subs.add(ev);
  ev.attach(() => subs.delete(ev));
}
