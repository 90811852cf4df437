/**
 * Launch configurations for daemons on other machines, and the daemon command they run.
 *
 * A daemon command needs only `node` and this package on the far side:
 *
 *   node -e '<boot>' daemon <url> [--tls-cert <PEM>] [--max-tasks n] ...
 *
 * The boot script finds the package (`require.resolve('mirai/cli')` from the current directory,
 * NODE_PATH, and npm's global folder next to that node) and hands the arguments to the CLI's
 * `main()`. The command embeds the URL, the daemon options and, for TLS, the certificate to verify
 * the host with (never a private key). Every word is POSIX-shell quoted, so the command can be
 * pasted into sh / bash / zsh or passed through ssh as it is.
 *
 * The secret the daemon proves to the host (lib/wire/auth.ts) never goes on the daemon's command
 * line: each launcher hands it over in the environment (MIRAI_SECRET), on stdin (ssh) or in an
 * owner-only job script (clusters). Only commands for starting daemons by hand carry it, as an
 * `env MIRAI_SECRET=...` prefix, since nothing else reaches a shell the user types into.
 */
import { SECRET_ENV } from '../wire/auth';
import { buildDaemonArgs } from '../daemon/options';
import type { DaemonOptions } from '../daemon/options';
import { describeExit, exitOnPurpose, startChild, stopChildren, type Child, type ChildExit } from './child';
import { Respawner, type RespawnHooks } from './respawn';

/** A running launch: its commands, how to stop it, and a promise that settles if it fails. */
export interface RemoteLaunch {
  /** What was run, as shell command lines (for messages and logs). */
  commands: string[];
  /** Ends what the launch started (ssh sessions, launcher processes, cluster jobs). */
  stop: () => Promise<void>;
  /** Resolves with a reason if the launch fails before its daemons connect. */
  failed: Promise<string>;
  /**
   * Launches whose config opted in (respawn: true): called once the daemons have connected;
   * from then on a launcher process that ends unexpectedly is started again (lib/launchers/respawn.ts).
   */
  respawn?(hooks: RespawnHooks): void;
  /** No more relaunches: the profile is being torn down. */
  disarm?(): void;
  /** Launcher processes started again so far. */
  readonly respawned?: number;
  /** Why relaunching stopped (a crash loop), if it did. */
  readonly gaveUp?: string;
}

/** A way to start daemons elsewhere: sshConfig(), remoteConfig(), clusterConfig(). */
export interface RemoteConfig {
  /** Starts n daemons dialing url. */
  launch(n: number, url: string, opts: DaemonOptions): Promise<RemoteLaunch>;
  /** For messages: e.g. "ssh to host1, host2". */
  describe(): string;
  /** How long to wait for the daemons to connect (ms). */
  timeout?: number;
  /** How many daemons to start when no number is given (sshConfig: one per remote). */
  count?: number;
}

/** The Node.js binary on the far side: one word ('node', '/opt/node/bin/node') or several
 * (['env', 'NODE_PATH=/opt/lib', 'node']), each quoted on its own. */
export type NodeCommand = string | readonly string[];

/** Quotes one word of a command line for the shell that will read it. */
export type Quoter = (word: string) => string;

export interface CommandOptions {
  /** The Node.js binary on the far side (default 'node', found on its PATH). */
  node?: NodeCommand;
  /** How to quote each word (default shellQuote: POSIX sh). */
  quote?: Quoter;
  /** Also exit when stdin reaches its end: for launchers that hold the daemon's stdin (ssh), so
   *  that ending the launcher ends the daemon. Do not use for commands run by hand. */
  exitOnStdinEnd?: boolean;
  /** Put the secret in the command as an `env MIRAI_SECRET=...` prefix (visible in `ps` on the
   *  far side while `env` starts node): only for commands run by hand or launchers that pass
   *  no environment on. */
  secretInCommand?: boolean;
}

/** POSIX shell single-quoting: safe for any string, PEM text and newlines included. */
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_\-.,:/=@+%]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// Kept free of single quotes (so POSIX quoting stays one plain '...' word) and of `$`, `!`, `\`.
const FIND_CLI =
  'const p=require("path"),d=p.dirname(process.execPath);let m;' +
  'try{m=require.resolve("mirai/cli",{paths:[process.cwd(),p.join(d,"..","lib"),d]})}' +
  'catch{console.error("mirai daemon: cannot find package mirai (from "+process.cwd()+", node "+process.execPath+"): npm install mirai");' +
  'process.exit(1)}';
const RUN_CLI = 'require(m).main(process.argv.slice(1))';
const STDIN_EXIT = 'process.stdin.on("end",()=>process.exit(0)).on("error",()=>process.exit(0)).resume();';

