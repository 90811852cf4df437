import { addon } from './native';

/** The NNG error names this binding reports (`err.errno`). */
export type NngErrno =
  | 'EINTR'
  | 'ENOMEM'
  | 'EINVAL'
  | 'EBUSY'
  | 'ETIMEDOUT'
  | 'ECONNREFUSED'
  | 'ECLOSED'
  | 'EAGAIN'
  | 'ENOTSUP'
  | 'EADDRINUSE'
  | 'ESTATE'
  | 'ENOENT'
  | 'EPROTO'
  | 'EUNREACHABLE'
  | 'EADDRINVAL'
  | 'EPERM'
  | 'EMSGSIZE'
  | 'ECONNABORTED'
  | 'ECONNRESET'
  | 'ECANCELED'
  | 'ENOFILES'
  | 'ENOSPC'
  | 'EEXIST'
  | 'EREADONLY'
  | 'EWRITEONLY'
  | 'ECRYPTO'
  | 'EPEERAUTH'
  | 'ENOARG'
  | 'EAMBIGUOUS'
  | 'EBADTYPE'
  | 'ECONNSHUT'
  | 'EINTERNAL'
  | 'ESYSERR'
  | 'ETRANERR';

/** An error reported by NNG: `code` is NNG's number, `errno` its name (e.g. 'ETIMEDOUT'). */
export class NngError extends Error {
  readonly code: number;
  readonly errno: NngErrno;
  constructor(message: string, code: number, errno: string) {
    super(message);
    this.name = 'NngError';
    this.code = code;
    this.errno = errno as NngErrno;
  }
}

addon.setErrorClass(NngError);

/** NNG's error numbers by name, e.g. `errnoCodes.ETIMEDOUT === 5`. */
export const errnoCodes: Readonly<Record<NngErrno, number>> = addon.errnoCodes as Record<NngErrno, number>;

/** A new NngError for a given name, as the addon would make it. */
export function nngError(errno: NngErrno, message?: string): NngError {
  return new NngError(message ?? errno, errnoCodes[errno] ?? 0, errno);
}
