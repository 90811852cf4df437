/**
 * The validation vocabulary of user-facing options, for both sides: `is` (the checks), `Schema`
 * and checkOptions() (unknown keys and wrong kinds, naming the key and what was expected), and
 * describe(), the one way a bad value is shown in an error.
 */

type Check = (v: unknown) => boolean;

/** The longest timer Node can set (ms): a longer limit or wait means none. */
export const MAX_TIMER = 2 ** 31 - 1;

export const is = {
  bool: ((v) => typeof v === 'boolean') as Check,
  string: ((v) => typeof v === 'string') as Check,
  nonEmptyString: ((v) => typeof v === 'string' && v !== '') as Check,
  number: ((v) => typeof v === 'number') as Check,
  nonNegInt: ((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0) as Check,
  posNumber: ((v) => typeof v === 'number' && v > 0 && !Number.isNaN(v)) as Check,
  posFinite: ((v) => typeof v === 'number' && v > 0 && Number.isFinite(v)) as Check,
  nonNegNumber: ((v) => typeof v === 'number' && v >= 0 && !Number.isNaN(v)) as Check,
  stringArray: ((v) => Array.isArray(v) && v.every((x) => typeof x === 'string')) as Check,
  stringRecord: ((v) =>
    typeof v === 'object' && v !== null && Object.values(v).every((x) => typeof x === 'string')) as Check,
  object: ((v) => typeof v === 'object' && v !== null) as Check,
  any: (() => true) as Check,
};

/**
 * One rule per key: the kind check (a TypeError when it fails), what is expected, and
 * optionally a range check (a RangeError: right kind, value out of range) and `secret` (the
 * value is never shown in an error, only its type).
 */
export type Rule = [Check, string] | [Check, string, { range?: Check; secret?: boolean }];
export type Schema = Record<string, Rule>;

export interface CheckStyle {
  /**
   * How errors name a key: default `${what}: option 'key' ...`; with a subject such as
   * 'daemon option', `unknown daemon option 'key'` / `daemon option 'key' must be ...`.
   */
  subject?: string;
  /** Name keys bare, `${what}: key must be ...` (the launch configurations' style). */
  plain?: boolean;
  /** A key whose value is undefined counts as absent, unknown or not. Default false. */
  undefinedIsAbsent?: boolean;
}

/**
 * Throws TypeError for an unknown key or a value of the wrong kind, RangeError for one out of
 * range. Every message names the key, what was expected, and the value (describe()).
 */
export function checkOptions(
  what: string,
  opts: unknown,
  schema: Schema,
  style: CheckStyle = {},
): Record<string, unknown> {
  if (opts === undefined) return {};
  const subject = style.subject;
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw new TypeError(
      subject
        ? `${subject}s must be an object (got ${describe(opts)})`
        : `${what}: options must be an object (got ${describe(opts)})`,
    );
  }
  const name = (key: string): string =>
    subject ? `${subject} '${key}'` : style.plain ? `${what}: ${key}` : `${what}: option '${key}'`;
  for (const [key, value] of Object.entries(opts)) {
    if (value === undefined && style.undefinedIsAbsent) continue;
    const rule = schema[key];
    if (!rule) {
      const keys = Object.keys(schema).join(', ');
      throw new TypeError(
        subject
          ? `unknown ${subject} '${key}': expected one of ${keys}`
          : `${what}: unknown option '${key}': expected one of ${keys}`,
      );
    }
    if (value === undefined) continue;
    const [kind, expected, more] = rule;
    const got = more?.secret ? typeof value : describe(value);
    if (!kind(value)) throw new TypeError(`${name(key)} must be ${expected} (got ${got})`);
    if (more?.range && !more.range(value)) throw new RangeError(`${name(key)} must be ${expected} (got ${got})`);
  }
  return opts as Record<string, unknown>;
}

/**
 * The one value describer of every "(got ...)" in this package's errors: strings quoted (and
 * cut at DESCRIBE_MAX characters), numbers, booleans and bigints as written, otherwise what
 * the value is ('null', 'an array', 'a function', 'object', 'symbol', 'undefined').
 */
export function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > DESCRIBE_MAX ? `${v.slice(0, DESCRIBE_MAX)}...` : v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'function') return 'a function';
  return typeof v;
}

/** Longest string shown whole by describe(). */
const DESCRIBE_MAX = 60;
