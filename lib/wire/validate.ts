/**
 * The validation vocabulary of user-facing options, for both sides: `is` (the checks), `Schema`
 * and checkOptions() (unknown keys and wrong kinds, naming the key and what was expected), and
 * describe(), the one way a bad value is shown in an error.
 */

type Check = (v: unknown) => boolean;

export const is = {
  bool: ((v) => typeof v === 'boolean') as Check,
  string: ((v) => typeof v === 'string') as Check,
  nonNegInt: ((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0) as Check,
  posNumber: ((v) => typeof v === 'number' && v > 0 && !Number.isNaN(v)) as Check,
  nonNegNumber: ((v) => typeof v === 'number' && v >= 0 && !Number.isNaN(v)) as Check,
  stringArray: ((v) => Array.isArray(v) && v.every((x) => typeof x === 'string')) as Check,
  stringRecord: ((v) => typeof v === 'object' && v !== null && Object.values(v).every((x) => typeof x === 'string')) as Check,
  object: ((v) => typeof v === 'object' && v !== null) as Check,
  any: (() => true) as Check,
};

export type Schema = Record<string, [Check, string]>;

/** Throws TypeError for an unknown key or a value of the wrong kind. */
export function checkOptions(what: string, opts: unknown, schema: Schema): Record<string, unknown> {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw new TypeError(`${what}: options must be an object (got ${describe(opts)})`);
  }
  for (const [key, value] of Object.entries(opts)) {
    const rule = schema[key];
    if (!rule) {
      throw new TypeError(`${what}: unknown option '${key}'; expected one of ${Object.keys(schema).join(', ')}`);
    }
    if (value !== undefined && !rule[0](value)) {
      throw new TypeError(`${what}: option '${key}' must be ${rule[1]} (got ${describe(value)})`);
    }
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
