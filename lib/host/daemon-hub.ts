/**
 * The DaemonHub: one per Host, it joins what the link says of daemons (DaemonNews), what the
 * local launcher says of their processes (pids, exit statuses, respawns) and the profile's
 * teardown, into the events of lib/host/events.ts and the rows of info(). See lib/host/events.ts
 * for where each piece comes from. Nothing here is on the task path.
 */
import type { RunsOn } from './task-spans';
import { hostname } from 'node:os';
import type { DaemonNews, DaemonRow, DepartureHint } from '../wire/protocol';
import type { LocalObserver } from '../launchers/local';
import type { DaemonEvents } from './events';
import {
  DEPARTED_KEPT,
  EXIT_WAIT_MS,
  type DaemonEvent,
  type DaemonInfo,
  type DaemonRef,
  type DisconnectReason,
  type ProcessExit,
  type TaskLostEvent,
  type Transport,
} from './event-types';

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
  readonly #drop: (daemon: number) => void;
  readonly #subs = new Set<DaemonEvents>();
  readonly #live = new Map<number, Entry>();
  readonly #departed: DaemonInfo[] = [];
  /** Processes the local launcher started and that are not told yet, by pid. */
  readonly #local = new Map<number, LocalProcess>();
  readonly #hostname = hostname();
  #closing = false;
  #ended = false;

  /**
   * url: the daemons' URL (its scheme is every daemon's transport). drop: closes a daemon's
   * connection (lib/host/link.ts Link.drop), for a local daemon whose process exited while its
   * connection stayed open.
   */
  constructor(url: () => string, drop: (daemon: number) => void = () => {}) {
    this.#url = url;
    this.#drop = drop;
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

  /** Daemon number id as far as it is known (for a task span: lib/host/task-spans.ts). */
  runsOn(id: number): RunsOn {
    const r = this.#live.get(id)?.ref;
    return r?.pid !== undefined ? { daemon: id, pid: r.pid, hostname: r.hostname } : { daemon: id };
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
        e.timer = setTimeout(() => this.#waited(e), EXIT_WAIT_MS);
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

  /**
   * EXIT_WAIT_MS after the first half of a departure. A local daemon whose process exited while
   * its connection is still open (its socket held by another process, as under wine) would
   * keep its task forever: its connection is closed, which settles that task (ErrorValue 19,
   * or its retry) as on any disconnect.
   */
  #waited(e: Entry): void {
    const lp = e.ref.local ? this.#local.get(e.ref.pid!) : undefined;
    if (e.gone === undefined && lp?.exit !== undefined && !this.#closing && this.#live.has(e.ref.id)) {
      this.#drop(e.ref.id);
    }
    this.#settle(e, true);
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
