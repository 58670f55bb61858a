export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
  n: number;
}

/** Nearest-rank percentiles, rounded to hundredths; null when there are no values. */
export function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] * 100) / 100 : null);
  return { p50: at(50), p95: at(95), p99: at(99), n: sorted.length };
}
