/**
 * The host's everywhere() calls in flight: one answer is due from each daemon a call went to
 * (the link tells how many: `arrived`), and at least `min`; a call waits to go out until `min`
 * daemons are connected; `timeout` settles it by its deadline with ErrorValue 5 for every answer
 * still due, and has the link interrupt the daemons still running it. A call that fails rejects
 * with its first error, which carries every daemon's outcome as `results`.
 */
import { Code, ErrorValue } from '../wire/errors';

interface Call {
  expected: number | undefined;
  /** At least this many answers are due (everywhere({ min })). */
  min: number;
  timer: NodeJS.Timeout | undefined;
  /** The call's message until it has gone out (it waits for `min` daemons). */
  unsent: Buffer[] | undefined;
  results: unknown[];
  /** The first failure: a MiraiError (it threw) or an ErrorValue (lost, timed out). */
  error: Error | undefined;
  resolve: (v: unknown[]) => void;
  reject: (e: unknown) => void;
}

/** What the calls need of their host. */
export interface EverywhereLink {
  /** Sends call id to the daemons (when the host may still send). */
  send(id: number, parts: Buffer[]): void;
  /** Call id expired: interrupt the daemons still running it. */
  stop(id: number): void;
}

export class EverywhereCalls {
  readonly #calls = new Map<number, Call>();
  readonly #link: EverywhereLink;

  constructor(link: EverywhereLink) {
    this.#link = link;
  }

  has(id: number): boolean {
    return this.#calls.has(id);
  }

  /** Registers call id (not sent yet: see send()); settles by `timeout` ms if given. */
  start(id: number, parts: Buffer[], min: number, timeout: number | undefined): Promise<unknown[]> {
    let call!: Call;
    const p = new Promise<unknown[]>((resolve, reject) => {
      call = {
        expected: undefined,
        min,
        timer: undefined,
        unsent: parts,
        results: [],
        error: undefined,
        resolve,
        reject,
      };
    });
    this.#calls.set(id, call);
    if (timeout !== undefined) call.timer = setTimeout(() => this.#expired(id, call), timeout);
    return p;
  }

  /** Sends call id now, unless it has gone out already or settled. */
  send(id: number): void {
    const call = this.#calls.get(id);
    const parts = call?.unsent;
    if (parts === undefined) return;
    call!.unsent = undefined;
    this.#link.send(id, parts);
  }

  /** Call id went to `expected` daemons. */
  arrived(id: number, expected: number): void {
    const call = this.#calls.get(id);
    if (!call) return;
    call.expected = expected;
    this.#maybeDone(id, call);
  }

  /** One daemon's outcome for call id (a value, a MiraiError, an ErrorValue). */
  result(id: number, v: unknown, isError: boolean): void {
    const call = this.#calls.get(id);
    if (!call) return;
    call.results.push(v);
    if (isError && !call.error) call.error = v as Error;
    this.#maybeDone(id, call);
  }

  /** Every call fails with err (the host closed, or its far side is gone). */
  rejectAll(err: () => Error): void {
    for (const call of this.#calls.values()) {
      clearTimeout(call.timer);
      call.reject(err());
    }
    this.#calls.clear();
  }

  #maybeDone(id: number, call: Call): void {
    if (call.expected === undefined || call.results.length < Math.max(call.expected, call.min)) return;
    this.#settle(id, call);
  }

  /** everywhere({ timeout }) ran out: every answer still due is ErrorValue 5. */
  #expired(id: number, call: Call): void {
    call.timer = undefined;
    if (call.unsent !== undefined)
      this.send(id); // it never got its `min` daemons: it goes out now, unstopped
    else this.#link.stop(id);
    if (this.#calls.get(id) !== call) return;
    const due = Math.max(call.expected ?? 0, call.min);
    while (call.results.length < due) call.results.push(new ErrorValue(Code.TIMEOUT));
    call.error ??= call.results.find((r): r is ErrorValue => r instanceof ErrorValue && r.code === Code.TIMEOUT);
    this.#settle(id, call);
  }

  #settle(id: number, call: Call): void {
    this.#calls.delete(id);
    clearTimeout(call.timer);
    if (!call.error) return call.resolve(call.results);
    // Every daemon's outcome stays reachable from the rejection.
    Object.defineProperty(call.error, 'results', { value: call.results, enumerable: false, configurable: true });
    call.reject(call.error);
  }
}
