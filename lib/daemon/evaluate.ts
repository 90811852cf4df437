/**
 * Running one task in the daemon process.
 *
 * - A function task ('f') is the function's source: compiled once per distinct source (small
 *   cache) as `(${src})` and called as `fn(data, { signal })`.
 * - A code string ('c') is evaluated like `eval` at global scope with the keys of `data` in scope
 *   as local names, its completion value being the result. It is run as a direct eval inside
 *   `with (scope)`, where scope is a null-prototype copy of data: top-level `var` / `function`
 *   declarations become (deletable) globals, `let` / `const` stay local to the string, and
 *   functions it defines keep seeing the data keys.
 * - Both run through one pre-compiled `vm.Script` with `breakOnSigint`, so a SIGINT (raised by the
 *   addon when a CANCEL arrives) interrupts even a synchronous infinite loop. Code compiled here is
 *   given the main context's default loader, so task code can `import()` what the daemon's working
 *   directory resolves; `require` (resolving from the working directory too) is a global.
 * - `cleanup`: after a task, enumerable globals it created are deleted (a global that cannot be
 *   deleted is set to undefined). After an EVERYWHERE task, the current globals become the
 *   baseline instead. The check is one `Object.keys(globalThis)` and a length comparison when the
 *   task created nothing; non-enumerable globals (`Object.defineProperty`) are not tracked.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';
import type { TaskPayload } from '../wire/protocol';
import { withTraceparent } from '../wire/trace';

const RUN = Symbol.for('mirai.run');

/** vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER (Node >= 20.12): import() in task code. */
const IMPORT_LOADER: symbol | undefined = (
  vm as unknown as { constants?: { USE_MAIN_CONTEXT_DEFAULT_LOADER?: symbol } }
).constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER;

const RUN_INTERRUPTIBLE = { breakOnSigint: true, displayErrors: false } as const;
const RUN_PLAIN = { displayErrors: false } as const;

/** How many compiled functions are kept. */
const CACHE_SIZE = 128;

/** What the runner scripts read (a symbol-keyed global: invisible to the cleanup's key scan). */
interface Slot {
  fn: ((data: unknown, ctx: TaskContext) => unknown) | undefined;
  data: unknown;
  ctx: TaskContext | undefined;
  code: string;
  scope: object;
  runs: RunObserver | undefined;
  call(): unknown;
  entered(): void;
}

const UNSCOPABLES = Object.freeze({ __proto__: null, eval: true, __mirai$: true });
const EMPTY_SCOPE: object = Object.freeze(Object.create(null, { [Symbol.unscopables]: { value: UNSCOPABLES } }));

let slot: Slot | undefined;
let runFunction: vm.Script;
let runCode: vm.Script;

/** Task functions are compiled as this (non-existent) file of the working directory, the runners as RUNNER. */
const TASK_FILE = '[mirai task]';
const RUNNER_FILE = '[mirai runner]';
const RUNNER_FRAME = /\[mirai runner\]:\d+:\d+\)?$/;

function scriptOptions(file = TASK_FILE): vm.ScriptOptions {
  // import() from task code resolves relative to this file, in the working directory.
  const filename = path.join(process.cwd(), file);
  const o: vm.ScriptOptions = { filename };
  if (IMPORT_LOADER !== undefined) (o as Record<string, unknown>).importModuleDynamically = IMPORT_LOADER;
  return o;
}

/**
 * Installs what task code relies on: the `require` global (from the working directory) and the
 * runner. Idempotent. Called by the daemon at startup, before the globals baseline is taken.
 */
