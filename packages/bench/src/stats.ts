// Summaries of repeated measurements.

export interface Summary {
  mean: number;
  /** Sample standard deviation (0 for a single value). */
  stdev: number;
  median: number;
  min: number;
  max: number;
  values: number[];
}

export function summarizeValues(values: number[]): Summary {
  if (values.length === 0) throw new Error("summarizeValues: no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.length > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, stdev: Math.sqrt(variance), median, min: sorted[0], max: sorted[sorted.length - 1], values };
}

/** Rounds for JSON output, so files stay readable. */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function roundSummary(s: Summary, digits = 3): Summary {
  const r = (v: number) => round(v, digits);
  return { mean: r(s.mean), stdev: r(s.stdev), median: r(s.median), min: r(s.min), max: r(s.max), values: s.values.map(r) };
}
