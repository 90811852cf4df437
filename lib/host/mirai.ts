/**
 * The Mirai class: what mirai() returns, on the host side. It settles once, with the value the
 * host core (lib/host/host.ts) decoded or with a MiraiError / ErrorValue, and it arms the
 * task's timeout and stop() through its Canceller (the host that sent it).
 */
import { abortError, Code, ErrorValue, MiraiError } from '../wire/errors';

/** How a Mirai is cancelled: set by whoever submitted it (the host of its profile). */
export interface Canceller {
  /** Stops task id: returns true if it was still queued or running. */
  cancel(id: number, code: typeof Code.TIMEOUT | typeof Code.CANCELED): boolean;
}

/**
 * A task's future value. Await it (or call `then`) for the result; it rejects with a
 * MiraiError (the task threw) or an ErrorValue (timed out, canceled, connection reset).
 * Nothing is thrown at you for a mirai you never await.
 */
export class Mirai<T = unknown> implements PromiseLike<T> {
  readonly id: number;
  #unresolved = true;
  #ok = false;
  // Stored untyped so that Mirai<T> stays assignable to Mirai<unknown>.
  #value: unknown;
  #promise: Promise<unknown> | undefined;
  #resolve: ((v: unknown) => void) | undefined;
  #reject: ((e: unknown) => void) | undefined;
  #canceller: Canceller | undefined;
  #timer: NodeJS.Timeout | undefined;

  /** @internal */
  constructor(id: number, canceller?: Canceller) {
    this.id = id;
    this.#canceller = canceller;
  }

  /** True until the task has settled. */
  get unresolved(): boolean {
    return this.#unresolved;
  }

  /** The value, or the MiraiError / ErrorValue, once settled; undefined before. */
  get data(): T | MiraiError | ErrorValue | undefined {
    return this.#value as T | MiraiError | ErrorValue | undefined;
  }

  /** @internal True once settled with a value (a task may return an Error as its value). */
  get succeeded(): boolean {
    return !this.#unresolved && this.#ok;
  }

  /**
   * Cancels the task: a queued task never runs; a running one is interrupted (with a
   * dispatcher). Settles with ErrorValue 20, named AbortError (TimeoutError if reason is
   * one), with `reason` as its cause. Returns true if it was still queued or running.
   */
  stop(reason?: unknown): boolean {
    if (!this.#unresolved) return false;
    const live = this.#canceller?.cancel(this.id, Code.CANCELED) ?? false;
    this.settleError(abortError(reason));
    return live;
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#settledPromise().then(onfulfilled, onrejected);
  }

  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.#settledPromise().catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.#settledPromise().finally(onfinally);
  }

  get [Symbol.toStringTag](): string {
    return 'Mirai';
  }

  // The promise is made on first use, so a failed mirai nobody awaits is not an unhandled
  // rejection.
  #settledPromise(): Promise<T> {
    if (!this.#promise) {
      if (!this.#unresolved) {
        this.#promise = this.#ok ? Promise.resolve(this.#value) : Promise.reject(this.#value);
      } else {
        this.#promise = new Promise<unknown>((resolve, reject) => {
          this.#resolve = resolve;
          this.#reject = reject;
        });
      }
    }
    return this.#promise as Promise<T>;
  }

  /** @internal Settles with ErrorValue 5 after ms unless settled before. */
  armTimeout(ms: number): void {
    this.#timer = setTimeout(() => {
      if (!this.#unresolved) return;
      this.#canceller?.cancel(this.id, Code.TIMEOUT);
      this.settleError(new ErrorValue(Code.TIMEOUT));
    }, ms);
    this.#timer.unref();
  }

  /** @internal */
  settleValue(v: T): void {
    if (!this.#unresolved) return;
    this.#finish(true, v);
    this.#resolve?.(v);
  }

  /** @internal */
  settleError(e: MiraiError | ErrorValue): void {
    if (!this.#unresolved) return;
    this.#finish(false, e);
    this.#reject?.(e);
  }

  #finish(ok: boolean, v: unknown): void {
    this.#unresolved = false;
    this.#ok = ok;
    this.#value = v;
    if (this.#timer) clearTimeout(this.#timer);
    this.#canceller = undefined;
    listeners.get(this)?.forEach((l) => l(this));
    listeners.delete(this);
  }
}

// Settle listeners for race/collect/miraiMap, without a promise per mirai.
const listeners = new WeakMap<Mirai<unknown>, Array<(m: Mirai<unknown>) => void>>();

/** @internal Calls fn once m has settled (at once if it has). */
export function onSettled<T>(m: Mirai<T>, fn: (m: Mirai<T>) => void): void {
  if (!m.unresolved) {
    fn(m);
    return;
  }
  const list = listeners.get(m as Mirai<unknown>) ?? [];
  list.push(fn as (m: Mirai<unknown>) => void);
  listeners.set(m as Mirai<unknown>, list);
}
