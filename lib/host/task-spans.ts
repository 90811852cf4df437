/**
 * The OpenTelemetry spans of a host's tasks (lib/wire/trace.ts), while they are outstanding: each
 * ends when its Mirai settles, and is told where its task runs when the daemon says it started
 * it (STARTED, sent only for traced tasks: nothing is sent or kept when nothing records).
 */
import { onSettled, type Mirai } from './mirai';
import { endSpan, type Span } from '../wire/trace';

/** Who runs a task, as the host knows it (lib/host/daemon-hub.ts). */
export interface RunsOn {
  daemon: number;
  pid?: number;
  hostname?: string;
}

export class TaskSpans {
  readonly #spans = new Map<number, Span>();

  /** Task id's span, ended with m's outcome. */
  track(id: number, span: Span, m: Mirai<unknown>): void {
    this.#spans.set(id, span);
    onSettled(m, () => {
      this.#spans.delete(id);
      endSpan(span, m.succeeded ? undefined : m.data);
    });
  }

  /** Task id started on a daemon: an event, and the daemon as the span's attributes. */
  started(id: number, on: RunsOn): void {
    const span = this.#spans.get(id);
    if (span === undefined) return;
    const attrs: Record<string, number | string> = { 'mirai.daemon': on.daemon };
    if (on.pid !== undefined) attrs['mirai.daemon.pid'] = on.pid;
    if (on.hostname !== undefined) attrs['mirai.daemon.hostname'] = on.hostname;
    span.setAttributes(attrs);
    span.addEvent('mirai.started', attrs);
  }
}
