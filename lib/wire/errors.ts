/**
 * The two ways a mirai can fail, shared by the host side and the daemon:
 *
 * - `MiraiError`: the task threw. Carries the remote `name`, `message`, `stack` and the error's
 *   own enumerable properties (e.g. `code`), as they were on the daemon.
 * - `ErrorValue`: the task ended without a result: 5 timed out, 7 closed, 19 connection reset
 *   (the daemon died or left mid-task), 20 canceled.
 */
import * as v8 from 'node:v8';
import { types } from 'node:util';
import type { ErrorPayload } from './protocol';

const MIRAI_ERROR = Symbol.for('mirai.MiraiError');
const ERROR_VALUE = Symbol.for('mirai.ErrorValue');

/** Keys carried by name/message/stack themselves, never copied as properties. */
const RESERVED = new Set(['name', 'message', 'stack']);

export interface MiraiErrorInit {
  /** The remote error's name (default 'Error'). */
  name?: string;
  /** The remote stack (default: `${name}: ${message}`). */
  stack?: string;
  /** Own properties to copy onto the instance. */
  props?: Record<string, unknown>;
}

/** The task threw on the daemon. `name`, `message`, `stack` and own properties are the remote ones. */
export class MiraiError extends Error {
  constructor(message: string, init: MiraiErrorInit = {}) {
    super(message);
    const name = init.name ?? 'Error';
    define(this, 'name', name);
    define(this, 'stack', init.stack ?? `${name}: ${message}`);
    const props = init.props;
    if (props !== null && typeof props === 'object') {
      for (const key of Object.keys(props)) {
        if (RESERVED.has(key)) continue;
        // defineProperty, not assignment: a remote '__proto__' key must stay a plain property.
        Object.defineProperty(this, key, { value: props[key], writable: true, enumerable: true, configurable: true });
      }
    }
  }

  /** Rebuilds the error a daemon sent. Tolerates a malformed payload (never throws). */
  static fromPayload(p: ErrorPayload): MiraiError {
    if (p === null || typeof p !== 'object') return new MiraiError(String(p));
    return new MiraiError(typeof p.message === 'string' ? p.message : String(p.message ?? ''), {
      name: typeof p.name === 'string' ? p.name : 'Error',
      stack: typeof p.stack === 'string' ? p.stack : undefined,
      props: p.props !== null && typeof p.props === 'object' ? p.props : undefined,
    });
  }
}
Object.defineProperty(MiraiError.prototype, MIRAI_ERROR, { value: true });

/**
 * ErrorValue codes, by name: the numbers are NNG's (and R mirai's) errno values, and they cross
 * the wire in the flags of an ERROR_VALUE message.
 */
export const Code = {
  /** The task's timeout passed. */
  TIMEOUT: 5,
  /** The host (or its profile) was closed. */
  CLOSED: 7,
  /** Its daemon or the dispatcher died or left while it ran (it may have run). */
  RESET: 19,
  /** Stopped: m.stop(), an AbortSignal, or a CANCEL that reached the daemon. */
  CANCELED: 20,
} as const;
export type ErrorValueCode = (typeof Code)[keyof typeof Code];

const ERROR_VALUE_MESSAGES: Record<ErrorValueCode, string> = {
  [Code.TIMEOUT]: 'timed out',
  [Code.CLOSED]: 'closed',
  [Code.RESET]: 'connection reset',
  [Code.CANCELED]: 'canceled',
};

/** The code an ERROR_VALUE's flags carry (low byte); codes this side does not know read as CANCELED. */
export function codeFromWire(flags: number): ErrorValueCode {
  const c = flags & 0xff;
  return c === Code.TIMEOUT || c === Code.CLOSED || c === Code.RESET ? c : Code.CANCELED;
}

/**
 * The task ended without a result. `code`: 5 timed out, 7 closed, 19 connection reset, 20
 * canceled. A task stopped through an AbortSignal or `m.stop(reason)` is named as Node names
 * such errors, `AbortError` (`TimeoutError` for `AbortSignal.timeout()`), with the reason as its
 * `cause`, and keeps code 20.
 */
