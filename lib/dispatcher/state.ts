/**
 * The dispatcher's options and bookkeeping: the FIFO task queue and the per-daemon state.
 * No I/O here; lib/dispatcher/dispatcher.ts owns the sockets and calls in.
 */
import type { Message } from '../nng';
import type { TableRow } from './daemon-table';

export interface DispatcherTls {
  /** Certificate (chain), PEM. */
  cert: string;
  /** Private key, PEM. */
  key: string;
  /** Passphrase of an encrypted key. */
  pass?: string;
  /** Mutual TLS: daemons must present a certificate that chains to this CA (PEM). */
  ca?: string;
}

export interface DispatcherOptions {
  /** The host's URL: the dispatcher dials it (the host listens). */
  hostUrl: string;
  /** Where the dispatcher listens for daemons; port 0 picks a free port. */
  daemonUrl: string;
  /** Server certificate and key for a tls+tcp:// or wss:// daemonUrl. */
  tls?: DispatcherTls;
  /** The secret daemons prove they know (lib/wire/auth.ts); the dispatcher proves it to the host too. */
  secret: string;
  /** The largest message a daemon may send, bytes (0: any; default DEFAULT_MAX_MESSAGE_SIZE). */
  maxMessageSize?: number;
  /** Let a busy daemon hold the next task (lib/dispatcher/scheduler.ts). Default false. */
  prefetch?: boolean;
}

export function checkOptions(opts: DispatcherOptions): void {
  if (opts === null || typeof opts !== 'object') throw new TypeError('dispatcher options must be an object');
  for (const k of ['hostUrl', 'daemonUrl'] as const) {
    if (typeof opts[k] !== 'string' || opts[k].length === 0) {
      throw new TypeError(`dispatcher: ${k} must be a non-empty URL string (got ${String(opts[k])})`);
    }
  }
  if (typeof opts.secret !== 'string' || opts.secret.length === 0)
    throw new TypeError('dispatcher: secret must be a non-empty string');
  const tls = opts.tls;
  if (
    tls !== undefined &&
    (tls === null || typeof tls !== 'object' || typeof tls.cert !== 'string' || typeof tls.key !== 'string')
  ) {
    throw new TypeError('dispatcher: tls must be { cert, key, pass? } with PEM strings');
  }
  if (opts.prefetch !== undefined && typeof opts.prefetch !== 'boolean')
    throw new TypeError('dispatcher: prefetch must be a boolean');
}

/** Where a task is. */
export const enum TaskState {
  QUEUED = 0,
  RUNNING = 1,
  DONE = 2,
}

export interface Task {
  readonly id: number;
  /** The host's TASK message, forwarded as received; null once sent (or dropped). */
  msg: Message | null;
  state: TaskState;
  /** The daemon running it. */
  daemon: Daemon | null;
  /** A CANCEL was forwarded to its daemon already (forward it once only). */
  cancelSent: boolean;
  /** Times it may still be re-queued if its daemon is lost (the TASK header's flags). */
  retry: number;
  /**
   * With retries left, or while held ahead by a daemon: a copy of the message, sent again after
   * a loss or a recall (msg is gone by then).
   */
  copy: Buffer | null;
}

/** What a daemon is running. */
export const enum Busy {
  IDLE = 0,
  /** A TASK: its result goes to the host and counts as completed. */
  TASK = 1,
  /** An EVERYWHERE counted in an EVERYWHERE_ACK: its result goes to the host. */
  EVERYWHERE = 2,
  /** An EVERYWHERE replayed to a daemon that joined later: its result is not forwarded. */
  REPLAY = 3,
}

/** One EVERYWHERE body (copied once, when it arrived), to be sent to a daemon. */
export interface EverywhereItem {
  readonly id: number;
  readonly body: Buffer;
  /** true: counted in the ACK, result forwarded; false: a replay, result dropped. */
  readonly forward: boolean;
}

export interface Daemon {
  /** NNG pipe id of its connection to the dispatcher. */
  readonly pipe: number;
  busy: Busy;
  /** Id of what it runs (task or everywhere id), when not IDLE. */
  runId: number;
  /** The task it runs, when busy === TASK. */
  task: Task | null;
  /** The task it holds to run next (prefetch, lib/dispatcher/scheduler.ts); not started yet. */
  ahead: Task | null;
  /** A RECALL of `ahead` was sent. */
  recalling: boolean;
  /** EVERYWHERE items it must run, in order, before its next task. */
  pending: EverywhereItem[];
  pendingHead: number;
  /** Its connection is gone (being finalized). */
  gone: boolean;
  /** It is leaving (BYE, or its last answer under maxTasks): it gets nothing more. */
  retiring: boolean;
  /** Who it is and what it did (lib/dispatcher/daemon-table.ts): info() and daemonEvents(). */
  readonly row: TableRow;
}

export function newDaemon(pipe: number, replays: readonly EverywhereItem[], row: TableRow): Daemon {
  return {
    pipe,
    busy: Busy.IDLE,
    runId: 0,
    task: null,
    ahead: null,
    recalling: false,
    pending: replays.slice(),
    pendingHead: 0,
    gone: false,
    retiring: false,
    row,
  };
}

/** Takes the next EVERYWHERE item of a daemon, if any. */
export function nextPending(d: Daemon): EverywhereItem | undefined {
  if (d.pendingHead >= d.pending.length) return undefined;
  const item = d.pending[d.pendingHead++]!;
  if (d.pendingHead === d.pending.length) {
    d.pending = [];
    d.pendingHead = 0;
  }
  return item;
}

/**
 * Strict FIFO of queued tasks. Cancelled tasks stay in the array (state DONE) and are skipped
 * when dequeued, so a cancel is O(1); the array is compacted as its head advances.
 */
export class TaskQueue {
  #items: Array<Task | undefined> = [];
  #head = 0;
  /** Queued tasks (cancelled ones not counted). */
  size = 0;

  push(t: Task): void {
    this.#items.push(t);
    this.size++;
  }

  /** Puts t first (a retried task: it was the oldest when it started). */
  unshift(t: Task): void {
    if (this.#head > 0) this.#items[--this.#head] = t;
    else this.#items.unshift(t);
    this.size++;
  }

  /** A queued task was cancelled (its state is no longer QUEUED). */
  removed(): void {
    this.size--;
  }

  shift(): Task | undefined {
    const items = this.#items;
    while (this.#head < items.length) {
      const t = items[this.#head];
      items[this.#head++] = undefined;
      if (t !== undefined && t.state === TaskState.QUEUED) {
        this.size--;
        this.#compact();
        return t;
      }
    }
    this.#compact();
    return undefined;
  }

  #compact(): void {
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
