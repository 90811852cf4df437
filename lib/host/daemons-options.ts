/**
 * The options of daemons() and of the daemon processes it starts, their schemas and limits:
 * the declarations lib/host/daemons.ts (set-up, status) and lib/host/launch.ts (launchLocal,
 * launchRemote) share, kept apart so that both read as code.
 */
import { MAX_MESSAGE_SIZE_LIMIT } from '../wire/auth';
import type { RemoteConfig } from '../launchers/remote';
import { is, type Schema } from '../wire/validate';
import type { SerialConfig } from '../wire/serial';

/** Options of the daemon processes themselves (also for launchLocal / launchRemote). */
export interface DaemonProcessOptions {
  /** Exit after this many tasks. */
  maxTasks?: number;
  /** Exit after this long (ms) without a task. */
  idleTime?: number;
  /** Exit after this long (ms) in all. */
  walltime?: number;
  /** Remove the globals a task created after it (default true). */
  cleanup?: boolean;
  /** Forward the daemons' stdout/stderr to this process (default false). */
  output?: boolean;
  /** Exit when the connection to the host is gone (default true). */
  autoExit?: boolean;
  /** Environment for local daemons (merged over this process's). */
  env?: Record<string, string>;
  /** Node flags for local daemons. */
  execArgv?: string[];
  /** Heap limit of local daemons, in MB (--max-old-space-size). */
  memory?: number;
  /**
   * The command that runs local daemons, as an executable or a command prefix whose last word is
   * a Node (or Electron) binary: `'/opt/node22/bin/node'`, `['nice', '-n', '10', process.execPath]`,
   * `['qemu-aarch64-static', '/opt/arm64/bin/node']`. Words are passed as they are, no shell.
   * Default: the environment variable MIRAI_DAEMON_NODE (a path, or a JSON array of words) when
   * set, else this process's own binary (process.execPath). The daemon CLI and execArgv follow it; a
   * `dispatcher: 'process'` is started by it too.
   */
  node?: string | readonly string[];
  /** Mutual TLS (a host given tls: { cert, key, ca }): the daemons' certificate, PEM or a path. */
  tlsClientCert?: string;
  /** Mutual TLS: the key of tlsClientCert, as a file path where the daemons run. */
  tlsClientKey?: string;
  /**
   * Replace a local daemon that dies unexpectedly (default true): after a backoff (0.1 s
   * doubling to 5 s), until 5 have died within 30 s; then status().error says why and a
   * warning is emitted. Daemons leaving on purpose (idleTime, maxTasks, walltime) are not
   * replaced. Remote daemons are relaunched only when their launch config opts in
   * (sshConfig(..., { respawn: true }), remoteConfig({ ..., respawn: true })); false here
   * turns that off too.
   */
  respawn?: boolean;
}

export interface DaemonsOptions extends DaemonProcessOptions {
  /** Listen here for daemons: tcp://, tls+tcp://, ws://, ipc://, abstract:// (Linux); port 0 picks a free one. */
  url?: string;
  /** How to launch daemons on other machines (sshConfig, remoteConfig, clusterConfig). */
  remote?: RemoteConfig;
  /** FIFO dispatcher on a thread (true, default), in its own process, or none (round-robin). */
  dispatcher?: boolean | 'thread' | 'process';
  /**
   * With a dispatcher: a daemon that runs a task may hold the next one, so it starts it without
   * a round trip to the dispatcher (several times the throughput of short tasks). A held task is
   * taken back when another daemon goes idle first, and is queued again, never lost, if its
   * daemon goes. Default false: the strict one-task-per-daemon FIFO. No effect without a
   * dispatcher (round-robin sends each task to a daemon at once anyway).
   */
  prefetch?: boolean;
  /**
   * CA-signed TLS: a PEM file (certificate, chain, key), [certChain, key], or { cert, key, ca }:
   * with `ca`, TLS is mutual and daemons must present a client certificate (daemon options
   * tlsClientCert / tlsClientKey) that chains to it.
   */
  tls?: string | [string, string] | { cert: string; key: string; ca?: string };
  /** Passphrase of the TLS key. */
  pass?: string;
  /**
   * What daemons must prove they know before they get anything (at least 16 characters).
   * Default: a fresh random secret per daemons() call, handed to every daemon it launches; give
   * your own only for daemons you start by other means than launchRemote() and the launchers.
   */
  secret?: string;
  /**
   * The largest message (a task's result, with an 8-byte header) the host accepts from a daemon,
   * in bytes; default 1 GiB, 0 for no limit. A daemon whose result is larger settles that task
   * with an error saying so; a peer that sends a larger frame anyway is disconnected.
   */
  maxMessageSize?: number;
  profile?: string;
  /**
   * Custom serialization for classes the structured clone cannot carry (a URL, a class
   * instance): `{ class: 'URL', serialize: (u) => u.href, deserialize: (s) => new URL(s) }`, or
   * an array of them. Applies to task data, results and everywhere(), both ways.
   */
  serial?: SerialConfig | SerialConfig[];
  /**
   * Debugging mode: no daemon processes; each task runs in this process, on this thread, one at a
   * time and in order, after the same serialization as on a daemon, so a debugger stops in task
   * code (`debugger;`). status(), everywhere() and profiles behave as usual (one connection). Not
   * for production: a synchronous task blocks this thread, and cannot be interrupted. Whatever n
   * is, there is one such daemon. Not with url, remote, dispatcher or tls.
   */
  sync?: boolean;
  /**
   * Backpressure: the most bytes of task messages (data and code, as encoded) the profile holds
   * between submission and settlement. A task that does not fit is not submitted: mirai()
   * throws QueueFullError, tryMirai() returns null, whenRoom() waits for room. Default: no cap.
   * (`memory` is the daemons' heap limit.)
   */
  maxQueueBytes?: number;
}

