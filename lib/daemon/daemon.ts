/**
 * The daemon: a process that dials its host (or dispatcher), runs the tasks it receives one at a
 * time and sends back their results. `mirai daemon <url>` (lib/cli.ts) calls `daemon()`.
 *
 * Event-driven: exactly one receive is pending at any time, nothing polls. While a task runs,
 * that receive is armed so that the addon raises SIGINT from NNG's thread when the next message
 * is a CANCEL; the task runs under vm `breakOnSigint`, so even `for (;;) {}` is interrupted.
 * A SIGINT the daemon caused while no task runs is absorbed by the SIGINT keeper thread.
 *
 * Messages (lib/wire/protocol.ts): TASK / EVERYWHERE run and get one RESULT (FLAG_ERROR: an
 * ErrorPayload) or ERROR_VALUE 20 when cancelled; CANCEL of the running task interrupts it
 * (sync) or aborts its signal and stops waiting for it (async); CANCEL of a task still queued
 * here (round-robin hosts may queue several) drops it; other CANCELs are ignored; EXIT ends the
 * daemon. Anything malformed is dropped.
 */
import { trimStack } from './evaluate';
import { NngError } from '../nng/errors';
import { Socket } from '../nng/socket';
import { TlsConfig } from '../nng/tls';
import { SigintKeeper } from './sigint-keeper';
import { DaemonLoop } from './loop';
import { HANDSHAKE_MAX_SIZE, takeSecretFromEnv } from '../wire/auth';
import { checkDaemonOptions, type DaemonOptions, type ExitReason } from './options';

export type { DaemonOptions, ExitReason } from './options';

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
        mode: 'client',
        ca: opts.tlsCert,
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
    let why = e instanceof NngError ? `${e.message} (${e.errno})` : ((e as Error)?.message ?? String(e));
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
