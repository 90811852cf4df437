/**
 * Local daemons: child processes of this one, started with this Node (or Electron run as Node)
 * and this package's CLI, under the supervisor (child.ts). Their stderr goes to a StderrFile
 * shared by the batch, so that a daemon that cannot connect can be quoted in the error; with
 * `output` it is inherited instead.
 *
 * They are not trees (no process group of their own): a Ctrl-C in the host's terminal reaches
 * them as it reaches the host, and they start nothing that must be ended with them.
 *
 * Once armed (respawn()), a daemon that dies unexpectedly is replaced: see #exited.
 */
import * as path from 'node:path';
import { buildDaemonArgs } from '../daemon/options';
import type { DaemonOptions } from '../daemon/options';
import { describeExit, exitOnPurpose, startNode, stopChildren, type Child, type ChildExit } from './child';
import { StderrFile } from './stderr-file';
import { Respawner, type RespawnHooks } from './respawn';

// Where they were defined first; the policy now lives in respawn.ts for remote launchers too.
export { RESPAWN, type RespawnHooks } from './respawn';

export interface LocalLaunchOptions extends DaemonOptions {
  /** Extra environment for the daemons (merged over process.env). */
  env?: Record<string, string>;
  /** Node flags for the daemons, e.g. ['--max-old-space-size=512']. */
  execArgv?: string[];
  /** The command that runs them (daemons() option `node`); default process.execPath. */
  node?: string | readonly string[];
  /** Keep their stderr in a temp file for error messages (default true; false: discard). */
  captureStderr?: boolean;
}

/**
 * Who hears of the processes a batch starts (the profile's DaemonHub, lib/host/events.ts): a
 * daemon's pid says who it is, so its exit status and its replacement can be told with it.
 */
export interface LocalObserver {
  /** A daemon process was started. */
  spawned(pid: number): void;
  /** It exited: with this status, or by this signal (ChildExit's code and signal). */
  exited(pid: number, code: number | null, signal: NodeJS.Signals | null): void;
  /** newPid was started to replace oldPid, which died unexpectedly (respawn). */
  replaced(oldPid: number, newPid: number): void;
}

/** Most stderr quoted back (the tail): a chatty daemon must not make a huge error message. */
const STDERR_TAIL = 64 * 1024;

/** A batch of local daemons. */
export class LocalDaemons {
  readonly children: Child[] = [];
  readonly #args: string[];
  readonly #command: readonly string[] | undefined;
  readonly #env: Record<string, string> | undefined;
  readonly #output: boolean;
  /** Where their stderr goes (without `output`, unless captureStderr: false). */
  #log: StderrFile | undefined;
  #exitCount = 0;
  #onExit: Array<() => void> = [];
  #stopping = false;
  readonly #respawner = new Respawner('local daemons', 'stderr');
  readonly #observer: LocalObserver | undefined;