export interface DaemonSet extends AsyncDisposable {
  readonly profile: string;
  /** The URL daemons connect to (real port). */
  readonly url: string;
  /** How many daemons this set launched. */
  readonly launched: number;
  close(): Promise<void>;
}

export interface Status {
  /** Daemons connected now. */
  connections: number;
  /** The URL daemons connect to; '' when no daemons are set. */
  daemons: string;
  /** Task counters (with a dispatcher). */
  mirai?: { awaiting: number; executing: number; completed: number };
  /** Messages dropped: malformed, of a kind a daemon may not send, or answers from a daemon
   *  that does not hold that task. */
  dropped?: number;
  /** With maxQueueBytes: task bytes held now (until their tasks settle) and the cap. */
  memory?: { used: number; limit: number };
  /** Connections closed because they did not prove they know the secret. */
  rejected?: number;
  /** Local daemons started to replace ones that died, and remote launchers started again
   *  (respawn: true in their config), when any were. */
  respawned?: number;
  /**
   * Why the profile has fewer daemons than it launched, when respawning stopped after a crash
   * loop. Tasks stay queued (as in R mirai) until daemons connect again (launchLocal()) or the
   * profile is reset.
   */
  error?: string;
}

export const PROCESS_SCHEMA: Schema = {
  maxTasks: [(v) => is.nonNegInt(v) && (v as number) > 0, 'a positive integer'],
  idleTime: [is.posNumber, 'a positive number of ms'],
  walltime: [is.posNumber, 'a positive number of ms'],
  cleanup: [is.bool, 'a boolean'],
  output: [is.bool, 'a boolean'],
  autoExit: [is.bool, 'a boolean'],
  env: [is.stringRecord, 'an object of strings'],
  execArgv: [is.stringArray, 'an array of strings'],
  memory: [is.posNumber, 'a number of MB'],
  node: [
    (v) => is.nonEmptyString(v) || (Array.isArray(v) && v.length > 0 && v.every(is.nonEmptyString)),
    'an executable path or a non-empty array of command words',
  ],
  respawn: [is.bool, 'a boolean'],
  tlsClientCert: [is.string, 'PEM text or a file path'],
  tlsClientKey: [is.string, 'a file path (or PEM text)'],
};

export const DAEMONS_SCHEMA: Schema = {
  ...PROCESS_SCHEMA,
  url: [is.string, 'a URL string'],
  remote: [is.object, 'a launch configuration (sshConfig, remoteConfig, clusterConfig)'],
  dispatcher: [
    (v) => typeof v === 'boolean' || v === 'thread' || v === 'process',
    "true, false, 'thread' or 'process'",
  ],
  tls: [
    (v) => typeof v === 'string' || Array.isArray(v) || (typeof v === 'object' && v !== null),
    'a PEM file path, [certChain, key] or { cert, key, ca? }',
  ],
  prefetch: [is.bool, 'a boolean'],
  pass: [is.string, 'a string'],
  secret: [is.string, 'a string of at least 16 characters'],
  maxMessageSize: [
    (v) => is.nonNegInt(v) && (v as number) <= MAX_MESSAGE_SIZE_LIMIT,
    `a number of bytes from 0 (no limit) to ${MAX_MESSAGE_SIZE_LIMIT}`,
  ],
  profile: [is.string, 'a string'],
  serial: [is.any, 'serialization config'],
  sync: [is.bool, 'a boolean'],
  maxQueueBytes: [(v) => is.nonNegInt(v) && (v as number) > 0, 'a positive number of bytes'],
};

/** How long daemons(n) waits for its daemons to connect. */
export const CONNECT_TIMEOUT = 15000;

/**
 * Most daemons one daemons() / launchLocal() call starts. Each is a Node process (~40 MB); far
 * more than this is a typo (daemons(1e6)) that would fork until the machine gives out.
 */
export const MAX_DAEMONS = 1024;

export function checkCount(what: string, n: number): void {
  if (n > MAX_DAEMONS) {
    throw new RangeError(
      `${what}: n must be at most ${MAX_DAEMONS} daemons per call (got ${n}); call launchLocal() again to add more`,
    );
  }
}

export function pickProcessOptions(opts: DaemonsOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(PROCESS_SCHEMA))
    if ((opts as Record<string, unknown>)[k] !== undefined) out[k] = (opts as Record<string, unknown>)[k];
  return out;
}
