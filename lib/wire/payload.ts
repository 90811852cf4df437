/** Turning a function or code string plus data into a TaskPayload, with clear errors. */
import * as v8 from 'node:v8';
import { describe } from './validate';
import type { TaskPayload } from './protocol';

const sources = new WeakMap<Function, string>();

/** The source text a function is sent as (cached per function). */
export function functionSource(fn: Function): string {
  let src = sources.get(fn);
  if (src === undefined) {
    src = Function.prototype.toString.call(fn);
    if (src.endsWith('{ [native code] }')) {
      // A task travels as its source text: bound functions and built-ins have none.
      const bound = fn.name.startsWith('bound ');
      const name = bound ? fn.name.slice(6) || 'an anonymous function' : fn.name || 'this function';
      throw new TypeError(
        bound
          ? `mirai: ${name} was bound (fn.bind()): a bound function has no source to send to a daemon; pass an arrow function that calls it, and what it was bound to in data`
          : `mirai: ${name} is a built-in (native) function: it has no source to send to a daemon; wrap it, e.g. (d) => ${fn.name || 'fn'}(d.x)`,
      );
    }
    sources.set(fn, src);
  }
  return src;
}

/** Builds the payload, checking the function / code string and that data is a plain object. */
export function makePayload(what: string, task: unknown, data: unknown): TaskPayload {
  if (data !== undefined && (data === null || typeof data !== 'object')) {
    throw new TypeError(`${what}: data must be an object whose keys the task receives (got ${describe(data)})`);
  }
  if (typeof task === 'function') return { type: 'f', src: functionSource(task), data };
  if (typeof task === 'string') return { type: 'c', src: task, data };
  throw new TypeError(`${what}: expected a function or a code string (got ${describe(task)})`);
}

/** An error from v8.serialize (its DataCloneError reaches us as a plain Error). */
export function isCloneError(e: unknown): boolean {
  return e instanceof Error && /could not be cloned|Unserializable|serializ/i.test(e.message);
}

/**
 * Throws a TypeError naming the key of data that v8.serialize cannot send; called only after
 * serialization already failed, so the hot path pays nothing.
 */
export function explainUnserializable(what: string, data: unknown, err: unknown): never {
  if (data && typeof data === 'object') {
    for (const [k, v] of Object.entries(data)) {
      try {
        v8.serialize(v);
      } catch (e) {
        throw new TypeError(`${what}: data key '${k}' cannot be sent to a daemon: ${(e as Error).message}`);
      }
    }
  }
  throw new TypeError(`${what}: data cannot be sent to a daemon: ${(err as Error).message}`);
}
