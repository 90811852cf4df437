#!/usr/bin/env node
/**
 * The package's command line (`bin`: mirai):
 *
 *   mirai daemon <url> [options]      run a daemon (see DAEMON_USAGE)
 *   mirai dispatcher ...              run a dispatcher process (lib/dispatcher-main.ts)
 *
 * `buildDaemonArgs(url, opts)` turns DaemonOptions into the arguments of `mirai daemon`, for
 * launchers; `parseDaemonArgs` is its exact inverse.
 */
import { daemon, checkDaemonOptions, type DaemonOptions, type ExitReason } from './daemon';

const DAEMON_USAGE = `usage: mirai daemon <url> [options]

Connects to a mirai host or dispatcher at <url> (ipc://, abstract://, tcp://, tls+tcp://) and runs
the tasks it sends until an exit condition is met.

options:
  --tls-cert <file|PEM>  certificate (chain) to verify a tls+tcp:// host with
  --tls-client-cert <file|PEM>, --tls-client-key <file>
                         this daemon's certificate and key, for hosts that require one (mutual TLS)
  --max-tasks <n>        exit after n tasks
  --idle-time <ms>       exit after ms without a task
  --walltime <ms>        exit after ms in all (the running task is finished first)
  --connect-timeout <ms> keep trying a host that is not listening yet this long (default 10000)
  --cleanup              remove the globals a task created after it (default)
  --no-cleanup           keep them
  --output               keep the daemon's stdout/stderr, and print the exit reason to stderr
  --no-output            discard them (default)
  --auto-exit            exit when the connection to the host is gone (default)
  --no-auto-exit         wait for the host to come back instead
  --dispatcher, --no-dispatcher
                         accepted for compatibility (no effect)
  -h, --help             show this help

environment:
  MIRAI_SECRET           the secret of the host's daemons() call, proved to the host on
                         connecting (removed from the environment before any task runs)

exit status: 0 on a normal exit (host gone, exit condition, told to exit), 130 after an outside
SIGINT, 1 on error (e.g. the host cannot be reached).`;

const USAGE = `usage: mirai daemon <url> [options]
       mirai dispatcher [options]
       mirai <command> --help`;

/** Thrown for bad command lines: the message is printed with the usage hint. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type Flag = { key: keyof DaemonOptions; kind: 'string' | 'int' | 'ms' | true | false };

const FLAGS: Record<string, Flag> = {
  '--tls-cert': { key: 'tlsCert', kind: 'string' },
  '--tls-client-cert': { key: 'tlsClientCert', kind: 'string' },
  '--tls-client-key': { key: 'tlsClientKey', kind: 'string' },
  '--max-tasks': { key: 'maxTasks', kind: 'int' },
  '--idle-time': { key: 'idleTime', kind: 'ms' },
  '--walltime': { key: 'walltime', kind: 'ms' },
  '--connect-timeout': { key: 'connectTimeout', kind: 'ms' },
  '--cleanup': { key: 'cleanup', kind: true },
  '--no-cleanup': { key: 'cleanup', kind: false },
  '--output': { key: 'output', kind: true },
  '--no-output': { key: 'output', kind: false },
  '--auto-exit': { key: 'autoExit', kind: true },
  '--no-auto-exit': { key: 'autoExit', kind: false },
  '--dispatcher': { key: 'dispatcher', kind: true },
  '--no-dispatcher': { key: 'dispatcher', kind: false },
};

/**
 * The arguments of `mirai daemon` for url and opts: `['daemon', url, ...flags]`. Only options that
 * are set appear; `parseDaemonArgs(args.slice(1))` gives url and opts back.
 */
export function buildDaemonArgs(url: string, opts: DaemonOptions = {}): string[] {
  checkDaemonOptions(url, opts);
  const args = ['daemon', url];
  for (const [flag, spec] of Object.entries(FLAGS)) {
    const v = opts[spec.key];
    if (v === undefined) continue;
    if (spec.kind === true || spec.kind === false) {
      if (v === spec.kind) args.push(flag);
    } else {
      args.push(flag, String(v));
    }
  }
  return args;
}

