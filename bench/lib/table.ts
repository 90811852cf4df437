// Plain-text tables for benchmark output (Markdown-compatible pipes, so they paste into issues).

export type Align = 'left' | 'right';

export interface TableOptions {
  /** Per-column alignment; default: the first column left, the rest right. */
  align?: Align[];
  /** Printed above the table. */
  title?: string;
}

/** Renders rows under headers as a Markdown table with padded columns. */
export function formatTable(headers: string[], rows: string[][], opts: TableOptions = {}): string {
  const cols = headers.length;
  const align = headers.map((_, i) => opts.align?.[i] ?? (i === 0 ? 'left' : 'right'));
  const width = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const pad = (s: string, i: number) => (align[i] === 'left' ? s.padEnd(width[i]) : s.padStart(width[i]));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => pad(c ?? '', i)).join(' | ') + ' |';
  const rule =
    '|' +
    width.map((w, i) => (align[i] === 'left' ? ':' + '-'.repeat(w + 1) : '-'.repeat(w + 1) + ':')).join('|') +
    '|';
  const out: string[] = [];
  if (opts.title) out.push(opts.title);
  out.push(line(headers), rule);
  for (const r of rows) out.push(line(Array.from({ length: cols }, (_, i) => r[i] ?? '')));
  return out.join('\n');
}

export function printTable(headers: string[], rows: string[][], opts: TableOptions = {}): void {
  console.log(formatTable(headers, rows, opts));
}
