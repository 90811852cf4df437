/**
 * The daemon's interrupt machinery as one object: how a CANCEL interrupts the running task, and
 * how the daemon tells a SIGINT it caused from one sent from outside (Ctrl-C).
 *
 * The mechanism (today lib/daemon/sigint-keeper.ts, POSIX signals) delivers the interrupt; this
 * object does the accounting the receive loop (lib/daemon/loop.ts) needs around it:
 *
 * - Each CANCEL that reaches a receive armed for its task made the addon raise SIGINT:
 *   `received()` counts those. Each SIGINT is then seen exactly once, by the task's run
 *   (`interrupted()`) or by the keeper (absorbed, while no task ran).
 * - Seen > caused means a SIGINT from outside: while no task runs, `external` is called after
 *   INTERRUPT_GRACE ms; during a task, the task's run is interrupted and `interrupted(...)`
 *   calls `unexplained` unless the CANCEL that caused it shows up within INTERRUPT_GRACE.
 * - Before a task is flagged as running (`arm()`), every SIGINT caused so far must have landed,
 *   or it would be taken for that task's (`arm` waits for them, at most SETTLE_WAIT ms).
 *
 * Contract, in loop order: `beforeArm()` / `arm()` before a task runs (its receive armed),
 * `disarm()` if it then does not run, `received(armedId, header)` for every message taken,
 * `interrupted(unexplained)` when a run was interrupted, `idle()` when nothing runs, `detach()`
 * once the daemon is finishing and `stop()` when it closes. No socket is involved, so tests
 * drive it with a fake mechanism (test/daemon/interrupts.test.ts); a Windows mechanism plugs in
 * behind `InterruptMechanism`.
 */
import type { RunObserver } from './evaluate';
import { Kind, type Header } from '../wire/protocol';

/**
 * How long an interrupted task waits for the CANCEL that caused it before calling the SIGINT
 * external (the check itself runs after a setImmediate, i.e. after pending messages are taken).
 */
export const INTERRUPT_GRACE = 250;
/** Longest wait for the keeper to take a SIGINT that a CANCEL raised while no task ran. */
export const SETTLE_WAIT = 1000;
/** How long to wait for the keeper thread before serving on without it. */
export const KEEPER_WAIT = 2000;

/** What delivers interrupts on this platform (POSIX: SigintKeeper). */
export interface InterruptMechanism extends RunObserver {
  /** True while it is ready to take a stray interrupt. */
  readonly up: boolean;
  /** True once it could not be kept running: tasks then run without interrupts. */
  readonly failed: boolean;
  /** Interrupts it absorbed (arrived while no task ran) so far. */
  readonly absorbed: number;
  /** Called after it absorbed one. */
  onAbsorb: (() => void) | undefined;
  /** Called once if it fails. */
  onFail: ((err: Error) => void) | undefined;
  /** A task is about to run: an interrupt from now on is the task's. */
  aboutToRun(): void;
  /** Blocks until `absorbed` differs from n, at most ms. */
  waitAbsorbed(n: number, ms: number): void;
  /** Blocks until up, at most ms. */
  waitUp(ms: number): boolean;
  /** Waits until up, at most ms, in a run an interrupt merely ends ('interrupted'). */
  waitUpInterruptibly(ms: number): 'ok' | 'timed-out' | 'interrupted';
  stop(): void;
}

export interface InterruptHooks {
  /** A SIGINT nothing here caused arrived while no task ran: the daemon stops ('interrupted'). */
  external(): void;
  /** The mechanism failed: tasks run without interrupts from now on. */
  unavailable(): void;
  /** After each check that followed an absorbed SIGINT (tests wait on it instead of sleeping). */
  checked?(external: boolean): void;
}

export class Interrupts {
  readonly #mech: InterruptMechanism;
  readonly #hooks: InterruptHooks;
  /** CANCELs taken on a receive armed for their task: SIGINTs the addon raised. */
  #caused = 0;
  /** SIGINTs that interrupted a run on the main thread. */
  #main = 0;
  /** Caused SIGINTs that never landed (two merged into one): no longer expected. */
  #lost = 0;
  #check: NodeJS.Timeout | undefined;
  #detached = false;