/** Parses the arguments after `daemon`. Throws UsageError naming a bad flag or value. */
export function parseDaemonArgs(args: readonly string[]): { url: string; opts: DaemonOptions; help: boolean } {
  const opts: Record<string, unknown> = {};
  let url: string | undefined;
  for (let i = 0; i < args.length; i++) {
    let arg = args[i]!;
    if (arg === '-h' || arg === '--help') return { url: url ?? '', opts: opts as DaemonOptions, help: true };
    if (arg.startsWith('--')) {
      let inline: string | undefined;
      const eq = arg.indexOf('=');
      if (eq > 0) {
        inline = arg.slice(eq + 1);
        arg = arg.slice(0, eq);
      }
      const spec = FLAGS[arg];
      if (!spec) throw new UsageError(`unknown option '${arg}'`);
      if (spec.kind === true || spec.kind === false) {
        if (inline !== undefined) throw new UsageError(`option '${arg}' takes no value`);
        opts[spec.key] = spec.kind;
        continue;
      }
      let value = inline;
      if (value === undefined) {
        if (i + 1 >= args.length) throw new UsageError(`option '${arg}' needs a value`);
        value = args[++i]!;
      }
      opts[spec.key] = parseValue(arg, spec.kind, value);
      continue;
    }
    if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option '${arg}'`);
    if (url !== undefined) throw new UsageError(`unexpected argument '${arg}' (the url is already '${url}')`);
    url = arg;
  }
  if (url === undefined) throw new UsageError('missing <url>');
  return { url, opts: opts as DaemonOptions, help: false };
}

function parseValue(flag: string, kind: 'string' | 'int' | 'ms', value: string): string | number {
  if (kind === 'string') {
    if (value === '') throw new UsageError(`option '${flag}' needs a non-empty value`);
    return value;
  }
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || (kind === 'int' && !Number.isInteger(n))) {
    throw new UsageError(`option '${flag}' expects ${kind === 'int' ? 'a positive integer' : 'a positive number of ms'} (got '${value}')`);
  }
  return n;
}

/** Exit status for a daemon's exit reason. */
export function exitCode(reason: ExitReason): number {
  return reason === 'interrupted' ? 130 : 0;
}

/**
 * Runs the command line (argv without node and the script: `['daemon', url, ...]`) and returns
 * the exit status, without exiting. Prints errors to stderr as `mirai <command>: <message>`.
 * (`mirai dispatcher` hands over to lib/dispatcher-main.ts, which exits the process itself.)
 */
export async function run(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'daemon') return runDaemon(rest);
  if (cmd === 'dispatcher') {
    // Loaded only when asked for.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('./dispatcher-main') as { main(args: string[]): Promise<unknown> };
    await mod.main([...rest]);
    return 0;
  }
  if (cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  process.stderr.write(cmd === undefined ? `${USAGE}\n` : `mirai: unknown command '${cmd}'\n${USAGE}\n`);
  return 1;
}

/** The bin: runs argv (e.g. `process.argv.slice(2)`) and exits the process with its status. */
export function main(argv: readonly string[]): void {
  run(argv).then(exit, (e) => {
    process.stderr.write(`mirai: ${(e as Error)?.stack ?? String(e)}\n`);
    exit(1);
  });
}

async function runDaemon(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseDaemonArgs>;
  try {
    parsed = parseDaemonArgs(args);
    if (parsed.help) {
      process.stdout.write(`${DAEMON_USAGE}\n`);
      return 0;
    }
    checkDaemonOptions(parsed.url, parsed.opts);
  } catch (e) {
    process.stderr.write(`mirai daemon: ${(e as Error).message}\n(see mirai daemon --help)\n`);
    return 1;
  }
  try {
    const reason = await daemon(parsed.url, parsed.opts);
    if (parsed.opts.output) process.stderr.write(`mirai daemon: ${reason}\n`);
    return exitCode(reason);
  } catch (e) {
    process.stderr.write(`mirai daemon: ${(e as Error)?.message ?? String(e)}\n`);
    return 1;
  }
}

/** Exits once stdout / stderr are flushed (they may be pipes). */
function exit(code: number): void {
  let left = 2;
  const done = (): void => {
    if (--left === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

if (require.main === module) main(process.argv.slice(2));