export class ErrorValue extends Error {
  readonly code: ErrorValueCode;
  constructor(code: ErrorValueCode, opts?: { name?: 'AbortError' | 'TimeoutError'; cause?: unknown }) {
    super(ERROR_VALUE_MESSAGES[code] ?? `error ${code}`, opts && 'cause' in opts ? { cause: opts.cause } : undefined);
    define(this, 'name', opts?.name ?? 'ErrorValue');
    this.code = code;
  }
}

/** ErrorValue 20 for a task stopped with `reason` (an AbortSignal's, or m.stop(reason)'s). */
export function abortError(reason?: unknown): ErrorValue {
  const timeout =
    reason !== null && typeof reason === 'object' && (reason as { name?: unknown }).name === 'TimeoutError';
  return new ErrorValue(
    Code.CANCELED,
    reason === undefined ? { name: 'AbortError' } : { name: timeout ? 'TimeoutError' : 'AbortError', cause: reason },
  );
}
Object.defineProperty(ErrorValue.prototype, ERROR_VALUE, { value: true });

/** True for a MiraiError (also one made by another copy of this package). */
export function isMiraiError(x: unknown): x is MiraiError {
  return (
    x instanceof MiraiError ||
    (x !== null && typeof x === 'object' && (x as Record<symbol, unknown>)[MIRAI_ERROR] === true)
  );
}

/** True for an ErrorValue (also one made by another copy of this package). */
export function isErrorValue(x: unknown): x is ErrorValue {
  return (
    x instanceof ErrorValue ||
    (x !== null && typeof x === 'object' && (x as Record<symbol, unknown>)[ERROR_VALUE] === true)
  );
}

/**
 * What a thrown value becomes on the wire. Errors keep name, message, stack, `cause` and their
 * own enumerable properties; a property v8 cannot serialize is replaced by its String() form, or
 * dropped if even that fails. Anything else thrown (`throw 42`, a string) becomes name 'Error'
 * with message String(x). Never throws.
 */
export function toErrorPayload(e: unknown): ErrorPayload {
  if (e === null || (typeof e !== 'object' && typeof e !== 'function')) {
    return { name: 'Error', message: safeString(e), props: {} };
  }
  const obj = e as Record<string, unknown>;
  const isError = types.isNativeError(e) || e instanceof Error;
  const name = read(obj, 'name');
  const message = read(obj, 'message');
  const stack = read(obj, 'stack');
  const payload: ErrorPayload = {
    name: typeof name === 'string' && name !== '' ? name : 'Error',
    message: isError || typeof message === 'string' ? safeString(message ?? '') : safeString(e),
    props: {},
  };
  if (typeof stack === 'string') payload.stack = stack;
  let keys: string[];
  try {
    keys = Object.keys(obj);
  } catch {
    keys = [];
  }
  if (isError && !keys.includes('cause') && hasOwn(obj, 'cause')) keys.push('cause');
  for (const key of keys) {
    if (RESERVED.has(key)) continue;
    let value: unknown;
    try {
      value = obj[key];
    } catch {
      continue; // a throwing getter: dropped
    }
    if (serializable(value)) {
      payload.props[key] = value;
    } else {
      try {
        payload.props[key] = String(value);
      } catch {
        /* dropped */
      }
    }
  }
  return payload;
}

function serializable(v: unknown): boolean {
  if (v === null || (typeof v !== 'object' && typeof v !== 'function' && typeof v !== 'symbol')) return true;
  try {
    v8.serialize(v);
    return true;
  } catch {
    return false;
  }
}

function read(obj: Record<string, unknown>, key: string): unknown {
  try {
    return obj[key];
  } catch {
    return undefined;
  }
}

function hasOwn(obj: object, key: string): boolean {
  try {
    return Object.prototype.hasOwnProperty.call(obj, key);
  } catch {
    return false;
  }
}

function safeString(x: unknown): string {
  try {
    return String(x);
  } catch {
    return Object.prototype.toString.call(x);
  }
}

function define(obj: object, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: false, configurable: true });
}
