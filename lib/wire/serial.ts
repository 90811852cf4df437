/**
 * Custom serialization (`serial` option of daemons()): instances of registered classes, which
 * the structured clone would flatten to plain objects (a URL arrives as `{}`, a class instance
 * loses its prototype), travel as what their `serialize` returns and are rebuilt by
 * `deserialize` on the other side. Both directions: task data and results, and everywhere().
 *
 * The host keeps the functions; daemons get their source text through an everywhere() call that
 * daemons() issues first (so it reaches daemons that join later, before their first task) and
 * compile it when they next encode or decode. Without `serial`, nothing here runs: values go
 * straight to v8.serialize.
 */
import { describe } from './validate';
import { functionSource } from './payload';

/** How instances of one class cross between host and daemons. */
export interface SerialConfig {
  /**
   * The class name (`constructor.name`) whose instances use these functions, on the host and
   * on the daemons: `'URL'`, `'Table'`. Subclasses match too, unless registered themselves.
   */
  class: string;
  /**
   * Turns an instance into something the structured clone carries (a Buffer, typed array,
   * string, plain object...). Sent to daemons as source text: it must not use host closures
   * (`require` is available on daemons).
   */
  serialize: (value: any) => unknown;
  /** Rebuilds the instance from what `serialize` returned. Sent to daemons as source text too. */
  deserialize: (data: any) => unknown;
}

/** What daemons receive: the class names and function sources, in order. */
export interface SerialSources {
  classes: string[];
  serialize: string[];
  deserialize: string[];
}

/** The daemon global (symbol-keyed: task cleanup never sees it) holding SerialSources. */
export const SERIAL_GLOBAL = Symbol.for('mirai.serial');

/** The key marking a replaced instance: { [MARK]: index of its config, d: serialized data }. */
const MARK = '\u0000mirai.serial';

type Fn = (v: any) => unknown;

/** Checks a `serial` option; returns the configs as an array. Throws a TypeError naming the problem. */
export function checkSerial(value: unknown): SerialConfig[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0)
    throw new TypeError(
      'daemons(): serial must be a { class, serialize, deserialize } object or a non-empty array of them (got an empty array)',
    );
  const seen = new Set<string>();
  return list.map((c, i) => {
    const at = Array.isArray(value) ? `serial[${i}]` : 'serial';
    if (c === null || typeof c !== 'object') {
      throw new TypeError(`daemons(): ${at} must be a { class, serialize, deserialize } object (got ${describe(c)})`);
    }
    const { class: name, serialize, deserialize } = c as Record<string, unknown>;
    if (typeof name !== 'string' || !/^[\p{L}_$][\p{L}\p{N}_$]*$/u.test(name)) {
      throw new TypeError(`daemons(): ${at}.class must be a class name such as 'URL' (got ${describe(name)})`);
    }
    if (seen.has(name)) throw new TypeError(`daemons(): ${at}.class '${name}' is registered twice`);
    seen.add(name);
    for (const [key, fn] of [
      ['serialize', serialize],
      ['deserialize', deserialize],
    ] as const) {
      if (typeof fn !== 'function')
        throw new TypeError(`daemons(): ${at}.${key} must be a function (got ${describe(fn)})`);
      functionSource(fn); // native code cannot be sent: a clear error now
    }
    return { class: name, serialize: serialize as Fn, deserialize: deserialize as Fn };
  });
}

/** The source texts daemons compile. */
export function serialSources(configs: readonly SerialConfig[]): SerialSources {
  return {
    classes: configs.map((c) => c.class),
    serialize: configs.map((c) => functionSource(c.serialize)),
    deserialize: configs.map((c) => functionSource(c.deserialize)),
  };
}

/** Replaces registered instances by markers (pack) and back (unpack). */
export class SerialCodec {
  readonly #index = new Map<string, number>();
  readonly #classes: string[];
  readonly #serialize: Fn[];
  readonly #deserialize: Fn[];

