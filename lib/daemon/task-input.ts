/**
 * A TASK / EVERYWHERE message as the daemon's evaluator takes it: the payload decoded and, with
 * custom serialization registered (everywhere()), its data unpacked; or the error the task then
 * fails with. Also the daemon's own errors about tasks (no daemon frames in their stacks).
 */
import { decodePayload, type TaskPayload } from '../wire/protocol';
import { daemonCodec, SERIAL_GLOBAL } from '../wire/serial';
import { compileFunction } from './evaluate';

/** The task in a message body (header and payload), or a TypeError saying why it cannot run. */
export function readTask(body: Buffer): TaskPayload | Error {
  let payload: TaskPayload;
  try {
    payload = decodePayload<TaskPayload>(body);
  } catch (e) {
    return plainError(`malformed task message: ${(e as Error)?.message ?? e}`, 'TypeError');
  }
  if ((globalThis as Record<symbol, unknown>)[SERIAL_GLOBAL] !== undefined) {
    try {
      payload.data = daemonCodec(compileFunction)!.unpack(payload.data);
    } catch (e) {
      return plainError((e as Error)?.message ?? String(e), 'TypeError');
    }
  }
  return payload;
}

/** An error of the daemon's own about a task: no daemon frames in its stack. */
export function plainError(message: string, name: 'Error' | 'TypeError' = 'Error'): Error {
  const e = name === 'TypeError' ? new TypeError(message) : new Error(message);
  e.stack = `${name}: ${message}`;
  return e;
}
