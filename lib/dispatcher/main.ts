/**
 * The dispatcher as its own process (`mirai dispatcher <hostUrl> <daemonUrl>`),
 * and `startDispatcher`, which the host uses to run it on a worker thread or as a process.
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { runDispatcher, type DispatcherOptions } from './dispatcher';
import { startNode } from '../launchers/child';

const USAGE = 'usage: mirai dispatcher <hostUrl> <daemonUrl>';

/**
 * CLI entry. `argv` are the arguments after `dispatcher`. The secret and, for TLS, the daemon
 * listener's certificate and key arrive on stdin as JSON { secret, tls?: { cert, key, pass? } },
 * never on the command line. Exits the process: 0 once the dispatcher is done, 1 on error.
 */
export async function main(argv: string[]): Promise<void> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(
      `${USAGE}\n\nRuns a FIFO dispatcher: dials the host at <hostUrl>, listens for daemons at <daemonUrl>.\n` +
        'Reads JSON { secret, tls?: { cert, key, pass? } } from stdin.\n',
    );
    process.exit(0);
  }
  let code = 0;
  try {
    await runDispatcher(await parseCommandLine(argv));
  } catch (e) {
    process.stderr.write(`mirai dispatcher: ${e instanceof Error ? e.message : String(e)}\n`);
    code = 1;
  }
  process.exit(code);
}

async function parseCommandLine(argv: string[]): Promise<DispatcherOptions> {
  if (!Array.isArray(argv)) throw new TypeError(USAGE);
  // node:util parseArgs tokenizes; not strict, so that an unknown flag gets this CLI's message.
  const { tokens } = parseArgs({ args: argv, options: {}, strict: false, allowPositionals: true, tokens: true });
  const urls: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') urls.push(t.value);
    else throw new Error(`unknown option '${t.kind === 'option' ? t.rawName : '--'}'\n${USAGE}`);
  }
  if (urls.length !== 2) throw new Error(`expected 2 URLs, got ${urls.length}\n${USAGE}`);
  // The URLs come from the command line only, whatever stdin says.
  return { ...parseStdin(await readStdin()), hostUrl: urls[0]!, daemonUrl: urls[1]! } as DispatcherOptions;
}

/**
 * The JSON on stdin, parsed only: its values are checked with the rest of the options, in one
 * place (lib/dispatcher/state.ts checkOptions, which runDispatcher calls).
 */
function parseStdin(text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error('stdin is not JSON { secret, tls? }');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('stdin: expected JSON { secret, tls? }');
  return v as Record<string, unknown>;
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.once('error', reject);
  });
}

export interface DispatcherHandle {
  /** Settles (never rejects) when the thread or process has ended. */
  exited: Promise<void>;
  /** Ends it at once (worker terminate / SIGKILL); for when a clean SHUTDOWN failed. */
  kill(): void;
  /** Why it failed, when it did before it was ready (the worker's error, the spawn error). */
  error?: string;
}

/**
 * Starts a dispatcher off the host's main thread: on a worker thread ('thread'; the host
 * listens on inproc://) or as a process ('process'; abstract:// on Linux, else ipc://, or
 * tcp://). Neither keeps the host alive. The host then waits for READY on its socket.
 */
export function startDispatcher(
  mode: 'thread' | 'process',
  opts: DispatcherOptions,
  /** The Node command of a process dispatcher (daemons() option `node`); default ours. */
  command?: readonly string[],
): DispatcherHandle {
  if (mode === 'thread') {
    // execArgv: [] so that loaders the host runs under (tsx, ts-node) do not slow the worker:
    // it runs compiled JavaScript only.
    const worker = new Worker(path.join(__dirname, 'worker.js'), { workerData: opts, execArgv: [] });
    worker.unref();
    // Why a worker could not start (a bundler that left dispatcher/worker.js out, a Worker-less
    // runtime): kept for the error daemons() throws instead of being dropped.
    const handle: DispatcherHandle = { exited: Promise.resolve(), kill: () => void worker.terminate().catch(() => {}) };
    worker.on('error', (e) => (handle.error ??= e instanceof Error ? e.message : String(e)));
    worker.on('message', (m: { error?: unknown }) => {
      if (typeof m?.error === 'string') handle.error ??= m.error;
    });
    // A 'message' listener refs the worker's port: undo it, or the host could never exit.
    worker.unref();
    handle.exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    return handle;
  }
  if (mode !== 'process') throw new TypeError(`dispatcher mode must be 'thread' or 'process' (got ${String(mode)})`);
  const args = [path.join(__dirname, '..', 'cli.js'), 'dispatcher', opts.hostUrl, opts.daemonUrl];
  // The secret and TLS key go on its stdin, never on its command line; the tail of its stderr
  // says why it failed, for the error daemons() throws. Not a tree: it starts no processes.
  const child = startNode(
    args,
    {
      input: JSON.stringify({
        secret: opts.secret,
        tls: opts.tls,
        maxMessageSize: opts.maxMessageSize,
        prefetch: opts.prefetch,
      }),
      stderr: 'capture',
      tailChars: 2000,
    },
    command,
  );
  const handle: DispatcherHandle = {
    exited: child.done.then((exit) => {
      if (exit.error !== undefined) handle.error ??= exit.error;
      else if (exit.code !== 0)
        handle.error ??= child.stderr.trim() || (exit.signal ? `killed by ${exit.signal}` : `exit status ${exit.code}`);
    }),
    kill: () => child.kill('SIGKILL'),
  };
  return handle;
}
