/**
 * Keeps Node's SIGINT watchdog running for the life of a daemon.
 *
 * `vm` `breakOnSigint` is how a daemon interrupts a synchronous task: the addon raises SIGINT
 * from NNG's thread when a CANCEL arrives, and Node's watchdog terminates the running script.
 * Node starts the watchdog's helper thread (and installs its signal handler) when the first
 * breakOnSigint run begins and tears both down when the last one ends: 30-45 µs per call, and
 * between calls a SIGINT falls back to the default action, which kills the process.
 *
 * The keeper is a small unref'd worker thread that always sits in a breakOnSigint run (blocked in
 * Atomics.wait, using no CPU). While it runs, the helper stays up: a daemon's breakOnSigint call
 * costs about 0.3 µs more than a plain one, and a SIGINT that arrives while no task runs lands on the keeper (Node gives a
 * signal to the most recently started watchdog) and is absorbed; the keeper just re-enters its wait.
 * Its runs are nested two deep, so while the inner one restarts the outer still holds the helper.
 * The main thread flags its task runs (state[2]: about to run / running / idle). A signal that
 * reaches the keeper meanwhile (it arrived before the task's watchdog was registered, or the
 * keeper re-registered after it) is raised again once the task's run is in place.
 *
 * On Windows "SIGINT" is a console control event (Ctrl-Break) that the addon raises in-process
 * (binding/signals.h: kernel32's CtrlRoutine on a new thread), which Node's watchdog takes through
 * its console control handler; everything above holds as on POSIX, except that the keeper hands
 * an interrupt on through the addon too: process.kill(pid, 'SIGINT') terminates a Windows process.
 *
 * The keeper counts what it absorbs (`absorbed`) so the daemon can tell a SIGINT it caused from
 * one sent from outside (Ctrl-C). Do not add `process.on('SIGINT')` listeners in a process that
 * uses the keeper: Node removes them around breakOnSigint runs, and that resets the signal's
 * disposition to the default (fatal) one.
 */
import { SHARE_ENV, Worker } from 'node:worker_threads';
import { waitInterruptibly } from './evaluate';
import type { InterruptMechanism } from './interrupts';

// Runs as a classic script in the worker: top-level names would be shared with vm scripts,
// hence the IIFE and the symbol-keyed global. state: [0] up, [1] absorbed, [2] what the main
// thread is doing (RUN_* below). workerData.native: the addon's loader module on Windows (see
// the header), loaded at start so that handing an interrupt on is prompt; null elsewhere.
const KEEPER_SOURCE = `(() => {
  const vm = require('node:vm');
  const { workerData, parentPort } = require('node:worker_threads');
  const state = new Int32Array(workerData.state);
  const raise = workerData.native === null
    ? () => process.kill(process.pid, 'SIGINT')
    : ((addon) => () => addon.raiseInterrupt())(require(workerData.native).addon);
  const k = { state, block: new Int32Array(new SharedArrayBuffer(4)) };
  globalThis[Symbol.for('mirai.sigintKeeper')] = k;
  const opts = { breakOnSigint: true, displayErrors: false };
  // "up" is set from inside the inner run: both watchdogs are registered by then.
  const inner = new vm.Script('{ const k = globalThis[Symbol.for("mirai.sigintKeeper")]; ' +
    'Atomics.store(k.state, 0, 1); Atomics.notify(k.state, 0); Atomics.wait(k.block, 0, 0) }');
  const caught = () => {
    Atomics.store(state, 0, 0);
    if (Atomics.load(state, 2) !== 0) {
      // The main thread is about to run a task (1) or runs one (2): the signal is the task's.
      // Wait until the task's watchdog is registered, raise the signal again for it, and stay
      // out of the way (the outer run keeps the helper up) until the task's run is over.
      while (Atomics.load(state, 2) === 1) Atomics.wait(state, 2, 1, 1000);
      if (Atomics.load(state, 2) === 2) {
        raise();
        while (Atomics.load(state, 2) === 2) Atomics.wait(state, 2, 2, 1000);
        return;
      }
    }
    Atomics.add(state, 1, 1);
    Atomics.notify(state, 1);
    parentPort.postMessage(0);
  };
  k.hold = () => { for (;;) { try { inner.runInThisContext(opts); } catch { caught(); } } };
  const outer = new vm.Script('globalThis[Symbol.for("mirai.sigintKeeper")].hold()');
  for (;;) { try { outer.runInThisContext(opts); } catch { caught(); } }
})();`;

/** The module that loads the addon (lib/nng/native), for the keeper to require on Windows. */
const KEEPER_NATIVE = process.platform === 'win32' ? require.resolve('../nng/native') : null;

