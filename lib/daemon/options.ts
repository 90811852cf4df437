/**
 * What a daemon is told, in one runtime-free file: `DaemonOptions` and `ExitReason`, their
 * check, and the `mirai daemon` argv that carries them (`buildDaemonArgs` / `parseDaemonArgs`,
 * exact inverses). Host-side code (launchers, daemons()) builds daemon command lines from here,
 * so this is the only lib/daemon/ file it may import: nothing here loads the daemon runtime
 * (the evaluator, the SIGINT keeper, the receive loop). `npm run check:layers` keeps it so.
 */
import { isTlsUrl, SCHEMES } from '../wire/url';
import { parseArgs } from 'node:util';
import { checkOptions, is, type Rule } from '../wire/validate';

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

/** What each daemon option must be (lib/wire/validate.ts vocabulary). */
const DAEMON_SCHEMA: Record<keyof DaemonOptions, Rule> = {
  tlsCert: [is.nonEmptyString, 'a string (PEM text or a file path)'],
  tlsClientCert: [is.nonEmptyString, 'a string (PEM text or a file path)'],
  tlsClientKey: [is.nonEmptyString, 'a string (a file path, or PEM text)'],
  maxTasks: [is.number, 'a positive integer', { range: (v) => Number.isInteger(v) && (v as number) >= 1 }],
  idleTime: [is.number, 'a positive number of ms', { range: (v) => (v as number) > 0 }],
  walltime: [is.number, 'a positive number of ms', { range: (v) => (v as number) > 0 }],
  connectTimeout: [is.number, 'a non-negative number of ms', { range: (v) => (v as number) >= 0 }],
  cleanup: [is.bool, 'a boolean'],
  output: [is.bool, 'a boolean'],
  autoExit: [is.bool, 'a boolean'],
  dispatcher: [is.bool, 'a boolean'],
  secret: [is.nonEmptyString, 'a non-empty string', { secret: true }],
};

/** Checks daemon options; throws a TypeError / RangeError naming the bad key. */
export function checkDaemonOptions(url: unknown, opts: unknown): asserts opts is DaemonOptions {
  if (typeof url !== 'string') throw new TypeError(`daemon url must be a string (got ${typeof url})`);
  if (!SCHEMES.some((s) => url.startsWith(`${s}://`)) || url.length <= url.indexOf('://') + 3) {
    throw new TypeError(
      `daemon url '${url}' is not supported: expected ipc://, abstract:// (Linux), tcp://host:port, tls+tcp://host:port, ws:// or wss://`,
    );
  }
  const o = checkOptions('daemon', opts, DAEMON_SCHEMA, { subject: 'daemon option', undefinedIsAbsent: true });
  const tls = isTlsUrl(url);
  if (tls && o.tlsCert === undefined) {
    throw new TypeError(
      `daemon url '${url}' uses TLS: the host's certificate or CA chain is required (option tlsCert, --tls-cert)`,
    );
  }
  if (!tls && o.tlsCert !== undefined) {
    throw new TypeError(`daemon option 'tlsCert' (--tls-cert) needs a tls+tcp:// or wss:// url (got '${url}')`);
  }
  if ((o.tlsClientCert === undefined) !== (o.tlsClientKey === undefined)) {
    throw new TypeError(
      "daemon options 'tlsClientCert' and 'tlsClientKey' (--tls-client-cert, --tls-client-key) go together",
    );
  }
  if (!tls && o.tlsClientCert !== undefined) {
    throw new TypeError(
      `daemon option 'tlsClientCert' (--tls-client-cert) needs a tls+tcp:// or wss:// url (got '${url}')`,
    );
  }
}

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

/** parseArgs' view of FLAGS: every value flag a string, every switch a boolean, plus -h / --help. */
const PARSE_OPTIONS = Object.fromEntries([
  ...Object.entries(FLAGS).map(([flag, spec]) => [
    flag.slice(2),
    { type: typeof spec.kind === 'boolean' ? 'boolean' : 'string' },
  ]),
  ['help', { type: 'boolean', short: 'h' }],
]) as Record<string, { type: 'string' | 'boolean'; short?: string }>;

/**
 * Parses the arguments after `daemon` (node:util parseArgs does the tokenizing: `--flag value`,
 * `--flag=value`, switches, the url). Throws UsageError naming a bad flag or value.
 */
export function parseDaemonArgs(args: readonly string[]): { url: string; opts: DaemonOptions; help: boolean } {
  const opts: Record<string, unknown> = {};
  let url: string | undefined;
  // Not strict: unknown flags and missing values come back as tokens and get this CLI's messages.
  const { tokens } = parseArgs({
    args: [...args],
    options: PARSE_OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const t of tokens) {
    if (t.kind === 'option-terminator') throw new UsageError("unknown option '--'");
    if (t.kind === 'positional') {
      if (url !== undefined) throw new UsageError(`unexpected argument '${t.value}' (the url is already '${url}')`);
      url = t.value;
      continue;
    }
    if (t.name === 'help' && !t.inlineValue) return { url: url ?? '', opts: opts as DaemonOptions, help: true };
    const spec = FLAGS[t.rawName];
    if (!spec) throw new UsageError(`unknown option '${t.rawName}'`);
    if (spec.kind === true || spec.kind === false) {
      if (t.inlineValue) throw new UsageError(`option '${t.rawName}' takes no value`);
      opts[spec.key] = spec.kind;
      continue;
    }
    if (t.value === undefined) throw new UsageError(`option '${t.rawName}' needs a value`);
    opts[spec.key] = parseValue(t.rawName, spec.kind, t.value);
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
    throw new UsageError(
      `option '${flag}' expects ${kind === 'int' ? 'a positive integer' : 'a positive number of ms'} (got '${value}')`,
    );
  }
  return n;
}

/** Exit status for a daemon's exit reason. */
export function exitCode(reason: ExitReason): number {
  return reason === 'interrupted' ? 130 : 0;
}
