/**
 * The one child-process supervisor: every process this package starts (local daemons, ssh and
 * other launchers, cluster submit commands, the dispatcher process) is started, watched and
 * ended here, so that the platform details live in one place:
 *
 *  - spawning: no console window on Windows (windowsHide), this process's environment plus the
 *    caller's, ELECTRON_RUN_AS_NODE when the command is this Node (an Electron app's binary runs
 *    as Node only with it), and, for a tree (`tree: true`), its own process group on POSIX
 *    (detached), so that everything it starts can be ended with it;
 *  - output: captured stdout / stderr keep a bounded tail (for error messages: a chatty process
 *    must not grow our memory), optionally forwarded to ours as it comes;
 *  - how it ended, as one value (ChildExit: status, signal, or why it could not start), given
 *    once its output is complete ('close', not 'exit');
 *  - ending it: a tree is ended whole, by its process group on POSIX, and on Windows (which has
 *    no process groups, and where the launcher's children are not ended with it) by the job
 *    object it was put in at spawn (binding/process_job.cc), or where that failed by
 *    `taskkill /T /F`, which walks the tree by parent pid; a plain child by its pid;
 *  - waiting for the end with a bounded timeout, and a graceful stop (close stdin, wait, signal,
 *    wait, signal harder).
 *
 * Children do not keep this process alive (unref'd, pipes too) unless `ref: true`: a host that is
 * done must be able to exit while its daemons and launchers are still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import type { NativeProcessJob } from '../nng/native';

/** How a child process ended: one value for messages, events and respawn decisions. */
export interface ChildExit {
  /** Its exit status; null when a signal ended it or it never started. */
  code: number | null;
  /** The signal that ended it, if one did. */
  signal: NodeJS.Signals | null;
  /** Why it could not be started or run ("cannot run 'ssh': spawn ssh ENOENT"), when that happened. */
  error?: string;
  /** The errno code of that failure ('ENOENT', 'EACCES'). */
  errno?: string;
}

/** How a process ended, for messages: 'exit code 3', 'signal SIGKILL', or why it did not start. */
export function describeExit(e: ChildExit): string {
  if (e.error !== undefined) return e.error;
  return e.signal ? `signal ${e.signal}` : `exit code ${e.code}`;
}

/** Exits with status 0 or 130 or by SIGINT are on purpose (done, host gone, Ctrl-C). */
export function exitOnPurpose(e: ChildExit): boolean {
  return e.error === undefined && (e.code === 0 || e.code === 130 || e.signal === 'SIGINT');
}

/** Where a child's stdout or stderr goes. */
export type OutputMode =
  /** Nowhere. */
  | 'ignore'
  /** To ours, directly (the child writes to our descriptor). */
  | 'inherit'
  /** Into a pipe read here: its bounded tail is kept (ChildOptions.forward copies it to ours). */
  | 'capture'
  /** A file descriptor of ours, e.g. a StderrFile's. */
  | number;

export interface ChildOptions {
  /** Added to this process's environment for it. */
  env?: Record<string, string | undefined>;
  /** Written to its stdin, which is then closed (unless keepStdin). */
  input?: string | Buffer;
  /** Keep a pipe on its stdin, open until endStdin() or stop() (ssh: the far side sees EOF then). */
  keepStdin?: boolean;
  /** Default 'ignore'. */
  stdout?: OutputMode;
  /** Default 'ignore'. */
  stderr?: OutputMode;
  /** Also copy captured output to this process's stdout / stderr as it arrives. */
  forward?: boolean;
  /** Characters of each captured stream kept (its tail; default TAIL_CHARS). */
  tailChars?: number;
  /** It and what it starts are ended together: own process group on POSIX, a job object on Windows. */
  tree?: boolean;
  /** Keep this process alive while it runs (default false). */
  ref?: boolean;
  /** Runs this Node (process.execPath): set ELECTRON_RUN_AS_NODE under Electron. */
  node?: boolean;
}

/** Characters of captured output kept by default. */
export const TAIL_CHARS = 4000;

/** How long a taskkill may take before the child is ended by its pid alone (ms). */
const TASKKILL_TIMEOUT = 10_000;