  constructor(mechanism: InterruptMechanism, hooks: InterruptHooks) {
    this.#mech = mechanism;
    this.#hooks = hooks;
    mechanism.onAbsorb = () => this.#scheduleCheck();
    mechanism.onFail = () => hooks.unavailable();
  }

  /** Tasks may run interruptibly (the mechanism has not failed). */
  get available(): boolean {
    return !this.#mech.failed;
  }

  /** Told from inside each task's run (the Evaluator's RunObserver). */
  get runs(): RunObserver {
    return this.#mech;
  }

  /** SIGINTs seen so far, caused or not (for tests and diagnostics). */
  get counts(): { caused: number; seen: number; lost: number } {
    return { caused: this.#caused, seen: this.#mech.absorbed + this.#main, lost: this.#lost };
  }

  /**
   * Before the receive armed for the first task of a run is posted: the mechanism must be up
   * (only the first task after start may have to wait for it), then `arm()`.
   */
  beforeArm(): void {
    if (!this.available) return;
    if (!this.#mech.up) this.#mech.waitUp(KEEPER_WAIT);
    this.arm();
  }

  /**
   * A task is about to run: every SIGINT caused so far has landed (waits for the keeper's
   * wake-up if one is in flight, at most SETTLE_WAIT ms; then counts it lost), and one from now
   * on is the task's.
   */
  arm(): void {
    if (!this.available) return;
    this.#settle();
    this.#mech.aboutToRun();
  }

  /** The task announced by arm() does not run after all. */
  disarm(): void {
    this.#mech.ran();
  }

  /**
   * A message was taken from a receive armed for task armedId (-1: not armed). The addon raised
   * SIGINT for it if it is exactly that task's CANCEL (flags 0): returns true then.
   */
  received(armedId: number, h: Header | null): boolean {
    const raised = armedId >= 0 && h !== null && h.kind === Kind.CANCEL && h.flags === 0 && h.id === armedId;
    if (raised) this.#caused++;
    return raised;
  }

  /**
   * A task's run was interrupted. The CANCEL that caused it is on its way: unless the returned
   * `explained()` is called within INTERRUPT_GRACE ms (plus a turn of the event loop, so that
   * pending messages are taken first), `unexplained()` is: the SIGINT came from outside.
   */
  interrupted(unexplained: () => void): () => void {
    this.#main++;
    const timer = setTimeout(() => setImmediate(unexplained), INTERRUPT_GRACE);
    return () => clearTimeout(timer);
  }

  /**
   * Nothing runs and a receive armed for a task may still be pending. If the mechanism is down
   * (restarting after its thread died), a SIGINT raised meanwhile would kill the process: wait
   * for it inside an interruptible run, which such a SIGINT merely ends.
   */
  idle(): void {
    if (this.#mech.up || this.#mech.failed) return;
    if (this.#mech.waitUpInterruptibly(KEEPER_WAIT) === 'interrupted') this.#main++;
  }

  /** The daemon is finishing: no more checks (the mechanism stays up until stop()). */
  detach(): void {
    this.#detached = true;
    clearTimeout(this.#check);
    this.#check = undefined;
    this.#mech.onAbsorb = undefined;
  }

  /** Releases the mechanism. */
  stop(): void {
    this.detach();
    this.#mech.stop();
  }

  #settle(): void {
    if (this.#mech.absorbed + this.#main >= this.#caused - this.#lost) return;
    const deadline = Date.now() + SETTLE_WAIT;
    for (;;) {
      const absorbed = this.#mech.absorbed;
      const missing = this.#caused - this.#lost - absorbed - this.#main;
      if (missing <= 0) return;
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#lost += missing;
        return;
      }
      this.#mech.waitAbsorbed(absorbed, left);
    }
  }

  /** The keeper absorbed a SIGINT: after the grace, one more than were caused is external. */
  #scheduleCheck(): void {
    if (this.#check !== undefined || this.#detached) return;
    this.#check = setTimeout(() => {
      setImmediate(() => {
        this.#check = undefined;
        if (this.#detached) return;
        const external = this.#mech.absorbed + this.#main > this.#caused - this.#lost;
        if (external) this.#hooks.external();
        this.#hooks.checked?.(external);
      });
    }, INTERRUPT_GRACE);
  }
}
