#!/usr/bin/env node
/**
 * The package's command line (`bin`: mirai):
 *
 *   mirai daemon <url> [options]      run a daemon (see DAEMON_USAGE)
 *   mirai dispatcher ...              run a dispatcher process (lib/dispatcher/main.ts)
 *
 * `buildDaemonArgs(url, opts)` (lib/daemon/options.ts, re-exported) turns DaemonOptions into the
 * arguments of `mirai daemon`, for launchers; `parseDaemonArgs` is its exact inverse.
 */
import { daemon } from './daemon/daemon';
import { checkDaemonOptions, exitCode, parseDaemonArgs } from './daemon/options';

// The daemon's argv lives with its options (runtime-free, for launchers); re-exported here, where
// `mirai/cli` users have always found it.
export { buildDaemonArgs, exitCode, parseDaemonArgs, UsageError } from './daemon/options';

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

/**
 * Runs the command line (argv without node and the script: `['daemon', url, ...]`) and returns
 * the exit status, without exiting. Prints errors to stderr as `mirai <command>: <message>`.
 * (`mirai dispatcher` hands over to lib/dispatcher/main.ts, which exits the process itself.)
 */
export async function run(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'daemon') return runDaemon(rest);
  if (cmd === 'dispatcher') {
    // Loaded only when asked for.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('./dispatcher/main') as { main(args: string[]): Promise<unknown> };
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