type ExitListener = (exit: ChildExit) => void;

/** One supervised child process. Construct with startChild() or startNode(). */
export class Child {
  readonly command: string;
  readonly args: readonly string[];
  /** Date.now() when it was started (respawn backoff resets after a stable run). */
  readonly started = Date.now();
  /** Settles (never rejects) once it has ended and its captured output is complete. */
  readonly done: Promise<ChildExit>;
  readonly #child: ChildProcess;
  readonly #tree: boolean;
  /** Windows, for a tree: the job holding it and what it starts (undefined: taskkill /T instead). */
  #job: NativeProcessJob | undefined;
  readonly #tailChars: number;
  #stdout = '';
  #stderr = '';
  #exit: ChildExit | undefined;
  #spawnError: NodeJS.ErrnoException | undefined;
  #listeners: ExitListener[] = [];
  #resolve!: (e: ChildExit) => void;

  /** Throws what spawn() throws synchronously (EAGAIN, a NUL in an argument). */
  constructor(command: string, args: readonly string[], opts: ChildOptions = {}) {
    this.command = command;
    this.args = args;
    this.#tree = opts.tree === true;
    this.#tailChars = opts.tailChars ?? TAIL_CHARS;
    this.done = new Promise((r) => (this.#resolve = r));
    const out = opts.stdout ?? 'ignore';
    const err = opts.stderr ?? 'ignore';
    const pipeIn = opts.keepStdin === true || opts.input !== undefined;
    const env =
      opts.env === undefined && !(opts.node && process.versions.electron)
        ? process.env
        : {
            ...process.env,
            ...opts.env,
            ...(opts.node && process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {}),
          };
    const child = spawn(command, args, {
      stdio: [pipeIn ? 'pipe' : 'ignore', out === 'capture' ? 'pipe' : out, err === 'capture' ? 'pipe' : err],
      env,
      windowsHide: true,
      // A new process group (POSIX) for a tree: the group is what kill() ends. On Windows
      // `detached` means a new console instead; the tree goes into a job object below.
      detached: this.#tree && process.platform !== 'win32',
    });
    this.#child = child;
    if (this.#tree && process.platform === 'win32' && child.pid !== undefined) this.#job = openJob(child.pid);
    if (child.stdout) this.#capture(child.stdout, 'stdout', opts.forward === true);
    if (child.stderr) this.#capture(child.stderr, 'stderr', opts.forward === true);
    if (child.stdin) {
      child.stdin.on('error', () => {}); // EPIPE when it exits without reading: its exit says why
      if (opts.input !== undefined) child.stdin.write(opts.input);
      if (!opts.keepStdin) child.stdin.end();
    }
    child.once('error', (e: NodeJS.ErrnoException) => {
      this.#spawnError = e;
      // Without a started process Node may not emit 'close' (it does for ENOENT, today): settle
      // here too; 'close' then finds it settled.
      if (child.pid === undefined) setImmediate(() => this.#ended(null, null));
    });
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => this.#ended(code, signal));
    if (!opts.ref) {
      child.unref();
      for (const s of [child.stdin, child.stdout, child.stderr])
        (s as unknown as { unref?: () => void } | null)?.unref?.();
    }
  }

  #capture(stream: NodeJS.ReadableStream, which: 'stdout' | 'stderr', forward: boolean): void {
    stream.setEncoding('utf8');
    stream.on('data', (s: string) => {
      if (which === 'stdout') this.#stdout = keepTail(this.#stdout + s, this.#tailChars);
      else this.#stderr = keepTail(this.#stderr + s, this.#tailChars);
      if (forward) (which === 'stdout' ? process.stdout : process.stderr).write(s);
    });
  }

  #ended(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#exit !== undefined) return;
    const e = this.#spawnError;
    // A spawn failure reaches 'close' with a negative errno as its "status": not an exit status.
    const exit: ChildExit =
      e !== undefined
        ? {
            code: null,
            signal: null,
            error: `cannot run '${this.command}': ${e.message}`,
            ...(e.code !== undefined ? { errno: e.code } : {}),
          }
        : { code, signal };
    this.#exit = exit;
    this.#job?.close(); // a tree outlives its first process by its own rules, as a POSIX group does
    this.#job = undefined;
    for (const f of this.#listeners.splice(0)) f(exit);
    this.#resolve(exit);
  }

  /** Its pid; undefined when it could not be started. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** How it ended, once it has (and its output is complete). */
  get exit(): ChildExit | undefined {
    return this.#exit;
  }

  /** It has not ended yet (as far as 'close' tells: a tree may hold its pipes a little longer). */
  get running(): boolean {
    return this.#exit === undefined;
  }

  /** The process itself has not exited (what is left of a tree may still run). */
  get alive(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null && this.#exit === undefined;
  }

  /** Calls fn once it has ended, synchronously from the 'close' event (at once if it has). */
  onExit(fn: ExitListener): void {
    if (this.#exit !== undefined) fn(this.#exit);
    else this.#listeners.push(fn);
  }

  /** The kept tail of its captured stdout. */
  get stdout(): string {
    return this.#stdout;
  }

  /** The kept tail of its captured stderr. */
  get stderr(): string {
    return this.#stderr;
  }

  /** Its stdin pipe, with keepStdin. */
  get stdin(): Writable | null {
    return this.#child.stdin;
  }

  /** Closes its stdin (with keepStdin): a process that reads it sees EOF. */
  endStdin(): void {
    this.#child.stdin?.end();
  }

  /** Stops reading its captured output (after a timeout: a descendant may hold the pipes open). */
  detachOutput(): void {
    this.#child.stdout?.destroy();
    this.#child.stderr?.destroy();
  }

  /**
   * Sends sig to it, or for a tree to it and its descendants: its process group on POSIX; its
   * job, else `taskkill /T /F`, on Windows (every signal ends a Windows process at once anyway).
   * Never throws.
   */
  kill(sig: NodeJS.Signals = 'SIGTERM'): void {
    const pid = this.#child.pid;
    if (pid === undefined || this.#exit !== undefined) return;
    // Exit status 1, as libuv's TerminateProcess gives a Windows child that kill() ended.
    if (this.#job?.terminate(1)) return;
    if (this.#tree && process.platform === 'win32') {
      killTreeWindows(this.#child, pid);
      return;
    }
    if (this.#tree) {
      try {
        process.kill(-pid, sig);
        return;
      } catch {
        // no such group (it has not called setsid yet, or it is gone): the pid alone
      }
    }
    if (!this.alive) return; // reaped: its pid may belong to another process by now
    try {
      this.#child.kill(sig);
    } catch {
      // already gone
    }
  }

  /**
   * Resolves with how it ended, or undefined if it has not within ms. ref: whether the wait
   * keeps this process alive (true where a caller awaits a teardown).
   */
  wait(ms: number, ref = false): Promise<ChildExit | undefined> {
    if (this.#exit !== undefined) return Promise.resolve(this.#exit);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(undefined), ms);
      if (!ref) t.unref();
      this.onExit((e) => {
        clearTimeout(t);
        resolve(e);
      });
    });
  }
}

/** Starts command with args under supervision. Throws only what spawn() throws synchronously. */
export function startChild(command: string, args: readonly string[], opts: ChildOptions = {}): Child {
  return new Child(command, args, opts);
}

/**
 * Starts this Node (or Electron run as Node) with args, or the Node that command runs: a
 * command prefix (['nice', '-n', '10', '/opt/node/bin/node']) whose words go before args.
 */
export function startNode(
  args: readonly string[],
  opts: ChildOptions = {},
  command: readonly string[] = [process.execPath],
): Child {
  const [exe, ...prefix] = command.length > 0 ? command : [process.execPath];
  return new Child(exe!, [...prefix, ...args], { ...opts, node: true });
}

export interface StopOptions {
  /** How long they may take to exit by themselves first (ms). */
  graceMs: number;
  /** Sent in turn to those still running, each followed by a wait of stepMs. */
  signals?: readonly NodeJS.Signals[];
  /** Wait after each signal (ms; 0: none). Default 1000. */
  stepMs?: number;
  /** Whether the waits keep this process alive (a caller awaiting a teardown: true). */
  ref?: boolean;
  /** Until: whether a child still counts as running (default: its 'close' has not come). */
  running?: (c: Child) => boolean;
}

/**
 * Ends children: closes their stdin, waits up to graceMs for them to exit by themselves (a daemon
 * exits when its host goes), then sends each signal in turn (tree-wide for trees) to those left.
 */
export async function stopChildren(children: readonly Child[], opts: StopOptions): Promise<void> {
  const { graceMs, signals = ['SIGTERM', 'SIGKILL'], stepMs = 1000, ref = false } = opts;
  const running = opts.running ?? ((c: Child) => c.running);
  const live = (): Child[] => children.filter(running);
  for (const c of live()) c.endStdin();
  const waitAll = async (ms: number): Promise<void> => {
    const left = live();
    if (left.length === 0 || ms <= 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(left.map((c) => c.done)),
      new Promise<void>((r) => {
        timer = setTimeout(r, ms);
        if (!ref) timer.unref();
      }),
    ]).finally(() => clearTimeout(timer));
  };
  await waitAll(graceMs);
  for (const sig of signals) {
    const left = live();
    if (left.length === 0) return;
    for (const c of left) c.kill(sig);
    await waitAll(stepMs);
  }
}

export interface RunResult {
  exit: ChildExit;
  stdout: string;
  stderr: string;
  /** It did not finish within the time allowed (then exit.error says so). */
  timedOut: boolean;
}

/**
 * Runs a short command to its end (a cluster's submit / cancel / query commands), its output
 * captured (up to tailChars of each stream), killed after timeoutMs. Never rejects: a command that
 * cannot be started resolves with exit.error.
 */
export async function runChild(
  command: string,
  args: readonly string[],
  opts: { input?: string | Buffer; timeoutMs: number; tailChars?: number },
): Promise<RunResult> {
  let c: Child;
  try {
    c = startChild(command, args, {
      input: opts.input,
      stdout: 'capture',
      stderr: 'capture',
      tailChars: opts.tailChars,
      // Whoever awaits its result must not see this process exit meanwhile (the timeout's
      // timer below does not keep it alive: the command does, while it runs).
      ref: true,
    });
  } catch (e) {
    return { exit: { code: null, signal: null, error: (e as Error).message }, stdout: '', stderr: '', timedOut: false };
  }
  const exit = await c.wait(opts.timeoutMs);
  if (exit !== undefined) return { exit, stdout: c.stdout, stderr: c.stderr, timedOut: false };
  c.kill('SIGKILL');
  // Without waiting for pipes that something it started may still hold open.
  c.detachOutput();
  return {
    exit: { code: null, signal: null, error: `'${command}' did not finish within ${opts.timeoutMs} ms` },
    stdout: c.stdout,
    stderr: c.stderr,
    timedOut: true,
  };
}

/** s without its head beyond the last max characters. */
function keepTail(s: string, max: number): string {
  return s.length > max ? s.slice(-max) : s;
}

/**
 * Windows: a job object holding the process pid and what it will start, or undefined if one could
 * not be made (killTreeWindows then). The addon is loaded here, on first use: this module is also
 * loaded where no tree is ever started.
 */
function openJob(pid: number): NativeProcessJob | undefined {
  try {
    const { addon } = require('../nng/native') as typeof import('../nng/native');
    return new addon.ProcessJob(pid);
  } catch {
    return undefined;
  }
}

/**
 * Windows: end pid and its descendants with `taskkill /T /F` (no process groups there, and a
 * launcher's children outlive it by default). taskkill must see the parent alive to find the
 * children, so the child itself is killed only once it is done, or when it cannot run.
 */
function killTreeWindows(child: ChildProcess, pid: number): void {
  const fallback = (): void => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  };
  let tk: ChildProcess;
  try {
    tk = spawn('taskkill', ['/T', '/F', '/PID', String(pid)], { stdio: 'ignore', windowsHide: true });
  } catch {
    fallback();
    return;
  }
  const t = setTimeout(fallback, TASKKILL_TIMEOUT);
  t.unref();
  tk.once('error', () => {
    clearTimeout(t);
    fallback();
  });
  tk.once('close', () => {
    clearTimeout(t);
    fallback();
  });
  tk.unref();
}
