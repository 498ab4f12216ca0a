// ROUGE-1, ROUGE-2 and ROUGE-L F-measures, following the rouge-score package's
// defaults: lowercase, every run of characters other than [a-z0-9] is a
// separator, no stemming. With several references an example takes the best
// F-measure of each kind; the corpus score is the mean over examples.
import type { Scores } from "../types.js";

export function rougeTokens(text: string): string[] {
  return text.toLowerCase().split(/[^a-z0-9]+/).filter((t) => t.length > 0);
}

function ngramCounts(tokens: string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join(" ");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

function fMeasure(overlap: number, hypCount: number, refCount: number): number {
  if (overlap === 0 || hypCount === 0 || refCount === 0) return 0;
  const p = overlap / hypCount;
  const r = overlap / refCount;
  return (2 * p * r) / (p + r);
}

/** ROUGE-N F-measure of one hypothesis against one reference (token lists). */
export function rougeN(hyp: string[], ref: string[], n: number): number {
  const h = ngramCounts(hyp, n);
  const r = ngramCounts(ref, n);
  let overlap = 0;
  for (const [k, c] of h) overlap += Math.min(c, r.get(k) ?? 0);
  return fMeasure(overlap, Math.max(0, hyp.length - n + 1), Math.max(0, ref.length - n + 1));
}

/** Length of the longest common subsequence. */
export function lcsLength(a: string[], b: string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const cur = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++) cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    prev = cur;
  }
  return prev[b.length];
}

/** ROUGE-L F-measure (sentence-level LCS). */
export function rougeL(hyp: string[], ref: string[]): number {
  return fMeasure(lcsLength(hyp, ref), hyp.length, ref.length);
}

/** rouge1, rouge2, rougeL of an output, each the best over the references. */
export function rougeScores(output: string, references: string[]): Scores {
  const hyp = rougeTokens(output);
  const best = { rouge1: 0, rouge2: 0, rougeL: 0 };
  for (const reference of references) {
    const ref = rougeTokens(reference);
    best.rouge1 = Math.max(best.rouge1, rougeN(hyp, ref, 1));
    best.rouge2 = Math.max(best.rouge2, rougeN(hyp, ref, 2));
    best.rougeL = Math.max(best.rougeL, rougeL(hyp, ref));
  }
  return best;
}
