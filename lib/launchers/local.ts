/**
 * Local daemons: child processes of this one, started with this Node (or Electron run as Node)
 * and this package's CLI. Their stderr goes to a temp file so that a daemon that cannot
 * connect can be quoted in the error; with `output` it is inherited instead.
 *
 * The stderr file must not outlive this process, even when it is killed with SIGKILL: on POSIX
 * it is unlinked as soon as it is opened and read back through our own descriptor (the
 * daemons write to a dup of it). Windows cannot unlink an open file, so there the name carries
 * our pid and the next process that launches daemons removes the files of dead pids.
 *
 * Once armed (respawn()), a daemon that dies unexpectedly is replaced: see #exited.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, fstatSync, openSync, readSync, rmSync, unlinkSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildDaemonArgs } from '../daemon/options';
import { removeStaleFiles } from '../wire/url';
import type { DaemonOptions } from '../daemon/options';
import { describeExit, exitOnPurpose, Respawner, type RespawnHooks } from './respawn';

// Where they were defined first; the policy now lives in respawn.ts for remote launchers too.
export { RESPAWN, type RespawnHooks } from './respawn';

export interface LocalLaunchOptions extends DaemonOptions {
  /** Extra environment for the daemons (merged over process.env). */
  env?: Record<string, string>;
  /** Node flags for the daemons, e.g. ['--max-old-space-size=512']. */
  execArgv?: string[];
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
  /** It exited (a ChildProcess 'exit' event). */
  exited(pid: number, code: number | null, signal: NodeJS.Signals | null): void;
  /** newPid was started to replace oldPid, which died unexpectedly (respawn). */
  replaced(oldPid: number, newPid: number): void;
}

/** Most stderr quoted back (the tail): a chatty daemon must not make a huge error message. */
const STDERR_TAIL = 64 * 1024;

/** A batch of local daemons. */
export class LocalDaemons {
  readonly children: ChildProcess[] = [];
  readonly #args: string[];
  readonly #env: NodeJS.ProcessEnv;
  readonly #output: boolean;
  /** Our descriptor of the stderr file (POSIX: already unlinked). */
  #fd: number | undefined;
  /** Its name while it exists (Windows only; removed at stop()). */
  #logPath: string | undefined;
  #exitCount = 0;
  #onExit: Array<() => void> = [];
  #stopping = false;
  readonly #respawner = new Respawner('local daemons', 'stderr');
  readonly #observer: LocalObserver | undefined;

  constructor(n: number, url: string, opts: LocalLaunchOptions, observer?: LocalObserver) {
    this.#observer = observer;
    const { env, execArgv, captureStderr, ...daemonOpts } = opts;
    this.#output = daemonOpts.output === true;
    if (!this.#output && captureStderr !== false) this.#openLog();
    this.#args = [...(execArgv ?? []), daemonEntry(), ...buildDaemonArgs(url, daemonOpts)];
    this.#env = { ...process.env, ...env, ...(process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {}) };
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

  #openLog(): void {
    const file = path.join(os.tmpdir(), `mirai-${process.pid}-${randomBytes(4).toString('hex')}.log`);
    if (process.platform === 'win32') removeStaleFiles(); // Windows cannot unlink an open log: sweep dead pids' files
    // Read-write (we read it back through this fd), append (daemons share it), owner only.
    this.#fd = openSync(file, constants.O_CREAT | constants.O_EXCL | constants.O_RDWR | constants.O_APPEND, 0o600);
    if (process.platform === 'win32') {
      this.#logPath = file;
    } else {
      try {
        unlinkSync(file);
      } catch {
        this.#logPath = file; // cannot happen for a file we just created; fall back to rm at stop
      }
    }
  }

  #closeLog(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    if (this.#logPath) rmSync(this.#logPath, { force: true });
    this.#logPath = undefined;
  }

  #spawn(): ChildProcess {
    const child = spawn(process.execPath, this.#args, {
      stdio: this.#output ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'ignore', this.#fd ?? 'ignore'],
      env: this.#env,
      windowsHide: true,
    });
    child.unref();
    if (child.pid !== undefined) this.#observer?.spawned(child.pid);
    const started = Date.now();
    child.once('exit', (code, signal) => this.#exited(child, started, code, signal));
    child.once('error', () => {});
    this.children.push(child);
    return child;
  }

  /**
   * One of them exited. Replaced (once armed) unless it was stopped, or left on purpose: a
   * daemon leaving under idleTime / maxTasks / walltime, or because its host is gone, exits
   * with 0; an outside Ctrl-C (SIGINT) is the user's wish too (130).
   */
  #exited(child: ChildProcess, started: number, code: number | null, signal: NodeJS.Signals | null): void {
    this.#exitCount++;
    const i = this.children.indexOf(child);
    if (i >= 0) this.children.splice(i, 1);
    if (child.pid !== undefined) this.#observer?.exited(child.pid, code, signal);
    for (const f of this.#onExit.splice(0)) f();
    if (this.#stopping || exitOnPurpose(code, signal)) return;
    const replace = (): void => {
      const next = this.#spawn();
      if (child.pid !== undefined && next.pid !== undefined) this.#observer?.replaced(child.pid, next.pid);
    };
    this.#respawner.unexpectedExit(started, describeExit(code, signal), replace, () => this.stderr());
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
    if (this.#fd === undefined) return '';
    try {
      const size = fstatSync(this.#fd).size;
      const len = Math.min(size, STDERR_TAIL);
      const buf = Buffer.alloc(len);
      let got = 0;
      while (got < len) {
        const r = readSync(this.#fd, buf, got, len - got, size - len + got);
        if (r === 0) break;
        got += r;
      }
      return buf.subarray(0, got).toString('utf8').trim();
    } catch {
      return '';
    }
  }

  /** No more replacements: what exits from now on is part of a teardown. */
  disarm(): void {
    this.#stopping = true;
    this.#respawner.disarm();
  }

  /** Waits up to graceMs for every daemon to exit by itself, then kills the rest. */
  async stop(graceMs = 2000): Promise<void> {
    this.disarm();
    const alive = this.children.filter((c) => c.exitCode === null && c.signalCode === null);
    if (alive.length > 0) {
      await Promise.race([
        Promise.all(
          alive.map(
            (c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r))),
          ),
        ),
        new Promise((r) => setTimeout(r, graceMs).unref()),
      ]);
      for (const c of alive) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    this.#closeLog();
  }
}

/** The CLI that runs a daemon: dist/cli.js next to this package's compiled lib. */
export function daemonEntry(): string {
  return path.join(__dirname, '..', 'cli.js');
}