  constructor(n: number, url: string, opts: LocalLaunchOptions, observer?: LocalObserver) {
    this.#observer = observer;
    const { env, execArgv, captureStderr, node, ...daemonOpts } = opts;
    this.#command = daemonCommand(node);
    this.#output = daemonOpts.output === true;
    if (!this.#output && captureStderr !== false) this.#log = new StderrFile(STDERR_TAIL);
    this.#args = [...(execArgv ?? []), daemonEntry(), ...buildDaemonArgs(url, daemonOpts)];
    this.#env = env;
    try {
      this.#spawn(); // one at once: a command that cannot start at all throws here
    } catch (e) {
      this.#closeLog();
      throw e;
    }
    // The rest one per turn of the event loop: spawn() blocks for a few ms each, and a host
    // starting hundreds of daemons must keep serving (and settling) meanwhile.
    this.#toSpawn = n - 1;
    if (this.#toSpawn > 0) setImmediate(this.#spawnNext);
  }

  #toSpawn = 0;

  readonly #spawnNext = (): void => {
    if (this.#stopping || this.#toSpawn <= 0) return;
    this.#toSpawn--;
    try {
      this.#spawn();
    } catch (e) {
      // EAGAIN and the like: the launch reports too few connections (launchLocal), with why here.
      this.#respawner.giveUp(`a local daemon could not be started: ${(e as Error).message}`, false);
      this.#toSpawn = 0;
      return;
    }
    if (this.#toSpawn > 0) setImmediate(this.#spawnNext);
  };

  #closeLog(): void {
    this.#log?.close();
    this.#log = undefined;
  }

  #spawn(): Child {
    const child = startNode(
      this.#args,
      {
        env: this.#env,
        stdout: this.#output ? 'inherit' : 'ignore',
        stderr: this.#output ? 'inherit' : (this.#log?.fd ?? 'ignore'),
      },
      this.#command,
    );
    if (child.pid !== undefined) this.#observer?.spawned(child.pid);
    child.onExit((exit) => this.#exited(child, exit));
    this.children.push(child);
    return child;
  }

  /**
   * One of them exited. Replaced (once armed) unless it was stopped, or left on purpose: a
   * daemon leaving under idleTime / maxTasks / walltime, or because its host is gone, exits
   * with 0; an outside Ctrl-C (SIGINT) is the user's wish too (130).
   */
  #exited(child: Child, exit: ChildExit): void {
    this.#exitCount++;
    const i = this.children.indexOf(child);
    if (i >= 0) this.children.splice(i, 1);
    if (child.pid !== undefined) this.#observer?.exited(child.pid, exit.code, exit.signal);
    for (const f of this.#onExit.splice(0)) f();
    if (this.#stopping || exitOnPurpose(exit)) return;
    const replace = (): void => {
      const next = this.#spawn();
      if (child.pid !== undefined && next.pid !== undefined) this.#observer?.replaced(child.pid, next.pid);
    };
    this.#respawner.unexpectedExit(child.started, describeExit(exit), replace, () => this.stderr());
  }

  /** From now on, replace daemons that die unexpectedly. */
  respawn(hooks: RespawnHooks = {}): void {
    this.#respawner.arm(hooks);
  }

  /** How many replacements were started. */
  get respawned(): number {
    return this.#respawner.respawned;
  }

  /** Why respawning stopped (a crash loop), if it did. */
  get gaveUp(): string | undefined {
    return this.#respawner.gaveUp;
  }

  /** How many of them have exited. */
  get exited(): number {
    return this.#exitCount;
  }

  /** Calls fn at the next exit of one of them. */
  onExit(fn: () => void): void {
    this.#onExit.push(fn);
  }

  /** What they wrote to stderr, its last 64 KiB (empty with `output`). */
  stderr(): string {
    return this.#log?.tail() ?? '';
  }

  /** No more replacements: what exits from now on is part of a teardown. */
  disarm(): void {
    this.#stopping = true;
    this.#respawner.disarm();
  }

  /** Waits up to graceMs for every daemon to exit by itself, then kills the rest. */
  async stop(graceMs = 2000): Promise<void> {
    this.disarm();
    // The waits do not keep this process alive (nor do the daemons), and nothing waits after
    // SIGKILL: a host on its way out must not linger for its daemons' reaping.
    await stopChildren([...this.children], { graceMs, signals: ['SIGKILL'], stepMs: 0, ref: false });
    this.#closeLog();
  }
}

/**
 * Environment default for the `node` option, for a whole test run or deployment (a test suite
 * under qemu-user sets it so that daemons run under qemu too): a path, or a JSON array of words.
 */
export const NODE_ENV = 'MIRAI_DAEMON_NODE';

/** The command words that start a local daemon's Node: the option, else NODE_ENV, else ours. */
export function daemonCommand(node: string | readonly string[] | undefined): readonly string[] | undefined {
  if (node !== undefined) return typeof node === 'string' ? [node] : node;
  const env = process.env[NODE_ENV];
  if (env === undefined || env === '') return undefined;
  if (!env.startsWith('[')) return [env];
  let words: unknown;
  try {
    words = JSON.parse(env);
  } catch {
    words = undefined;
  }
  if (!Array.isArray(words) || words.length === 0 || !words.every((w) => typeof w === 'string' && w !== '')) {
    throw new TypeError(`${NODE_ENV} must be a path or a JSON array of non-empty strings (got ${env.slice(0, 200)})`);
  }
  return words as string[];
}

/** The CLI that runs a daemon: dist/cli.js next to this package's compiled lib. */
export function daemonEntry(): string {
  return path.join(__dirname, '..', 'cli.js');
}