/** The script given to `node -e` (exported for tests). */
export function bootScript(exitOnStdinEnd = false): string {
  return (exitOnStdinEnd ? STDIN_EXIT : '') + FIND_CLI + RUN_CLI;
}

/** Checks a `node` override and returns its words. */
export function nodeWords(node: unknown, what = 'node'): string[] {
  if (node === undefined) return ['node'];
  if (typeof node === 'string' && node !== '') return [node];
  if (Array.isArray(node) && node.length > 0 && node.every((w) => typeof w === 'string' && w !== '')) return [...node];
  throw new TypeError(
    `${what} must be a non-empty string or an array of non-empty strings, e.g. '/usr/local/bin/node' or ['env', 'NODE_PATH=/opt/lib', 'node']`,
  );
}

function commandOptions(o: NodeCommand | CommandOptions | undefined): CommandOptions {
  if (o === undefined || typeof o === 'string' || Array.isArray(o)) return { node: o as NodeCommand | undefined };
  return o as CommandOptions;
}

// Options of daemons() / launchRemote() that are not the daemon's own (daemons(n, { url, remote })
// hands its whole options object on); anything else unknown is still an error.
const HOST_SIDE = ['url', 'remote', 'tls', 'pass', 'profile', 'serial', 'env', 'execArgv', 'memory', 'secret'];

function daemonOnly(opts: DaemonOptions): DaemonOptions {
  const o: Record<string, unknown> = { ...opts };
  for (const k of HOST_SIDE) delete o[k];
  if (typeof o.dispatcher !== 'boolean') delete o.dispatcher;
  return o as DaemonOptions;
}

/** The words of the command that starts one daemon dialing url (unquoted: for spawn()). */
export function daemonArgv(url: string, opts: DaemonOptions, cmd: NodeCommand | CommandOptions = {}): string[] {
  const o = commandOptions(cmd);
  const env = o.secretInCommand && opts.secret !== undefined ? ['env', `${SECRET_ENV}=${opts.secret}`] : [];
  return [...env, ...nodeWords(o.node), '-e', bootScript(o.exitOnStdinEnd), ...buildDaemonArgs(url, daemonOnly(opts))];
}

/** command with the secret masked, for what is shown or logged. */
export function redact(command: string, secret: string | undefined): string {
  return secret === undefined || secret === '' ? command : command.split(secret).join('***');
}

/**
 * The shell command that starts one daemon dialing url: `node -e '<boot>' daemon <url> ...`.
 * The third argument is the node binary (or its words), or CommandOptions.
 */
export function daemonCommand(url: string, opts: DaemonOptions, cmd: NodeCommand | CommandOptions = {}): string {
  const o = commandOptions(cmd);
  const quote = o.quote ?? shellQuote;
  return daemonArgv(url, opts, o)
    .map((w) => quote(w))
    .join(' ');
}

/** The commands for starting n daemons by hand (all alike; one per daemon). */
export function manualCommands(
  n: number,
  url: string,
  opts: DaemonOptions,
  cmd: NodeCommand | CommandOptions = {},
): string[] {
  const c = daemonCommand(url, opts, { ...commandOptions(cmd), secretInCommand: true });
  return Array.from({ length: n }, () => c);
}

// ---------------------------------------------------------------------------------------------
// Launcher processes (ssh clients, `sh -c`, sbatch ...), shared by sshConfig and remoteConfig.

interface Proc {
  label: string;
  /** What started it, to start it again the same way (the secret on stdin or in env included). */
  start: { command: string; args: readonly string[]; opts: StartOptions };
  child: Child;
}

export interface StartOptions {
  /** Keep a pipe on the process's stdin, open until stop() (ssh: the far side sees EOF then). */
  keepStdin?: boolean;
  /** Forward its stdout / stderr to this process's (daemon option `output`). */
  output?: boolean;
  /** A clean exit (status 0) before stop() is a failure too (ssh: the daemons ended). */
  failOnCleanExit?: boolean;
  /** Written to its stdin first (with keepStdin). */
  stdinText?: string;
  /** Environment added to this process's for it. */
  env?: Record<string, string>;
}

export interface LaunchGroupOptions {
  /** Start a launcher again when it ends unexpectedly, once arm() was called. */
  respawn?: boolean;
  /** Them, plural, for messages: 'launchers (sh -c .)', 'ssh sessions to host1, host2'. */
  what?: string;
}

