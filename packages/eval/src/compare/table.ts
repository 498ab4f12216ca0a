// The comparison table: one row per (task, policy), as table.json and table.md.
import type { EvalSummary, Scores } from "../types.js";

export interface CompareRow {
  /** full, first, first@0.5, uls:k, bi:k, random:k, last:k, exit:L */
  policy: string;
  /** Quality by metric name: rouge1, rouge2, rougeL, bleu, chrf, em, f1, acc, ppl (and any others the task reports). */
  quality: Scores;
  /** Mean decoder layers executed per example. */
  executedLayers: number;
  decodeTokensPerSecond: number;
  msPerOutputToken: number;
  kvBytesPerSequence: number;
  /** Median prefill time per example (the speed of likelihood tasks, which do not decode). */
  prefillMsMedian: number;
  task: string;
  examples: number;
  /** Router threshold (FiRST rows). */
  threshold?: number;
  /** skippedLayers[l] = fraction of examples that skipped layer l. */
  skippedLayers: number[];
}

export interface CompareTable {
  rows: CompareRow[];
}

// The runner's score names that the table spells differently.
const CANONICAL: Record<string, string> = { exact_match: "em", perplexity: "ppl" };

/** Quality with the table's metric names (exact_match -> em, perplexity -> ppl); NaN scores are left out. */
export function canonicalQuality(q: Scores): Scores {
  const out: Scores = {};
  for (const [k, v] of Object.entries(q)) if (Number.isFinite(v)) out[CANONICAL[k] ?? k] = v;
  return out;
}

// The headline metric of a task, the first of these it reports.
const MAIN_METRICS = ["rougeL", "bleu", "chrf", "f1", "em", "acc", "ppl"] as const;

/** The headline metric among a row's quality keys (e.g. rougeL for summarization). */
export function mainMetric(quality: Scores): string | undefined {
  return MAIN_METRICS.find((m) => m in quality) ?? Object.keys(quality)[0];
}

/** True for metrics where lower is better. */
export const lowerIsBetter = (metric: string): boolean => metric === "ppl" || metric.endsWith("perplexity") || metric === "bits_per_byte";

export function rowOf(summary: EvalSummary, policy: string, threshold?: number): CompareRow {
  return {
    policy,
    quality: canonicalQuality(summary.quality),
    executedLayers: summary.executedLayers,
    decodeTokensPerSecond: summary.latency.decodeTokensPerSecond,
    msPerOutputToken: summary.latency.msPerOutputToken,
    kvBytesPerSequence: summary.kvBytesPerSequence,
    prefillMsMedian: summary.latency.prefillMsMedian,
    task: summary.task,
    examples: summary.examples,
    ...(threshold !== undefined ? { threshold } : {}),
    skippedLayers: summary.skippedLayers,
  };
}

const r = (x: number, digits: number) => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x);

/** The JSON written to table.json (numbers rounded for reading). */
export function tableJson(rows: CompareRow[]): CompareTable {
  return {
    rows: rows.map((row) => ({
      ...row,
      quality: Object.fromEntries(Object.entries(row.quality).map(([k, v]) => [k, r(v, 4)])),
      executedLayers: r(row.executedLayers, 2),
      decodeTokensPerSecond: r(row.decodeTokensPerSecond, 2),
      msPerOutputToken: r(row.msPerOutputToken, 3),
      prefillMsMedian: r(row.prefillMsMedian, 2),
      skippedLayers: row.skippedLayers.map((v) => r(v, 4)),
    })),
  };
}

// Column order for quality metrics in the Markdown table.
const METRIC_ORDER = ["rouge1", "rouge2", "rougeL", "bleu", "chrf", "em", "f1", "acc", "acc_norm", "ppl"];

function qualityColumns(rows: CompareRow[]): string[] {
  const keys = new Set(rows.flatMap((row) => Object.keys(row.quality)));
  const known = METRIC_ORDER.filter((k) => keys.has(k));
  return known.length > 0 ? known : [...keys];
}

const num = (v: number | undefined, digits: number) => (v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(digits));

/** Scores in [0, 1] as is; BLEU/chrF (0-100) and perplexity with fewer decimals. */
function metricCell(metric: string, v: number | undefined): string {
  return num(v, metric === "bleu" || metric === "chrf" || metric === "ppl" ? 2 : 4);
}

/** A Markdown table: task (when several), policy, layers, quality metrics, speed and KV memory. */
export function tableMarkdown(rows: CompareRow[], nLayers: number): string {
  const tasks = [...new Set(rows.map((row) => row.task))];
  const metrics = qualityColumns(rows);
  const header = [
    ...(tasks.length > 1 ? ["task"] : []),
    "policy",
    `layers (of ${nLayers})`,
    ...metrics,
    "decode tok/s",
    "ms/token",
    "KV KiB/seq",
  ];
  const align = header.map((_, i) => (i < (tasks.length > 1 ? 2 : 1) ? ":--" : "--:"));
  const lines = [`| ${header.join(" | ")} |`, `|${align.join("|")}|`];
  for (const row of rows) {
    const cells = [
      ...(tasks.length > 1 ? [row.task] : []),
      row.policy,
      num(row.executedLayers, 2),
      ...metrics.map((m) => metricCell(m, row.quality[m])),
      num(row.decodeTokensPerSecond, 1),
      num(row.msPerOutputToken, 2),
      num(row.kvBytesPerSequence / 1024, 0),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return `${lines.join("\n")}\n`;
}