export function installTaskGlobals(): void {
  if (slot) return;
  const g = globalThis as unknown as Record<PropertyKey, unknown>;
  if (typeof g.require !== 'function') {
    Object.defineProperty(g, 'require', {
      value: createRequire(path.join(process.cwd(), '/')),
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
  // Functions written in TypeScript and run through esbuild (tsx, vite) with keepNames call a
  // helper `__name(fn, name)` that exists only in the host's module: provide it.
  if (typeof g.__name !== 'function') {
    Object.defineProperty(g, '__name', {
      value: (fn: unknown, name: string) => {
        try {
          Object.defineProperty(fn as object, 'name', { value: name, configurable: true });
        } catch {
          // a frozen function keeps its own name
        }
        return fn;
      },
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
  silenceLoaderWarning();
  const s: Slot = {
    fn: undefined,
    data: undefined,
    ctx: undefined,
    code: '',
    scope: EMPTY_SCOPE,
    runs: undefined,
    call() {
      s.runs?.entered();
      return s.fn!(s.data, s.ctx!);
    },
    entered() {
      s.runs?.entered();
    },
  };
  Object.defineProperty(g, RUN, { value: s, writable: false, enumerable: false, configurable: true });
  slot = s;
  const opts = scriptOptions(RUNNER_FILE);
  runFunction = new vm.Script('globalThis[Symbol.for("mirai.run")].call()', opts);
  // The block-scoped const is resolved before `with`; UNSCOPABLES keep data keys named `eval` or
  // `__mirai$` from shadowing them inside it.
  runCode = new vm.Script(
    '{ const __mirai$ = globalThis[Symbol.for("mirai.run")]; __mirai$.entered(); with (__mirai$.scope) { eval(__mirai$.code) } }',
    opts,
  );
}

/** Node flags USE_MAIN_CONTEXT_DEFAULT_LOADER as experimental once; that note is not the user's concern. */
function silenceLoaderWarning(): void {
  const orig = process.emitWarning;
  const filtered = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === 'string' ? warning : warning?.message;
    if (typeof text === 'string' && text.includes('USE_MAIN_CONTEXT_DEFAULT_LOADER')) return;
    return (orig as (...a: unknown[]) => void).call(process, warning, ...rest);
  };
  process.emitWarning = filtered as typeof process.emitWarning;
}

/** The second argument of a function task: `{ signal }`, aborted when the task is cancelled. */
export class TaskContext {
  #ctl: AbortController | undefined;
  #aborted = false;
  /** W3C traceparent of the host's span for this task, when the host traces (OpenTelemetry). */
  traceparent: string | undefined;
  /** Created on first use: tasks that never look at it cost nothing. */
  get signal(): AbortSignal {
    if (!this.#ctl) {
      this.#ctl = new AbortController();
      if (this.#aborted) this.#ctl.abort();
    }
    return this.#ctl.signal;
  }
  /** @internal */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#ctl?.abort();
  }
}

/** Cuts the daemon's own frames (the runner, this file, node:vm) off the end of a task's stack. */
export function trimStack(stack: string): string {
  const lines = stack.split('\n');
  const i = lines.findIndex((l) => l.startsWith('    at ') && (l.includes(__filename) || RUNNER_FRAME.test(l)));
  return i < 0 ? stack : lines.slice(0, i).join('\n');
}

/** True for the error a breakOnSigint run throws when a SIGINT interrupted it. */
export function isInterrupt(e: unknown): boolean {
  return e instanceof Error && (e as NodeJS.ErrnoException).code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED';
}

/** True when v has a callable `then`. */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    v !== null &&
    (typeof v === 'object' || typeof v === 'function') &&
    typeof (v as { then?: unknown }).then === 'function'
  );
}

const fnCache = new Map<string, (data: unknown, ctx: TaskContext) => unknown>();

/** Compiles a function's source (cached). Also accepts method shorthand (`f(x) { ... }`). */
export function compileFunction(src: string): (data: unknown, ctx: TaskContext) => unknown {
  let fn = fnCache.get(src);
  if (fn !== undefined) return fn;
  const opts = scriptOptions();
  let value: unknown;
  try {
    value = new vm.Script(`(${src}\n)`, opts).runInThisContext(RUN_PLAIN);
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    // `({ f(x) { ... } })` gives a method's source back its object; anything else: the first error.
    try {
      const obj = new vm.Script(`({${src}\n})`, opts).runInThisContext(RUN_PLAIN) as Record<string, unknown>;
      const values = Object.values(obj);
      value = values.length === 1 ? values[0] : undefined;
    } catch {
      throw e;
    }
    if (typeof value !== 'function') throw e;
  }
  if (typeof value !== 'function') {
    throw new TypeError(
      `the task's source did not evaluate to a function (got ${value === null ? 'null' : typeof value})`,
    );
  }
  fn = value as (data: unknown, ctx: TaskContext) => unknown;
  if (fnCache.size >= CACHE_SIZE) fnCache.delete(fnCache.keys().next().value as string);
  fnCache.set(src, fn);
  return fn;
}

function codeScope(data: unknown): object {
  if (data === undefined || data === null) return EMPTY_SCOPE;
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new TypeError(
      `data for a code string must be an object whose keys become local names (got ${Array.isArray(data) ? 'an array' : typeof data})`,
    );
  }
  const scope = Object.assign(Object.create(null), data) as Record<PropertyKey, unknown>;
  scope[Symbol.unscopables] = UNSCOPABLES;
  return scope;
}

export interface EvaluatorOptions {
  /** Remove the globals a (non-everywhere) task created. Default true. */
  cleanup?: boolean;
  /** Run with breakOnSigint (needs the SIGINT keeper for cheap calls). Default true. */
  interruptible?: boolean;
  /** Told from inside a task's run that it started, and after it that it ended (the SIGINT keeper). */
  runs?: RunObserver;
}

export interface RunObserver {
  entered(): void;
  ran(): void;
}

/** Runs tasks one at a time and keeps the global scope clean between them. */
export class Evaluator {
  readonly cleanup: boolean;
  interruptible: boolean;
  readonly #runs: RunObserver | undefined;
  #baseline = new Set<string>();
  #count = 0;

  constructor(opts: EvaluatorOptions = {}) {
    this.cleanup = opts.cleanup ?? true;
    this.interruptible = opts.interruptible ?? true;
    this.#runs = opts.runs;
    installTaskGlobals();
    if (this.cleanup) this.#snapshot();
  }

  /**
   * Runs the synchronous part of a task and returns its value (maybe a thenable, which the caller
   * awaits). Throws what the task threw, or an interrupt error (`isInterrupt`) on SIGINT.
   */
  run(p: TaskPayload, ctx: TaskContext): unknown {
    const s = slot!;
    try {
      if (p === null || typeof p !== 'object' || typeof p.src !== 'string' || (p.type !== 'f' && p.type !== 'c')) {
        throw new TypeError("malformed task: expected { type: 'f' | 'c', src: string, data }");
      }
      let script: vm.Script;
      if (p.type === 'f') {
        s.fn = compileFunction(p.src);
        s.data = p.data;
        s.ctx = ctx;
        script = runFunction;
      } else {
        s.scope = codeScope(p.data);
        s.code = p.src;
        script = runCode;
      }
      s.runs = this.interruptible ? this.#runs : undefined;
      const opts = this.interruptible ? RUN_INTERRUPTIBLE : RUN_PLAIN;
      if (p.trace === undefined) return script.runInThisContext(opts);
      ctx.traceparent = p.trace;
      return withTraceparent(p.trace, () => script.runInThisContext(opts));
    } finally {
      this.#runs?.ran();
      s.runs = undefined;
      s.fn = undefined;
      s.data = undefined;
      s.ctx = undefined;
      s.scope = EMPTY_SCOPE;
      s.code = '';
    }
  }

  /** After a task settled or was abandoned: cleanup, or (everywhere) adopt its globals. */
  done(everywhere: boolean): void {
    if (!this.cleanup) return;
    if (everywhere) {
      this.#snapshot();
      return;
    }
    const keys = Object.keys(globalThis);
    if (keys.length === this.#count) return;
    const g = globalThis as unknown as Record<string, unknown>;
    let kept = false;
    for (const k of keys) {
      if (this.#baseline.has(k)) continue;
      if (!Reflect.deleteProperty(g, k)) {
        try {
          g[k] = undefined;
        } catch {
          /* read-only and permanent: nothing more to do */
        }
        kept = true;
      }
    }
    if (kept || Object.keys(globalThis).length !== this.#count) this.#snapshot();
  }

  #snapshot(): void {
    const keys = Object.keys(globalThis);
    this.#baseline = new Set(keys);
    this.#count = keys.length;
  }
}

/**
 * Blocks until `Atomics.load(cell, index) !== 0` or `ms` pass, inside a breakOnSigint run so that
 * a SIGINT ends it. Returns 'ok', 'timed-out' or 'interrupted'.
 */
export function waitInterruptibly(cell: Int32Array, index: number, ms: number): 'ok' | 'timed-out' | 'interrupted' {
  const g = globalThis as unknown as Record<symbol, unknown>;
  const key = Symbol.for('mirai.wait');
  g[key] = { cell, index, ms };
  try {
    const r = waitScript().runInThisContext(RUN_INTERRUPTIBLE) as string;
    return r === 'timed-out' ? 'timed-out' : 'ok';
  } catch (e) {
    if (isInterrupt(e)) return 'interrupted';
    throw e;
  } finally {
    delete g[key];
  }
}

let waitScriptCache: vm.Script | undefined;
function waitScript(): vm.Script {
  return (waitScriptCache ??= new vm.Script(
    '{ const w = globalThis[Symbol.for("mirai.wait")]; Atomics.wait(w.cell, w.index, 0, w.ms) }',
    { filename: 'mirai:wait' },
  ));
}