  constructor(classes: string[], serialize: Fn[], deserialize: Fn[]) {
    classes.forEach((c, i) => this.#index.set(c, i));
    this.#classes = classes;
    this.#serialize = serialize;
    this.#deserialize = deserialize;
  }

  static fromConfigs(configs: readonly SerialConfig[]): SerialCodec {
    return new SerialCodec(
      configs.map((c) => c.class),
      configs.map((c) => c.serialize),
      configs.map((c) => c.deserialize),
    );
  }

  /**
   * value with every registered instance inside it (arrays, plain objects, Maps, Sets) replaced
   * by a marker. Returns value itself, uncopied, when it holds none; otherwise a copy of the
   * containers on the way (the caller's objects are never modified). Cycles are kept.
   */
  pack(value: unknown): unknown {
    if (value === null || typeof value !== 'object') return value;
    if (!this.#holdsInstance(value, new Set())) return value;
    return this.#copy(value, new Map());
  }

  /** Rebuilds the instances that pack() replaced, in place (value is freshly deserialized). */
  unpack(value: unknown): unknown {
    if (value === null || typeof value !== 'object') return value;
    return this.#revive(value, new Set(), new Map());
  }

  /** Index of the config for v's class (or nearest registered base class), or -1. */
  #match(v: object): number {
    for (let p = Object.getPrototypeOf(v); p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      const ctor = Object.prototype.hasOwnProperty.call(p, 'constructor')
        ? (p as { constructor?: unknown }).constructor
        : undefined;
      const i = typeof ctor === 'function' ? this.#index.get(ctor.name) : undefined;
      if (i !== undefined) return i;
    }
    return -1;
  }

  #holdsInstance(v: object, seen: Set<object>): boolean {
    if (seen.has(v)) return false;
    seen.add(v);
    if (this.#match(v) >= 0) return true;
    for (const child of children(v)) {
      if (child !== null && typeof child === 'object' && this.#holdsInstance(child, seen)) return true;
    }
    return false;
  }

  #copy(v: unknown, done: Map<object, unknown>): unknown {
    if (v === null || typeof v !== 'object') return v;
    const hit = done.get(v);
    if (hit !== undefined) return hit;
    const i = this.#match(v);
    if (i >= 0) {
      let data: unknown;
      try {
        data = this.#serialize[i]!(v);
      } catch (e) {
        throw new TypeError(`serial: serialize for class '${this.#classes[i]}' threw: ${(e as Error)?.message ?? e}`);
      }
      const marker = { [MARK]: i, d: data };
      done.set(v, marker);
      return marker;
    }
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      done.set(v, out);
      for (let k = 0; k < v.length; k++) out.push(this.#copy(v[k], done));
      return out;
    }
    if (v instanceof Map) {
      const out = new Map();
      done.set(v, out);
      for (const [k, x] of v) out.set(this.#copy(k, done), this.#copy(x, done));
      return out;
    }
    if (v instanceof Set) {
      const out = new Set();
      done.set(v, out);
      for (const x of v) out.add(this.#copy(x, done));
      return out;
    }
    if (!isPlain(v)) return v; // Dates, Buffers, Errors, other classes: as the clone treats them
    const out: Record<string, unknown> = {};
    done.set(v, out);
    for (const k of Object.keys(v)) out[k] = this.#copy((v as Record<string, unknown>)[k], done);
    return out;
  }

  /** rebuilt: one instance per marker, so a value sent twice arrives as one object twice. */
  #revive(v: object, seen: Set<object>, rebuilt: Map<object, unknown>): unknown {
    if (isMarker(v)) {
      if (!rebuilt.has(v)) rebuilt.set(v, this.#rebuild(v));
      return rebuilt.get(v);
    }
    if (seen.has(v)) return v;
    seen.add(v);
    const fix = (x: unknown): unknown => (x !== null && typeof x === 'object' ? this.#revive(x, seen, rebuilt) : x);
    if (Array.isArray(v)) {
      for (let k = 0; k < v.length; k++) v[k] = fix(v[k]);
    } else if (v instanceof Map) {
      const entries = [...v].map(([k, x]) => [fix(k), fix(x)] as const);
      v.clear();
      for (const [k, x] of entries) v.set(k, x);
    } else if (v instanceof Set) {
      const items = [...v].map(fix);
      v.clear();
      for (const x of items) v.add(x);
    } else if (isPlain(v)) {
      for (const k of Object.keys(v)) (v as Record<string, unknown>)[k] = fix((v as Record<string, unknown>)[k]);
    }
    return v;
  }

  #rebuild(m: Record<string, unknown>): unknown {
    const i = m[MARK] as number;
    const fn = this.#deserialize[i];
    if (fn === undefined)
      throw new TypeError(`serial: a value of a class this side has no deserialize for (config ${i})`);
    try {
      return fn(m.d);
    } catch (e) {
      throw new TypeError(`serial: deserialize for class '${this.#classes[i]}' threw: ${(e as Error)?.message ?? e}`);
    }
  }
}

function isPlain(v: object): boolean {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

function isMarker(v: object): v is Record<string, unknown> {
  return isPlain(v) && typeof (v as Record<string, unknown>)[MARK] === 'number';
}

function children(v: object): Iterable<unknown> {
  if (Array.isArray(v)) return v;
  if (v instanceof Map) return [...v.keys(), ...v.values()];
  if (v instanceof Set) return v;
  return isPlain(v) ? Object.values(v) : [];
}

// ---- daemon side ----

let installed: SerialSources | undefined;
let installedCodec: SerialCodec | undefined;

/**
 * The codec the host's everywhere() installed on this daemon, compiled on first use (compile
 * is evaluate.ts's, so method shorthand and `require` work as in tasks); undefined without one.
 */
export function daemonCodec(compile: (src: string) => (...args: any[]) => unknown): SerialCodec | undefined {
  const s = (globalThis as Record<symbol, unknown>)[SERIAL_GLOBAL] as SerialSources | undefined;
  if (s === undefined) return undefined;
  if (s !== installed) {
    const fns = (srcs: string[]): Fn[] => srcs.map((src) => compile(src) as Fn);
    installedCodec = new SerialCodec(s.classes, fns(s.serialize), fns(s.deserialize));
    installed = s;
  }
  return installedCodec;
}
