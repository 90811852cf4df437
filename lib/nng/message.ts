import { addon, type NativeMessage } from './native';

/**
 * A received message. `body` is a Buffer over NNG's own memory (no copy); `pipe` is the id of
 * the connection it came from. Passing a Message to `send()` forwards it without copying as
 * long as its body has not been read (otherwise the bytes are copied once).
 */
export type Message = NativeMessage;

/** True for messages received from a socket or context. */
export function isMessage(v: unknown): v is Message {
  return v instanceof addon.Message;
}

/** Data accepted by `send()`; an array is sent as one message, its parts concatenated. */
export type SendData = Buffer | ArrayBufferView | ArrayBuffer | string | Message;
