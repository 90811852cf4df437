/**
 * mirai/nng: a typed binding to NNG (nanomsg-next-gen) with TLS through mbedTLS.
 * Every operation completes on NNG's threads and is delivered without blocking or polling.
 * @module mirai/nng
 */
export {
  Socket,
  PROTOCOLS,
  type PipeListener,
  type Protocol,
  type SocketInit,
  type SendOptions,
  type RecvOptions,
  type ListenOptions,
  type DialOptions,
} from './socket';
export { Context, type ContextOpOptions } from './context';
export { Endpoint, type Listener, type Dialer } from './endpoint';
export { isMessage, type Message, type SendData } from './message';
export { Pipe, type PipeEvent } from './pipe';
export { Cv, pipeNotify, type WaitOptions } from './cv';
export { TlsConfig, writeCert, type TlsOptions, type CertOptions, type CertPair } from './tls';
export { NngError, nngError, errnoCodes, type NngErrno } from './errors';
export { OPTIONS, type SocketOptionValues, type OptionName } from './options';
export type { NativeMessage, OptionType } from './native';
import { addon } from './native';

/** Versions of the vendored NNG and mbedTLS. */
export function versions(): { nng: string; mbedtls: string } {
  return addon.versions();
}

/**
 * Keeps the process alive until the returned function is called (once). For layers that
 * unref their sockets and hold the loop only while work is outstanding.
 */
export function keepAlive(): () => void {
  addon.hold();
  let held = true;
  return () => {
    if (held) {
      held = false;
      addon.release();
    }
  };
}

/**
 * Electron forbids Buffers over external memory; the addon detects that and copies instead.
 * This forces either behaviour (tests use it to exercise the copying path).
 * @internal
 */
export function setExternalBuffers(enabled: boolean): void {
  addon.setExternalBuffers(enabled);
}