/**
 * Processes started for one launch. Each is a tree (child.ts: its own process group on POSIX,
 * a job object on Windows), so that stop() ends whatever it started, e.g. the daemon under
 * `sh -c`; it does not keep this process alive, and keeps the tail of its output for error
 * messages. `failed` resolves with the first failure.
 *
 * With respawn, once armed (the launch's daemons have connected), a process that ends other than
 * on purpose (status 0 or 130, SIGINT: its daemon was done, or its host went) is started again
 * with the same command and start options, under the local daemons' backoff and crash-loop limit.
 * Until then, and without respawn, an early end fails the launch as before.
 */
export class LaunchGroup {
  readonly failed: Promise<string>;
  readonly #procs: Proc[] = [];
  #fail!: (reason: string) => void;
  #stopping = false;
  readonly #respawner: Respawner | undefined;

  constructor(opts: LaunchGroupOptions = {}) {
    this.failed = new Promise<string>((resolve) => (this.#fail = resolve));
    if (opts.respawn) this.#respawner = new Respawner(opts.what ?? 'launchers');
  }

  /** Starts command with args; `label` names it in failure reasons (e.g. "ssh to user@host"). */
  start(label: string, command: string, args: readonly string[], opts: StartOptions = {}): void {
    this.#start(label, command, args, opts);
  }

  #start(label: string, command: string, args: readonly string[], opts: StartOptions): void {
    const child = startChild(command, args, {
      keepStdin: opts.keepStdin,
      input: opts.stdinText,
      stdout: 'capture',
      stderr: 'capture',
      forward: opts.output === true,
      env: opts.env,
      tree: true,
    });
    const proc: Proc = { label, start: { command, args, opts }, child };
    this.#procs.push(proc);
    child.onExit((exit) => {
      if (this.#stopping) return;
      if (this.#respawner?.active) {
        this.#ended(proc, exit);
        return;
      }
      if (exit.error !== undefined) {
        this.#fail(`${label}: ${exit.error}`);
        return;
      }
      const { code, signal } = exit;
      if (code === 0 && !opts.failOnCleanExit) return;
      const how =
        code === 0
          ? 'ended (exit status 0) before its daemons connected'
          : code !== null
            ? `failed with exit status ${code}`
            : `was killed by ${signal}`;
      const out = child.stderr.trim() || child.stdout.trim();
      this.#fail(`${label} ${how}${out ? `: ${out}` : ' (no output)'}`);
    });
  }

  /** A launcher ended while armed: start it again unless it ended on purpose. */
  #ended(proc: Proc, exit: ChildExit): void {
    if (exitOnPurpose(exit)) return;
    const i = this.#procs.indexOf(proc);
    if (i >= 0) this.#procs.splice(i, 1);
    const how = `${proc.label}, ${describeExit(exit)}`;
    const { command, args, opts } = proc.start;
    this.#respawner!.unexpectedExit(
      proc.child.started,
      how,
      () => this.#start(proc.label, command, args, opts),
      () => proc.child.stderr.trim() || proc.child.stdout.trim(),
    );
  }

  /** From now on (the daemons have connected), start launchers that end unexpectedly again. */
  arm(hooks: RespawnHooks = {}): void {
    this.#respawner?.arm(hooks);
  }

  /** Launchers started again so far. */
  get respawned(): number {
    return this.#respawner?.respawned ?? 0;
  }

  /** Why relaunching stopped, if it did. */
  get gaveUp(): string | undefined {
    return this.#respawner?.gaveUp;
  }

  /** No more relaunches (stop() does this first). */
  disarm(): void {
    this.#respawner?.disarm();
  }

  /** The RemoteLaunch for these processes. */
  launch(commands: string[]): RemoteLaunch {
    // The getters below read this group's live counts (not a copy taken now).
    const group = this; // eslint-disable-line @typescript-eslint/no-this-alias
    return {
      commands,
      stop: () => this.stop(),
      failed: this.failed,
      ...(this.#respawner
        ? {
            respawn: (hooks: RespawnHooks) => this.arm(hooks),
            disarm: () => this.disarm(),
          }
        : {}),
      // Getters, so that status() sees the counts of now.
      get respawned() {
        return group.respawned;
      },
      get gaveUp() {
        return group.gaveUp;
      },
    };
  }

  /** How many were started and are still running. */
  get running(): number {
    return this.#procs.filter((p) => p.child.running).length;
  }

  /**
   * Ends them: closes their stdin, waits up to graceMs for them to exit by themselves (a daemon
   * exits when its host goes), then SIGTERM to each tree, and SIGKILL a second later.
   */
  async stop(graceMs = 3000): Promise<void> {
    this.#stopping = true;
    this.disarm();
    // Referenced waits: whoever awaits stop() must not see the process exit meanwhile.
    await stopChildren(
      this.#procs.map((p) => p.child),
      { graceMs, signals: ['SIGTERM', 'SIGKILL'], stepMs: 1000, ref: true },
    );
  }
}
