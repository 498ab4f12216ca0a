// Metric families by name: per-example scores and corpus-level aggregation.
import type { ExampleRecord, MetricName, Scores } from "../types.js";
import { corpusBleu } from "./bleu.js";
import { corpusChrf } from "./chrf.js";
import { lambadaFromScores } from "./lambada.js";
import { numericScores } from "./numeric.js";
import { perplexityFromScores } from "./perplexity.js";
import { rougeScores } from "./rouge.js";
import { squadScores } from "./squad.js";

export const METRICS: readonly MetricName[] = ["rouge", "bleu", "chrf", "squad", "numeric", "loglik", "perplexity", "lambada"];

/** Metrics that compare generated text with references. */
export const GENERATION_METRICS: readonly MetricName[] = ["rouge", "bleu", "chrf", "squad", "numeric"];

/** Per-example scores of a generated output (BLEU and chrF have no per-example score: they are corpus-level). */
export function scoreOutput(metric: MetricName, output: string, references: string[]): Scores {
  switch (metric) {
    case "rouge":
      return rougeScores(output, references);
    case "squad":
      return squadScores(output, references);
    case "numeric":
      return numericScores(output, references);
    default:
      return {};
  }
}

function mean(records: ExampleRecord[], key: string): number {
  const xs = records.map((r) => r.scores[key]).filter((v) => typeof v === "number");
  return xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** Corpus-level quality of a metric over evaluated examples. */
export function aggregate(metric: MetricName, records: ExampleRecord[]): Scores {
  switch (metric) {
    case "rouge":
      return { rouge1: mean(records, "rouge1"), rouge2: mean(records, "rouge2"), rougeL: mean(records, "rougeL") };
    case "bleu":
      return { bleu: records.length > 0 ? corpusBleu(records.map((r) => r.output), records.map((r) => r.references)) : NaN };
    case "chrf":
      return { chrf: records.length > 0 ? corpusChrf(records.map((r) => r.output), records.map((r) => r.references)) : NaN };
    case "squad":
      return { em: mean(records, "em"), f1: mean(records, "f1") };
    case "numeric":
      return { exact_match: mean(records, "exact_match") };
    case "loglik":
      return { acc: mean(records, "acc"), acc_norm: mean(records, "acc_norm") };
    case "perplexity":
      return perplexityFromScores(records.map((r) => r.scores));
    case "lambada":
      return lambadaFromScores(records.map((r) => r.scores));
  }
}
