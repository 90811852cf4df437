/**
 * The daemon: a process that dials its host (or dispatcher), runs the tasks it receives one at a
 * time and sends back their results. `mirai daemon <url>` (lib/cli.ts) calls `daemon()`.
 *
 * Event-driven: exactly one receive is pending at any time, nothing polls. While a task runs,
 * that receive is armed so that the addon raises SIGINT from NNG's thread when the next message
 * is a CANCEL; the task runs under vm `breakOnSigint`, so even `for (;;) {}` is interrupted.
 * A SIGINT the daemon caused while no task runs is absorbed by the SIGINT keeper thread.
 *
 * Messages (lib/protocol.ts): TASK / EVERYWHERE run and get one RESULT (FLAG_ERROR: an
 * ErrorPayload) or ERROR_VALUE 20 when cancelled; CANCEL of the running task interrupts it
 * (sync) or aborts its signal and stops waiting for it (async); CANCEL of a task still queued
 * here (round-robin hosts may queue several) drops it; other CANCELs are ignored; EXIT ends the
 * daemon. Anything malformed is dropped.
 */
import { trimStack } from './evaluate';
import { NngError } from './nng/errors';
import { Socket } from './nng/socket';
import { TlsConfig } from './nng/tls';
import { SigintKeeper } from './sigint-keeper';
import { DaemonLoop } from './daemon-loop';
import { HANDSHAKE_MAX_SIZE, takeSecretFromEnv } from './auth';

export interface DaemonOptions {
  /** tls+tcp:// only: the certificate (chain) to verify the host with, as PEM text or a file path. */
  tlsCert?: string;
  /** Mutual TLS: this daemon's certificate (chain) for hosts that require one, PEM text or a path. */
  tlsClientCert?: string;
  /** Mutual TLS: the private key of tlsClientCert, a file path (PEM text works too, but then it is
   *  on the command line of a launched daemon). */
  tlsClientKey?: string;
  /** Exit after this many tasks (EVERYWHERE calls do not count). */
  maxTasks?: number;
  /** Exit after this many ms without a task. */
  idleTime?: number;
  /** Exit after this many ms in all (a running task is finished first). */
  walltime?: number;
  /**
   * How long to keep trying a host that is not listening yet (refused, or no IPC file), in ms
   * (default 10000); then exit with an error. Other failures (TLS, bad address) are final.
   */
  connectTimeout?: number;
  /** Remove the globals a task created once it is done (default true). */
  cleanup?: boolean;
  /** Keep the daemon's stdout / stderr (default false: writes are discarded). */
  output?: boolean;
  /** Exit as soon as the connection to the host is gone (default true). */
  autoExit?: boolean;
  /** Accepted for CLI compatibility; a daemon works the same with or without a dispatcher. */
  dispatcher?: boolean;
  /**
   * The secret of the host's daemons() call, proved to the host on connecting (never sent).
   * Default: the MIRAI_SECRET environment variable, which is then removed from the environment.
   * Never on the command line (other users can read it there).
   */
  secret?: string;
}

/**
 * Why `daemon()` returned: the connection ended (autoExit), idle time, walltime, max tasks, an EXIT
 * from the host or dispatcher, or a SIGINT that did not come from a CANCEL (e.g. Ctrl-C).
 */
export type ExitReason = 'disconnected' | 'idleTime' | 'walltime' | 'maxTasks' | 'exit' | 'interrupted';

const OPTION_TYPES: Record<keyof DaemonOptions, string> = {
  tlsCert: 'a string (PEM text or a file path)',
  tlsClientCert: 'a string (PEM text or a file path)',
  tlsClientKey: 'a string (a file path, or PEM text)',
  maxTasks: 'a positive integer',
  idleTime: 'a positive number of ms',
  walltime: 'a positive number of ms',
  connectTimeout: 'a non-negative number of ms',
  cleanup: 'a boolean',
  output: 'a boolean',
  autoExit: 'a boolean',
  dispatcher: 'a boolean',
  secret: 'a non-empty string',
};

const SCHEMES = ['ipc://', 'tcp://', 'tls+tcp://', 'ws://', 'wss://', 'inproc://', 'abstract://'];

/** Longest delay a Node timer takes; larger idleTime / walltime values mean no limit. */


