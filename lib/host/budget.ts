/**
 * Backpressure (daemons({ maxQueueBytes }), as mirai's `daemons(memory =)`): a cap on the bytes of
 * task messages a profile holds between submission and settlement, in the host, the NNG queues and
 * the dispatcher (a task is counted until it settles, so a running task's bytes count too: the
 * cap must leave room for one task per daemon to keep them all busy).
 *
 * A language without blocking calls cannot make mirai() wait, so a task that does not fit is not
 * submitted: tryMirai() returns null, mirai() throws QueueFullError, and whenRoom() resolves
 * once it may fit: `while (!(m = tryMirai(f, x))) await whenRoom()` pushes any number of tasks
 * through a small cap. Settlements wake the waiters; nothing polls.
 */

/** Thrown by mirai() when the task does not fit under the profile's maxQueueBytes. */
export class QueueFullError extends RangeError {
  readonly code = 'MIRAI_QUEUE_FULL';
  /** The task's size, what the profile holds and its cap, in bytes. */
  readonly bytes: number;
  readonly used: number;
  readonly limit: number;
  constructor(bytes: number, used: number, limit: number) {
    super(
      bytes > limit
        ? `the task is ${bytes} bytes, more than maxQueueBytes (${limit}): it can never be submitted`
        : `no room for a task of ${bytes} bytes: ${used} of maxQueueBytes ${limit} are taken (tryMirai() and whenRoom() wait for room)`,
    );
    this.name = 'QueueFullError';
    this.bytes = bytes;
    this.used = used;
    this.limit = limit;
  }
}

export class QueueBudget {
  readonly limit: number;
  #used = 0;
  readonly #sizes = new Map<number, number>();
  #waiters: Array<{ bytes: number; resolve: () => void }> = [];

  constructor(limit: number) {
    this.limit = limit;
  }

  get used(): number {
    return this.#used;
  }

  /** True if a task of `bytes` fits now. */
  fits(bytes: number): boolean {
    return this.#used + bytes <= this.limit;
  }

  /** Counts task id's bytes (checked with fits() first). */
  take(id: number, bytes: number): void {
    this.#sizes.set(id, bytes);
    this.#used += bytes;
  }

  /** Task id settled: its bytes are free again. */
  release(id: number): void {
    const bytes = this.#sizes.get(id);
    if (bytes === undefined) return;
    this.#sizes.delete(id);
    this.#used -= bytes;
    if (this.#waiters.length > 0)
      this.#waiters = this.#waiters.filter((w) => (this.fits(w.bytes) ? (w.resolve(), false) : true));
  }

  /** Resolves once a task of `bytes` fits (at once if it does now). */
  whenRoom(bytes: number): Promise<void> {
    if (bytes > this.limit) return Promise.reject(new QueueFullError(bytes, this.#used, this.limit));
    if (this.fits(bytes)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ bytes, resolve }));
  }

  /** The profile is gone: whoever waits for room goes on (their next submission says why). */
  close(): void {
    for (const w of this.#waiters.splice(0)) w.resolve();
  }
}
