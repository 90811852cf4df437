/**
 * The dispatcher's options and bookkeeping: the FIFO task queue and the per-daemon state.
 * No I/O here; lib/dispatcher/dispatcher.ts owns the sockets and calls in.
 */
import type { Message } from '../nng';
import type { TableRow } from './daemon-table';
import { checkOptions as checkSchema, describe, is, type Schema } from '../wire/validate';

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

/** The dispatcher's options, in lib/wire/validate.ts's vocabulary (the only check of them). */
const DISPATCHER_SCHEMA: Schema = {
  hostUrl: [is.nonEmptyString, 'a non-empty URL string'],
  daemonUrl: [is.nonEmptyString, 'a non-empty URL string'],
  secret: [is.nonEmptyString, 'a non-empty string', { secret: true }],
  tls: [is.object, '{ cert, key, pass?, ca? } with PEM strings'],
  maxMessageSize: [is.nonNegInt, 'a number of bytes (0: no limit)'],
  prefetch: [is.bool, 'a boolean'],
};

const TLS_SCHEMA: Schema = {
  cert: [is.string, 'a PEM string'],
  key: [is.string, 'a PEM string', { secret: true }],
  pass: [is.string, 'a string', { secret: true }],
  ca: [is.string, 'a PEM string'],
};

/**
 * Checks the dispatcher's options, however they came (a worker's workerData, or the
 * `mirai dispatcher` command's URLs and stdin JSON, which lib/dispatcher/main.ts only parses):
 * TypeError naming the key, what was expected and what it got.
 */
export function checkOptions(opts: DispatcherOptions): void {
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts))
    throw new TypeError(`dispatcher options must be an object (got ${describe(opts)})`);
  const style = { plain: true, undefinedIsAbsent: true };
  checkSchema('dispatcher', opts, DISPATCHER_SCHEMA, style);
  // Required, so not left to the schema (which skips absent keys).
  for (const k of ['hostUrl', 'daemonUrl', 'secret'] as const) {
    if (opts[k] === undefined)
      throw new TypeError(`dispatcher: ${k} must be ${DISPATCHER_SCHEMA[k]![1]} (got undefined)`);
  }
  if (opts.tls !== undefined) {
    checkSchema('dispatcher: tls', opts.tls, TLS_SCHEMA, style);
    for (const k of ['cert', 'key'] as const) {
      if (opts.tls[k] === undefined) throw new TypeError(`dispatcher: tls: ${k} must be a PEM string (got undefined)`);
    }
  }
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
