/**
 * One way to supervise a child process, shared by local daemons (local.ts) and relaunched remote
 * launchers (remote.ts): after an unexpected exit, start a replacement after a backoff; after too
 * many unexpected exits in a short time (a crash loop), stop and say why.
 *
 * The owner decides what counts as unexpected (a daemon leaving on purpose does not) and how to
 * start a replacement; this holds only the policy and its timers.
 */

/** Respawn policy (exported for tests and docs; not user options). */
export const RESPAWN = {
  /** First delay before a replacement starts; doubles with each unexpected exit in a row. */
  firstDelayMs: 100,
  maxDelayMs: 5000,
  /** A process that stayed up this long resets the delay. */
  stableMs: 10_000,
  /** This many unexpected exits within windowMs is a crash loop: respawning stops. */
  limit: 5,
  windowMs: 30_000,
};

export interface RespawnHooks {
  /** A replacement was started (count: replacements so far). */
  onRespawn?(count: number): void;
  /** Respawning stopped after a crash loop; why, with the processes' output tail. */
  onGiveUp?(reason: string): void;
}

/** The warning a profile emits when respawning stops (the same for local and remote). */
export function warnRespawnStopped(profile: string, reason: string): void {
  process.emitWarning(`profile '${profile}': ${reason}`, { type: 'MiraiWarning', code: 'MIRAI_RESPAWN_STOPPED' });
}

export class Respawner {
  /** What is supervised, plural, for messages: 'local daemons', "launchers 'sh -c .'". */
  readonly #what: string;
  /** What the tail quoted on giving up is: 'stderr', 'output'. */
  readonly #tailName: string;
  #hooks: RespawnHooks | undefined;
  #stopped = false;
  /** Times of the unexpected exits within the crash-loop window. */
  #crashes: number[] = [];
  #delay = RESPAWN.firstDelayMs;
  #timers = new Set<NodeJS.Timeout>();
  #respawned = 0;
  #gaveUp: string | undefined;

  constructor(what: string, tailName = 'output') {
    this.#what = what;
    this.#tailName = tailName;
  }

  /** From now on, unexpected exits are replaced. */
  arm(hooks: RespawnHooks = {}): void {
    this.#hooks = hooks;
  }

  /** Armed, not stopped, not given up: an unexpected exit now would be replaced. */
  get active(): boolean {
    return this.#hooks !== undefined && !this.#stopped && this.#gaveUp === undefined;
  }

  /**
   * One of them, started at `started` (Date.now()), ended unexpectedly (`how`: 'exit code 3').
   * Schedules start() after the backoff, or gives up on a crash loop (`tail`: output to quote).
   * Does nothing unless active.
   */
  unexpectedExit(started: number, how: string, start: () => void, tail: () => string = () => ''): void {
    if (!this.active) return;
    const now = Date.now();
    if (now - started >= RESPAWN.stableMs) this.#delay = RESPAWN.firstDelayMs;
    this.#crashes = this.#crashes.filter((t) => now - t < RESPAWN.windowMs);
    this.#crashes.push(now);
    if (this.#crashes.length >= RESPAWN.limit) {
      const out = tail();
      this.giveUp(
        `${this.#crashes.length} ${this.#what} exited unexpectedly within ${RESPAWN.windowMs / 1000} s ` +
          `(last: ${how}); not respawning any more` +
          (out ? `; their ${this.#tailName} ends:\n${out.slice(-2000)}` : ''),
      );
      return;
    }
    const delay = this.#delay;
    this.#delay = Math.min(this.#delay * 2, RESPAWN.maxDelayMs);
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (this.#stopped) return;
      try {
        start();
      } catch (e) {
        this.giveUp(`${this.#what}: a replacement could not be started: ${(e as Error).message}`);
        return;
      }
      this.#respawned++;
      this.#hooks?.onRespawn?.(this.#respawned);
    }, delay);
    // An idle profile must not keep the process alive just to replace a process.
    t.unref();
    this.#timers.add(t);
  }

  /** Stops respawning for good with `reason`; notify: false when the caller reports it itself. */
  giveUp(reason: string, notify = true): void {
    if (this.#gaveUp !== undefined) return;
    this.#gaveUp = reason;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    if (notify) this.#hooks?.onGiveUp?.(reason);
  }

  /** No more replacements: what exits from now on is part of a teardown. */
  disarm(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  /** How many replacements were started. */
  get respawned(): number {
    return this.#respawned;
  }

  /** Why respawning stopped (a crash loop), if it did. */
  get gaveUp(): string | undefined {
    return this.#gaveUp;
  }
}
