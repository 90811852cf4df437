/** mirai() and everywhere(): the entry points that send code to daemons. */
import { runEphemeral } from './ephemeral';
import type { Mirai } from './mirai';
import { checkOptions, is } from '../wire/validate';
import { explainUnserializable, isCloneError, makePayload } from '../wire/payload';
import { getProfile, profileName } from './profiles';
import type { TaskPayload } from '../wire/protocol';

const MAX_RETRY = 0xffff;

export interface TaskOptions {
  /** ms: settle with ErrorValue 5 after this long (and, with a dispatcher, cancel the task). */
  timeout?: number;
  /** Aborting stops the task (ErrorValue 20). */
  signal?: AbortSignal;
  /** Which set of daemons runs it (default: 'default', or the enclosing withDaemons'). */
  profile?: string;
  /**
   * Resubmit the task up to this many times if the daemon running it is lost (it crashed, was
   * killed, ran out of memory), and only then settle with ErrorValue 19. Default 0: a task may
   * have side effects, so it is never run twice unless asked. Applies to daemons set with
   * daemons(), not to one-off processes.
   */
  retry?: number;
}

/** What a task function receives besides its data. */
export interface TaskContext {
  /** Aborted when the task is cancelled or times out. */
  signal: AbortSignal;
  /**
   * With OpenTelemetry on the host (`@opentelemetry/api` and an SDK): the W3C traceparent of the
   * host's `mirai.task` span. The task runs with it as its active span context, so spans it
   * starts are children of that span where the daemon has an SDK too.
   */
  traceparent?: string;
}

const TASK_SCHEMA = {
  timeout: [is.nonNegNumber, 'a non-negative number of ms'],
  signal: [(v: unknown) => v instanceof AbortSignal, 'an AbortSignal'],
  profile: [is.string, 'a string'],
  // It travels in the u16 flags of the TASK header.
  retry: [(v: unknown) => is.nonNegInt(v) && (v as number) <= MAX_RETRY, `an integer from 0 to ${MAX_RETRY}`],
} as const;

/**
 * Runs fn(data) (or a code string with data's keys in scope) on a daemon and returns at once
 * a Mirai that settles with the result. Without daemons set, a one-off process runs it.
 */
export function mirai<T, D extends object = Record<string, unknown>>(
  fn: (data: D, ctx: TaskContext) => T | Promise<T>,
  data?: D,
  opts?: TaskOptions,
): Mirai<Awaited<T>>;
export function mirai<T = unknown>(code: string, data?: object, opts?: TaskOptions): Mirai<T>;
export function mirai(task: unknown, data?: object, opts?: TaskOptions): Mirai<unknown> {
  return submitPayload('mirai()', makePayload('mirai()', task, data), opts);
}

/** @internal Sends a prepared payload on the right profile. */
export function submitPayload(what: string, payload: TaskPayload, opts: TaskOptions | undefined): Mirai<unknown>;
export function submitPayload(
  what: string,
  payload: TaskPayload,
  opts: TaskOptions | undefined,
  tryOnly: true,
): Mirai<unknown> | null;
export function submitPayload(
  what: string,
  payload: TaskPayload,
  opts: TaskOptions | undefined,
  tryOnly = false,
): Mirai<unknown> | null {
  if (opts !== undefined) checkOptions(what, opts, TASK_SCHEMA as never);
  const profile = getProfile(profileName(opts?.profile));
  try {
    if (!profile) return runEphemeral(payload, opts ?? {});
    return tryOnly ? profile.host.submit(payload, opts ?? {}, true) : profile.host.submit(payload, opts);
  } catch (e) {
    if (isCloneError(e)) explainUnserializable(what, payload.data, e);
    throw e;
  }
}

/**
 * mirai(), but under the profile's maxQueueBytes it submits only if the task fits now: null
 * (nothing submitted, nothing to settle) when it does not. Without a cap it is mirai().
 * Pair it with whenRoom(): `while (!(m = tryMirai(fn, x))) await whenRoom()`.
 */
export function tryMirai<T, D extends object = Record<string, unknown>>(
  fn: (data: D, ctx: TaskContext) => T | Promise<T>,
  data?: D,
  opts?: TaskOptions,
): Mirai<Awaited<T>> | null;
export function tryMirai<T = unknown>(code: string, data?: object, opts?: TaskOptions): Mirai<T> | null;
export function tryMirai(task: unknown, data?: object, opts?: TaskOptions): Mirai<unknown> | null {
  return submitPayload('tryMirai()', makePayload('tryMirai()', task, data), opts, true);
}

/**
 * Resolves once a task of `bytes` fits under the profile's maxQueueBytes (default: the size of
 * the last task refused there), at once without a cap or without daemons. Rejects with
 * QueueFullError if `bytes` is more than the cap. Woken by settlements, never by polling.
 */
export function whenRoom(opts: { profile?: string; bytes?: number } = {}): Promise<void> {
  checkOptions('whenRoom()', opts, {
    profile: [is.string, 'a string'],
    bytes: [is.nonNegInt, 'a non-negative integer'],
  });
  const host = getProfile(profileName(opts.profile))?.host;
  if (host?.budget === undefined || host.closed) return Promise.resolve();
  return host.budget.whenRoom(opts.bytes ?? host.refusedBytes);
}

export interface EverywhereOptions {
  /** Which set of daemons (default: 'default', or the enclosing withDaemons'). */
  profile?: string;
  /**
   * ms: settle by then. Each daemon that has not answered (and each one short of `min`) counts
   * as ErrorValue 5, and the daemons still running the call are interrupted, so none is left
   * stuck in it. Daemons that had not started it by then skip it.
   */
  timeout?: number;
  /**
   * Wait until at least this many daemons are connected before sending the call (bounded by
   * `timeout`). Daemons that connect later run it too (before their first task), as always.
   */
  min?: number;
}

const EVERYWHERE_SCHEMA = {
  profile: [is.string, 'a string'],
  timeout: [is.nonNegNumber, 'a non-negative number of ms'],
  min: [is.nonNegInt, 'a non-negative integer'],
} as const;

/**
 * Runs fn (or code) once on every connected daemon of a profile — and on daemons that connect
 * later, before their first task. Globals it sets persist on the daemons, whatever `cleanup`
 * says. Resolves with each daemon's result once all have run. If any failed (threw, or did not
 * answer within `timeout`), rejects with the first error, whose `results` property holds every
 * daemon's outcome: values, MiraiError, ErrorValue 5.
 */
export function everywhere<D extends object = Record<string, unknown>>(
  fn: ((data: D, ctx: TaskContext) => unknown) | string,
  data?: D,
  opts: EverywhereOptions = {},
): Promise<unknown[]> {
  checkOptions('everywhere()', opts, EVERYWHERE_SCHEMA as never);
  const payload = makePayload('everywhere()', fn, data);
  const profile = getProfile(profileName(opts.profile));
  if (!profile) return Promise.resolve([]);
  try {
    return profile.host.everywhere(payload, opts);
  } catch (e) {
    if (isCloneError(e)) explainUnserializable('everywhere()', data, e);
    throw e;
  }
}