/** Checks daemon options; throws a TypeError / RangeError naming the bad key. */
export function checkDaemonOptions(url: unknown, opts: unknown): asserts opts is DaemonOptions {
  if (typeof url !== 'string') throw new TypeError(`daemon url must be a string (got ${typeof url})`);
  if (!SCHEMES.some((s) => url.startsWith(s)) || url.length <= url.indexOf('://') + 3) {
    throw new TypeError(`daemon url '${url}' is not supported: expected ipc://, abstract:// (Linux), tcp://host:port, tls+tcp://host:port, ws:// or wss://`);
  }
  if (opts === undefined) opts = {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw new TypeError(`daemon options must be an object (got ${opts === null ? 'null' : typeof opts})`);
  }
  const o = opts as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    const v = o[key];
    if (v === undefined) continue; // undefined: the same as absent
    if (!(key in OPTION_TYPES)) {
      throw new TypeError(`unknown daemon option '${key}': expected one of ${Object.keys(OPTION_TYPES).join(', ')}`);
    }
    const expected = OPTION_TYPES[key as keyof DaemonOptions];
    switch (key) {
      case 'tlsCert':
      case 'tlsClientCert':
      case 'tlsClientKey':
      case 'secret':
        if (typeof v !== 'string' || v === '') throw new TypeError(`daemon option '${key}' must be ${expected} (got ${key === 'secret' ? typeof v : describe(v)})`);
        break;
      case 'maxTasks':
        if (typeof v !== 'number') throw new TypeError(`daemon option 'maxTasks' must be ${expected} (got ${describe(v)})`);
        if (!Number.isInteger(v) || v < 1) throw new RangeError(`daemon option 'maxTasks' must be ${expected} (got ${v})`);
        break;
      case 'idleTime':
      case 'walltime':
        if (typeof v !== 'number') throw new TypeError(`daemon option '${key}' must be ${expected} (got ${describe(v)})`);
        if (!(v > 0)) throw new RangeError(`daemon option '${key}' must be ${expected} (got ${v})`);
        break;
      case 'connectTimeout':
        if (typeof v !== 'number') throw new TypeError(`daemon option '${key}' must be ${expected} (got ${describe(v)})`);
        if (!(v >= 0)) throw new RangeError(`daemon option '${key}' must be ${expected} (got ${v})`);
        break;
      default:
        if (typeof v !== 'boolean') throw new TypeError(`daemon option '${key}' must be ${expected} (got ${describe(v)})`);
    }
  }
  const tls = url.startsWith('tls+tcp://') || url.startsWith('wss://');
  if (tls && o.tlsCert === undefined) {
    throw new TypeError(`daemon url '${url}' uses TLS: the host's certificate or CA chain is required (option tlsCert, --tls-cert)`);
  }
  if (!tls && o.tlsCert !== undefined) {
    throw new TypeError(`daemon option 'tlsCert' (--tls-cert) needs a tls+tcp:// or wss:// url (got '${url}')`);
  }
  if ((o.tlsClientCert === undefined) !== (o.tlsClientKey === undefined)) {
    throw new TypeError("daemon options 'tlsClientCert' and 'tlsClientKey' (--tls-client-cert, --tls-client-key) go together");
  }
  if (!tls && o.tlsClientCert !== undefined) {
    throw new TypeError(`daemon option 'tlsClientCert' (--tls-client-cert) needs a tls+tcp:// or wss:// url (got '${url}')`);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return `'${v.length > 40 ? v.slice(0, 40) + '...' : v}'`;
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  return Array.isArray(v) ? 'an array' : typeof v;
}

/**
 * Runs a daemon: dials url, serves tasks until an exit condition, and returns the reason.
 * Throws if the first connection fails (the message names the url and NNG's error) or if the
 * options are invalid.
 */
