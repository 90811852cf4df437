/**
 * What ends a daemon on its own (lib/daemon/loop.ts asks): `maxTasks` (its last answer carries
 * FLAG_LAST), `idleTime` and `walltime` (it asks to leave with BYE, because a task may be on its
 * way already, and goes when the host or dispatcher answers EXIT, after running whatever reached
 * it first). No I/O: the loop sends and finishes.
 */
import { FLAG_LAST } from '../wire/protocol';
import type { DaemonOptions, ExitReason } from './options';
import { MAX_TIMER } from '../wire/validate';

export class ExitRules {
  readonly #maxTasks: number;
  #tasks = 0;
  #walltimeHit = false;
  /** Set once BYE was sent: the reason to exit with when the host answers EXIT. */
  leaving: ExitReason | undefined;
  /** EXIT came after our BYE: exit as soon as nothing runs or waits. */
  #exitWhenIdle = false;
  /** OR'ed into the flags of the next reply (FLAG_LAST). */
  replyFlags = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #wallTimer: NodeJS.Timeout | undefined;

  /**
   * @param idle true while no task runs (a timer that fires then asks to leave at once).
   * @param leave asks to leave (the loop sends BYE).
   */
  constructor(opts: DaemonOptions, startedAt: number, idle: () => boolean, leave: (r: ExitReason) => void) {
    this.#maxTasks = opts.maxTasks ?? Infinity;
    if (opts.idleTime !== undefined && opts.idleTime <= MAX_TIMER) {
      this.#idleTimer = setTimeout(() => {
        if (idle()) leave('idleTime');
      }, opts.idleTime).unref();
    }
    if (opts.walltime !== undefined && opts.walltime <= MAX_TIMER) {
      this.#wallTimer = setTimeout(
        () => {
          if (idle()) leave('walltime');
          else this.#walltimeHit = true;
        },
        Math.max(0, opts.walltime - (Date.now() - startedAt)),
      ).unref();
    }
  }

  /** Before answering a task: its answer is the last one if it reaches maxTasks. */
  markLast(everywhere: boolean): void {
    if (!everywhere && this.#tasks + 1 >= this.#maxTasks) this.replyFlags = FLAG_LAST;
  }

  /**
   * A task was answered. Returns the reason to finish now, 'bye' to ask to leave (walltime
   * passed while it ran), or undefined to go on.
   */
  counted(everywhere: boolean, queueEmpty: boolean): ExitReason | 'bye' | undefined {
    if (!everywhere) this.#tasks++;
    this.replyFlags = 0;
    if (this.leaving === undefined) this.#idleTimer?.refresh();
    if (this.#tasks >= this.#maxTasks) return 'maxTasks';
    if (this.#exitWhenIdle && queueEmpty) return this.leaving;
    if (this.#walltimeHit && queueEmpty) return 'bye';
    return undefined;
  }

  /** EXIT from the host or dispatcher: the reason to finish now, or undefined (once idle). */
  exit(idleNow: boolean): ExitReason | undefined {
    if (this.leaving === undefined) return 'exit';
    if (idleNow) return this.leaving;
    this.#exitWhenIdle = true;
    return undefined;
  }

  /** Starts leaving for reason; false if it is leaving already. */
  startLeaving(reason: ExitReason): boolean {
    if (this.leaving !== undefined) return false;
    this.leaving = reason;
    return true;
  }

  stop(): void {
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#wallTimer);
  }
}