const RUN_NONE = 0;
const RUN_SOON = 1;
const RUN_IN = 2;

/** Restarts allowed per second before the keeper gives up (a worker that cannot start at all). */
const MAX_RESTARTS = 5;

/** The POSIX interrupt mechanism of lib/daemon/interrupts.ts. */
export class SigintKeeper implements InterruptMechanism {
  /**
   * Shared with the worker. [0]: 1 while the keeper's watchdogs are up; [1]: SIGINTs absorbed so
   * far; [2]: 1 while the main thread runs a task (see `taskStarts` / `taskEnds`).
   */
  readonly state = new Int32Array(new SharedArrayBuffer(16));
  /** Called (on the event loop) after the keeper absorbed a SIGINT. */
  onAbsorb: (() => void) | undefined;
  /** Called once if the keeper cannot be kept running. */
  onFail: ((err: Error) => void) | undefined;
  #worker: Worker | undefined;
  #stopped = false;
  #failed = false;
  #restarts: number[] = [];

  /** Starts the worker (returns at once; see `up`). */
  start(): this {
    if (this.#worker || this.#stopped) return this;
    let w: Worker;
    try {
      w = new Worker(KEEPER_SOURCE, {
        eval: true,
        workerData: { state: this.state.buffer, native: KEEPER_NATIVE },
        env: SHARE_ENV,
        stdout: true, // the keeper prints nothing; don't tie it to the process's streams
        stderr: true,
        trackUnmanagedFds: false,
        name: 'mirai-sigint-keeper',
      });
    } catch (e) {
      this.#fail(e as Error);
      return this;
    }
    w.unref();
    w.on('message', () => this.onAbsorb?.());
    w.on('error', () => {
      /* followed by 'exit' */
    });
    w.on('exit', () => {
      Atomics.store(this.state, 0, 0);
      if (this.#worker !== w) return;
      this.#worker = undefined;
      if (this.#stopped) return;
      const now = Date.now();
      this.#restarts = this.#restarts.filter((t) => now - t < 1000);
      if (this.#restarts.length >= MAX_RESTARTS) {
        this.#fail(new Error('the SIGINT keeper thread keeps exiting'));
        return;
      }
      this.#restarts.push(now);
      this.start();
    });
    this.#worker = w;
    return this;
  }

  /** True while the keeper holds the watchdog. */
  get up(): boolean {
    return Atomics.load(this.state, 0) === 1;
  }

  /** True once the keeper could not be (re)started: interrupts are then unavailable. */
  get failed(): boolean {
    return this.#failed;
  }

  /** SIGINTs absorbed so far. */
  get absorbed(): number {
    return Atomics.load(this.state, 1);
  }

  /**
   * The main thread is about to run a task: call before arming the receive whose SIGINT is for
   * that task. A SIGINT reaching the keeper from now on is handed on to the task's run.
   */
  aboutToRun(): void {
    Atomics.store(this.state, 2, RUN_SOON);
  }

  /** Called from inside the task's breakOnSigint run: its watchdog is registered. */
  entered(): void {
    Atomics.store(this.state, 2, RUN_IN);
    Atomics.notify(this.state, 2);
  }

  /** The task's run is over (or will not happen). */
  ran(): void {
    Atomics.store(this.state, 2, RUN_NONE);
    Atomics.notify(this.state, 2);
  }

  /** Blocks until `absorbed` differs from n, at most ms. Not interruptible. */
  waitAbsorbed(n: number, ms: number): void {
    if (this.#failed || !this.#worker) return;
    Atomics.wait(this.state, 1, n, ms);
  }

  /** Blocks until the keeper is up, at most ms (false if it is not). Not interruptible. */
  waitUp(ms: number): boolean {
    if (this.up) return true;
    if (this.#failed || !this.#worker) return false;
    Atomics.wait(this.state, 0, 0, ms);
    return this.up;
  }

  /** Waits until the keeper is up, at most ms, in a breakOnSigint run that a SIGINT merely ends. */
  waitUpInterruptibly(ms: number): 'ok' | 'timed-out' | 'interrupted' {
    return waitInterruptibly(this.state, 0, ms);
  }

  /** Stops the worker. Idempotent. */
  stop(): void {
    this.#stopped = true;
    const w = this.#worker;
    this.#worker = undefined;
    Atomics.store(this.state, 0, 0);
    if (w) void w.terminate().catch(() => undefined);
  }

  #fail(err: Error): void {
    if (this.#failed) return;
    this.#failed = true;
    this.onFail?.(err);
  }
}