export async function daemon(url: string, opts: DaemonOptions = {}): Promise<ExitReason> {
  checkDaemonOptions(url, opts);
  const startedAt = Date.now();
  opts = { ...opts, secret: opts.secret ?? takeSecretFromEnv() };
  let tls: TlsConfig | undefined;
  if (opts.tlsCert !== undefined) {
    try {
      tls = new TlsConfig({
        mode: 'client', ca: opts.tlsCert,
        ...(opts.tlsClientCert !== undefined ? { cert: opts.tlsClientCert, key: opts.tlsClientKey } : {}),
      });
    } catch (e) {
      throw new Error(`cannot use the TLS certificate given for ${url}: ${(e as Error).message}`);
    }
  }
  // Handshake-sized until the host has proved itself (DaemonLoop raises it then).
  const socket = new Socket('pair', { recvMaxSize: HANDSHAKE_MAX_SIZE });
  let lostEarly = false;
  let loop: DaemonLoop | undefined;
  const unPipe = socket.onPipe((ev) => {
    if (ev.type !== 'remove') return;
    if (loop) loop.disconnected();
    else lostEarly = true;
  });
  try {
    await connect(socket, url, tls, opts.connectTimeout);
  } catch (e) {
    unPipe();
    socket.close();
    tls?.close();
    let why = e instanceof NngError ? `${e.message} (${e.errno})` : (e as Error)?.message ?? String(e);
    if (tls && e instanceof NngError && (e.errno === 'ECRYPTO' || e.errno === 'EPEERAUTH')) {
      why += ": the host's certificate did not verify against tlsCert, or the host does not speak TLS";
    } else if (!tls && e instanceof NngError && (e.errno === 'ECONNSHUT' || e.errno === 'ECONNRESET')) {
      why += ': the host closed the connection at once (does it require tls+tcp://?)';
    }
    throw new Error(`cannot connect to ${url}: ${why}`);
  }
  const restoreOutput = opts.output === true ? undefined : silenceOutput();
  // Task code may throw from a timer or leave a promise rejected: report it (to stderr, when
  // output is kept) and keep serving instead of dying.
  const stray = (e: unknown): void => {
    const text = typeof (e as Error)?.stack === 'string' ? trimStack((e as Error).stack!) : String(e);
    process.stderr.write(`mirai daemon: uncaught error in task code (ignored): ${text}\n`);
  };
  process.on('uncaughtException', stray);
  process.on('unhandledRejection', stray);
  // Started once connected (booting its thread earlier slows the connection down). A task that
  // arrives before it is up waits for it (#beforeRun): about 20-40 ms, once, at startup.
  const keeper = new SigintKeeper().start();
  return new Promise<ExitReason>((resolve, reject) => {
    const l = (loop = new DaemonLoop(socket, keeper, opts, startedAt, (reason) => {
      process.off('uncaughtException', stray);
      process.off('unhandledRejection', stray);
      unPipe();
      tls?.close();
      restoreOutput?.();
      if (l.authError) reject(new Error(`${url}: ${l.authError.message}`));
      else resolve(reason);
    }));
    loop.start(lostEarly);
  });
}

/** Discards process.stdout / process.stderr writes; returns the undo. */
function silenceOutput(): () => void {
  const out = process.stdout.write;
  const err = process.stderr.write;
  const sink = function (_chunk: unknown, enc?: unknown, cb?: unknown): boolean {
    const done = typeof enc === 'function' ? enc : cb;
    if (typeof done === 'function') process.nextTick(done as () => void);
    return true;
  } as typeof process.stdout.write;
  process.stdout.write = sink;
  process.stderr.write = sink;
  return () => {
    process.stdout.write = out;
    process.stderr.write = err;
  };
}

/**
 * How long a daemon waits by default for a host that is not listening yet (refused, or no IPC
 * file): a host may start its daemons while its dispatcher is still coming up, and remote
 * daemons may be started before the host. Other failures (TLS, bad address) are final at once.
 */
const CONNECT_WAIT = 10000;

async function connect(socket: Socket, url: string, tls: TlsConfig | undefined, wait = CONNECT_WAIT): Promise<void> {
  try {
    await socket.dial(url, { tls, block: true });
    return;
  } catch (e) {
    if (wait <= 0 || !(e instanceof NngError) || (e.errno !== 'ECONNREFUSED' && e.errno !== 'ENOENT')) throw e;
    // Not there yet: let NNG redial quickly in the background and wait for the connection.
    socket.setOption('reconnectMinTime', 5);
    socket.setOption('reconnectMaxTime', 100);
    const connected = new Promise<boolean>((resolve) => {
      const off = socket.onPipe((ev) => {
        if (ev.type !== 'add') return;
        off();
        clearTimeout(timer);
        resolve(true);
      });
      const timer = setTimeout(() => {
        off();
        resolve(false);
      }, wait);
    });
    socket.dial(url, { tls });
    if (!(await connected)) throw e;
  }
}
