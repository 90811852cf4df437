/**
 * miraiMap({ progress: true }): a one-line progress bar on a terminal,
 * `[=========           ] 45/100  45%  120/s  ETA 0.5s`.
 *
 * - Redrawn at most every REDRAW_MS (a timer, unref'd), never once per task: 100,000 fast tasks
 *   cost a few hundred writes, not 100,000.
 * - A failed task ends the bar where it stands, with what failed: miraiMap stops the rest then,
 *   and those stopped tasks are not progress.
 * - Other output does not splice into it: while the bar is up, writes to stdout and stderr (a
 *   console.log, a warning) first clear the bar's line, then the bar is drawn again below them.
 */
import { onSettled, type Mirai } from './mirai';

const REDRAW_MS = 100;

/** The part of a terminal stream the bar needs (process.stderr, or a test's stand-in). */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): boolean;
}

/** Formats one line of the bar (exported for tests). */
export function progressLine(done: number, total: number, elapsedMs: number, columns: number): string {
  const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  const left = total - done;
  const eta = done > 0 && rate > 0 ? left / rate : undefined;
  const stats = `${done}/${total}  ${String(pct).padStart(3)}%  ${formatRate(rate)}  ETA ${eta === undefined ? '?' : formatSeconds(eta)}`;
  const width = Math.max(10, Math.min(40, columns - stats.length - 4));
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'='.repeat(filled)}${' '.repeat(width - filled)}] ${stats}`;
}

function formatRate(perSecond: number): string {
  if (perSecond >= 100) return `${Math.round(perSecond)}/s`;
  return `${perSecond.toFixed(1)}/s`;
}

function formatSeconds(s: number): string {
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.round((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Shows the progress of ms on stream until all have settled or one has failed. */
export function showProgress(ms: readonly Mirai<unknown>[], stream: ProgressStream = process.stderr): void {
  const total = ms.length;
  const t0 = Date.now();
  let done = 0;
  let ended = false;
  let timer: NodeJS.Timeout | undefined;
  let line = '';
  const columns = (): number => stream.columns ?? 80;
  const draw = (): void => {
    line = progressLine(done, total, Date.now() - t0, columns());
    raw(`\r${line}\x1b[K`);
  };
  const clear = (): void => {
    if (line === '') return;
    line = '';
    raw('\r\x1b[K');
  };
  // Other output clears the bar first; the next redraw puts it back under that output.
  const streams = new Set<ProgressStream>([stream, process.stdout, process.stderr]);
  const originals = new Map<ProgressStream, ProgressStream['write']>();
  const raw = (s: string): void => void originals.get(stream)!.call(stream, s);
  for (const s of streams) {
    const orig = s.write;
    originals.set(s, orig);
    s.write = function (this: ProgressStream, ...args: unknown[]) {
      if (!ended) clear();
      const r = (orig as (...a: unknown[]) => boolean).apply(this, args);
      if (!ended) schedule();
      return r;
    } as ProgressStream['write'];
  }
  const schedule = (): void => {
    timer ??= setTimeout(() => {
      timer = undefined;
      if (!ended) draw();
    }, REDRAW_MS).unref();
  };
  const end = (failed?: Mirai<unknown>): void => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    for (const [s, orig] of originals) s.write = orig;
    line = progressLine(done, total, Date.now() - t0, columns());
    const why =
      failed === undefined
        ? ''
        : `  failed: task ${failed.id} (${(failed.data as Error)?.name ?? 'error'}); the rest were stopped`;
    stream.write(`\r${line}${why}\x1b[K\n`);
  };
  draw();
  if (total === 0) return end();
  for (const m of ms) {
    onSettled(m, () => {
      if (ended) return;
      if (!m.succeeded) return end(m);
      if (++done === total) return end();
      schedule();
    });
  }
}
