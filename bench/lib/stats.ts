// Summary statistics for benchmark samples.

export interface Summary {
  n: number;
  mean: number;
  median: number;
  p99: number;
  min: number;
  max: number;
}

/** Nearest-rank percentile (p in [0, 100]) of an ascending-sorted array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const rank = Math.ceil((p / 100) * n);
  return sorted[Math.min(n - 1, Math.max(0, rank - 1))];
}

/** Median (the mean of the two middle values for an even count) of an ascending-sorted array. */
export function medianOfSorted(sorted: ArrayLike<number>): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = n >> 1;
  return n % 2 === 1 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
}

/** Summarizes samples (not modified: a sorted copy is made). */
export function summarize(samples: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i];
  return {
    n: sorted.length,
    mean: sorted.length ? sum / sorted.length : NaN,
    median: medianOfSorted(sorted),
    p99: percentile(sorted, 99),
    min: sorted.length ? sorted[0] : NaN,
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
  };
}

/** The element with the smallest key (e.g. the least disturbed of several rounds). */
export function best<T>(items: readonly T[], key: (item: T) => number): T | undefined {
  let out: T | undefined;
  let k = Infinity;
  for (const it of items) {
    const v = key(it);
    if (v < k || out === undefined) {
      out = it;
      k = v;
    }
  }
  return out;
}

/** Formats a number with a fixed count of decimals; '-' for NaN/undefined. */
export function fmt(v: number | undefined, decimals = 1): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  return v.toFixed(decimals);
}

/** Formats an integer count with thousands separators; '-' for NaN/undefined. */
export function fmtInt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '-';
  return Math.round(v).toLocaleString('en-US');
}
