/**
 * The vocabulary of daemonEvents() and info(): who a daemon is (DaemonRef), the four events
 * and why a daemon left, the rows info() gives, and the bounds the hub keeps to.
 */
import type { DepartureHint } from '../wire/protocol';
import type { Scheme } from '../wire/url';

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
