/**
 * Local daemons: child processes of this one, started with this Node (or Electron run as Node)
 * and this package's CLI. Their stderr goes to a temp file so that a daemon that cannot
 * connect can be quoted in the error; with `output` it is inherited instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { buildDaemonArgs } from '../cli';
import type { DaemonOptions } from '../daemon';

export interface LocalLaunchOptions extends DaemonOptions {
  /** Extra environment for the daemons (merged over process.env). */
  env?: Record<string, string>;
  /** Node flags for the daemons, e.g. ['--max-old-space-size=512']. */
  execArgv?: string[];
  /** Keep their stderr in a temp file for error messages (default true; false: discard). */
  captureStderr?: boolean;
}

/** A batch of local daemons. */
export class LocalDaemons {
  readonly children: ChildProcess[] = [];
  readonly #log: string | undefined;
  #exited = 0;
  #onExit: Array<() => void> = [];

  constructor(n: number, url: string, opts: LocalLaunchOptions) {
    const { env, execArgv, captureStderr, ...daemonOpts } = opts;
    const output = daemonOpts.output === true;
    this.#log = output || captureStderr === false ? undefined : path.join(os.tmpdir(), `mirai-${process.pid}-${randomBytes(4).toString('hex')}.log`);
    const fd = this.#log ? openSync(this.#log, 'a') : undefined;
    try {
      const args = [...(execArgv ?? []), daemonEntry(), ...buildDaemonArgs(url, daemonOpts)];
      const childEnv = { ...process.env, ...env, ...(process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {}) };
      for (let i = 0; i < n; i++) {
        const child = spawn(process.execPath, args, {
          stdio: output ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'ignore', fd ?? 'ignore'],
          env: childEnv,
          windowsHide: true,
        });
        child.unref();
        child.once('exit', () => {
          this.#exited++;
          for (const f of this.#onExit.splice(0)) f();
        });
        child.once('error', () => {});
        this.children.push(child);
      }
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** How many of them have exited. */
  get exited(): number {
    return this.#exited;
  }

  /** Calls fn at the next exit of one of them. */
  onExit(fn: () => void): void {
    this.#onExit.push(fn);
  }

  /** What they wrote to stderr (empty with `output`). */
  stderr(): string {
    if (!this.#log) return '';
    try {
      return readFileSync(this.#log, 'utf8').trim();
    } catch {
      return '';
    }
  }

  /** Waits up to graceMs for every daemon to exit by itself, then kills the rest. */
  async stop(graceMs = 2000): Promise<void> {
    const alive = this.children.filter((c) => c.exitCode === null && c.signalCode === null);
    if (alive.length > 0) {
      await Promise.race([
        Promise.all(alive.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r))))),
        new Promise((r) => setTimeout(r, graceMs).unref()),
      ]);
      for (const c of alive) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    if (this.#log) rmSync(this.#log, { force: true });
  }
}

/** The CLI that runs a daemon: dist/cli.js next to this package's compiled lib. */
export function daemonEntry(): string {
  return path.join(__dirname, '..', 'cli.js');
}
