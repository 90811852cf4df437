// Helpers for benchmarks that run peers in other processes.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child process whose output is collected; `stop()` ends it politely, then by force. */
export class Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<ExitStatus>;
  stdout = '';
  stderr = '';
  #status: ExitStatus | undefined;
  #waiters: Array<() => void> = [];

  constructor(cmd: string, args: string[], opts: SpawnOptions = {}) {
    this.proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...opts });
    this.proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.#wake();
    });
    this.proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.#wake();
    });
    // A peer that dies early must not crash the bench with EPIPE.
    this.proc.stdin?.on('error', () => {});
    this.exited = new Promise((resolve) => {
      this.proc.on('error', (err) => {
        this.stderr += String(err);
        this.#status = { code: -1, signal: null };
        this.#wake();
        resolve(this.#status);
      });
      this.proc.on('close', (code, signal) => {
        this.#status = { code, signal };
        this.#wake();
        resolve(this.#status);
      });
    });
  }

  get status(): ExitStatus | undefined {
    return this.#status;
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Resolves with the first match of re in stdout; rejects on exit or after timeoutMs. */
  async waitFor(re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.stdout.match(re);
      if (m) return m;
      if (this.#status)
        throw new Error(
          `child exited (${this.#status.code ?? this.#status.signal}) before printing ${re}: ${this.stderr.trim()}`,
        );
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${re} from child; stderr: ${this.stderr.trim()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for exit up to timeoutMs, then kills; resolves with the exit status. */
  async wait(timeoutMs = 10_000): Promise<ExitStatus> {
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (t = setTimeout(() => r('timeout'), timeoutMs)));
    const r = await Promise.race([this.exited, timeout]);
    clearTimeout(t);
    if (r === 'timeout') {
      this.proc.kill('SIGKILL');
      return this.exited;
    }
    return r;
  }

  /** Closes stdin (the polite "stop" for our peers), waits graceMs, then SIGKILLs. */
  async stop(graceMs = 2_000): Promise<ExitStatus> {
    if (this.#status) return this.#status;
    this.proc.stdin?.end();
    return this.wait(graceMs);
  }

  kill(): void {
    if (!this.#status) this.proc.kill('SIGKILL');
  }
}

/**
 * Starts `node [nodeArgs] -e script ...args`; the script sees its args as process.argv.slice(1).
 * nodeArgs are Node's own flags (e.g. --cpu-prof).
 */
export function spawnNodeScript(
  script: string,
  args: string[],
  opts: SpawnOptions = {},
  nodeArgs: string[] = [],
): Child {
  return new Child(process.execPath, [...nodeArgs, '-e', script, ...args], opts);
}

/** Runs a command to completion, collecting output; kills it after timeoutMs. */
export async function run(
  cmd: string,
  args: string[],
  timeoutMs = 60_000,
  opts: SpawnOptions = {},
): Promise<ExitStatus & { stdout: string; stderr: string }> {
  const c = new Child(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  const st = await c.wait(timeoutMs);
  return { ...st, stdout: c.stdout, stderr: c.stderr };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
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

/** A fresh temporary directory, removed by the returned cleanup function. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Calls fn until it succeeds (e.g. dialing a peer that is still starting), up to timeoutMs. */
export async function retry<T>(fn: () => Promise<T>, timeoutMs = 5_000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() >= deadline) throw e;
      await sleep(intervalMs);
    }
  }
}
