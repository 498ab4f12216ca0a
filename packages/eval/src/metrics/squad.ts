// SQuAD exact match and token F1: answers are normalized (lowercase, no
// punctuation, no articles a/an/the, single spaces) and an output takes its
// best score over the reference answers. Scores are 0 or 1 (EM) and [0, 1] (F1).
import type { Scores } from "../types.js";

const PUNCTUATION = /[!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g;

export function normalizeAnswer(s: string): string {
  return s
    .toLowerCase()
    .replace(PUNCTUATION, "")
    .replace(/\b(a|an|the)\b/g, " ")
    .split(/\s+/)
    .filter((t) => t.length > 0)
    .join(" ");
}

export function exactMatch(output: string, reference: string): number {
  return normalizeAnswer(output) === normalizeAnswer(reference) ? 1 : 0;
}

export function tokenF1(output: string, reference: string): number {
  const o = normalizeAnswer(output).split(" ").filter((t) => t.length > 0);
  const r = normalizeAnswer(reference).split(" ").filter((t) => t.length > 0);
  if (o.length === 0 || r.length === 0) return o.length === r.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const t of r) counts.set(t, (counts.get(t) ?? 0) + 1);
  let common = 0;
  for (const t of o) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      common++;
      counts.set(t, c - 1);
    }
  }
  if (common === 0) return 0;
  const p = common / o.length;
  const rec = common / r.length;
  return (2 * p * rec) / (p + rec);
}

export function squadScores(output: string, references: string[]): Scores {
  let em = 0;
  let f1 = 0;
  for (const ref of references) {
    em = Math.max(em, exactMatch(output, ref));
    f1 = Math.max(f1, tokenF1(output, ref));
  }
  return { em, f1 };
}
