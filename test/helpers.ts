// Small generic helpers shared by the test suites: temporary paths, bounded waits, child
// processes that are always killed, and a tracker for things that must be closed.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { daemonCommand } from '../dist/launchers/local';

const temps = new Set<string>();
const children = new Set<Child>();

/**
 * A test that cannot run here says so with this and returns: one `[skip]` line per test, which
 * scripts/test.cjs and .ci/run count as skipped (uvu itself would count the test as passed).
 */
export function skipTest(reason: string): void {
  process.stdout.write(`\n  [skip] ${reason}\n`);
}

/**
 * Under wine or qemu-user (scripts/cross-test.sh sets QEMU_LD_PREFIX), where steps that take
 * milliseconds natively can take seconds: tests widen their bounds by it.
 */
export const EMULATED = process.platform === 'win32' || process.env.QEMU_LD_PREFIX !== undefined;

/** Removes every temporary path handed out so far. */
export function removeTemps(): void {
  for (const p of temps) fs.rmSync(p, { recursive: true, force: true });
  temps.clear();
}

/** Kills every child process still running (SIGKILL). */
export function killChildren(): void {
  for (const c of children) c.kill();
}

// uvu may stop at a failure before `after` hooks run: clean up on the way out regardless.
process.on('exit', () => {
  killChildren();
  removeTemps();
});

/** A fresh path in os.tmpdir() (nothing is created); removed by removeTemps() or at exit. */
export function tempPath(prefix = 'mirai-test', ext = ''): string {
  const p = path.join(os.tmpdir(), `${prefix}-${process.pid}-${randomBytes(6).toString('hex')}${ext}`);
  temps.add(p);
  return p;
}

/** An ipc:// URL on a fresh temporary path, and that path. */
export function ipcUrl(): { url: string; path: string } {
  const p = tempPath('mirai-ipc', '.sock');
  return { url: `ipc://${p}`, path: p };
}

/** A file with the given content in a fresh temporary directory. */
export function tempFile(name: string, content: string | Buffer): string {
  const dir = tempPath('mirai-files');
  fs.mkdirSync(dir);
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for peers that cannot report port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Rejects with an Error naming `what` unless p settles within ms. */
export function withTimeout<T>(p: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Resolves once predicate() holds (checked every few ms); rejects after timeoutMs. */
export function waitFor(predicate: () => boolean, timeoutMs: number, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise<void>((resolve, reject) => {
    const check = (): void => {
      try {
        if (predicate()) return resolve();
      } catch (e) {
        return reject(e);
      }
      if (Date.now() > deadline) return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      setTimeout(check, 5);
    };
    check();
  });
}

/**
 * Resolves once the async predicate holds; rejects after timeoutMs. Each check yields to I/O
 * first: a predicate that resolves without I/O (round-robin's local status()) would otherwise
 * spin in microtasks and starve the very events it waits for.
 */
export async function waitUntil(
  predicate: () => Promise<boolean>,
  timeoutMs: number,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Resolves with the first argument of the next `event` on emitter; rejects after timeoutMs. */
export function waitForEvent<T = unknown>(emitter: EventEmitter, event: string, timeoutMs: number): Promise<T> {
  let handler!: (v: T) => void;
  const p = new Promise<T>((resolve) => emitter.once(event, (handler = resolve)));
  return withTimeout(p, timeoutMs, `'${event}'`).finally(() => emitter.off(event, handler));
}

/** Marks p as handled (it may reject after a test has already failed) and returns it. */
export function background<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/** The error thrown by fn (sync or async), or of a rejected promise; throws if none was. */
export async function errorOf(x: Promise<unknown> | (() => unknown)): Promise<any> {
  try {
    await (typeof x === 'function' ? x() : x);
  } catch (e) {
    return e;
  }
  throw new Error('expected an error, but the operation succeeded');
}

/** Closes everything tracked by track(); close errors are ignored. */
export class Closer {
  #items: Array<{ close(): void }> = [];
  track<T extends { close(): void }>(x: T): T {
    this.#items.push(x);
    return x;
  }
  closeAll(): void {
    for (const x of this.#items.splice(0).reverse()) {
      try {
        x.close();
      } catch {
        // already closed or never fully opened
      }
    }
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child process with collected output, killed at its deadline or by killChildren(). */
export class Child {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  #exit: Exit | undefined;

  constructor(cmd: string, args: string[], opts: SpawnOptions) {
    // Its own process group: kill() then also reaches what it started (a shell's daemon), which
    // would otherwise outlive it, hold its output pipes open and keep the test run alive.
    this.proc = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      detached: true,
    });
    children.add(this);
    const timer = setTimeout(() => this.kill(), opts.timeoutMs);
    this.proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
      this.stdout += s;
      this.proc.emit('output');
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
    this.exited = new Promise<Exit>((resolve) => {
      this.proc.on('close', (code, signal) => {
        clearTimeout(timer);
        children.delete(this);
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** Resolves with the first stdout line matching re; rejects on exit or after ms. */
  line(re: RegExp, ms: number): Promise<string> {
    const find = (): string | undefined => this.stdout.split('\n').find((l) => re.test(l));
    return new Promise<string>((resolve, reject) => {
      const done = (err?: Error, v?: string): void => {
        clearTimeout(timer);
        this.proc.off('output', check);
        this.proc.off('close', onClose);
        if (err) reject(err);
        else resolve(v!);
      };
      const check = (): void => {
        const l = find();
        if (l !== undefined) done(undefined, l);
      };
      const onClose = (): void => {
        // stdout is complete once 'close' fires: a last look, then give up.
        const l = find();
        if (l !== undefined) return done(undefined, l);
        done(new Error(`child exited before printing ${re}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`));
      };
      const timer = setTimeout(
        () => done(new Error(`no ${re} from child within ${ms} ms\nstdout: ${this.stdout}\nstderr: ${this.stderr}`)),
        ms,
      );
      this.proc.on('output', check);
      this.proc.on('close', onClose);
      if (!this.running) onClose();
      else check();
    });
  }

  /** Resolves with the exit status if the child exits within ms, else with undefined. */
  exitWithin(ms: number): Promise<Exit | undefined> {
    let timer: NodeJS.Timeout;
    const t = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
    return Promise.race([this.exited, t]).finally(() => clearTimeout(timer));
  }

  /** SIGKILLs the child and everything in its process group. */
  kill(): void {
    if (!this.running) return;
    try {
      process.kill(-this.proc.pid!, 'SIGKILL');
    } catch {
      this.proc.kill('SIGKILL'); // the group is gone already (or never formed)
    }
  }
}

export interface SpawnOptions {
  /** Hard deadline: the child is SIGKILLed when it passes. */
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Runs cmd with a hard deadline. */
export function spawnProcess(cmd: string, args: string[], opts: SpawnOptions): Child {
  return new Child(cmd, args, opts);
}

/**
 * The command words of a child Node: the ones local daemons get (MIRAI_DAEMON_NODE, so that
 * under qemu-user a test's child processes run under qemu too), else this process's binary.
 */
export function nodeWords(): [string, ...string[]] {
  const words = daemonCommand(undefined);
  return words && words.length > 0 ? [words[0]!, ...words.slice(1)] : [process.execPath];
}

/** Runs `node ...args` with a hard deadline. */
export function spawnNode(args: string[], opts: SpawnOptions): Child {
  const [exe, ...prefix] = nodeWords();
  return new Child(exe, [...prefix, ...args], opts);
}
