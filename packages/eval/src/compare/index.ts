// Comparing FiRST with the full model and layer-skipping baselines.
import type { LoadedModel } from "@first/core";
import { evaluate } from "../runner.js";
import { runComparison, type CompareOptions, type CompareResult } from "./run.js";

/** Runs a comparison with the evaluation runner (see runComparison). */
export function compare(model: LoadedModel, options: CompareOptions<LoadedModel>): Promise<CompareResult> {
  return runComparison(model, options, evaluate);
}

export { runComparison, safeName, type CompareOptions, type CompareResult, type CompareModel, type Evaluator, type PolicyEvent } from "./run.js";
export { BASELINES, parseBaselines, parseThresholds, firstPolicyName, matchedSkipCount, baselinePolicies, type Baseline } from "./policies.js";
export { SummaryStore, type FinishedPolicy } from "./store.js";
export { rowOf, tableJson, tableMarkdown, canonicalQuality, mainMetric, lowerIsBetter, type CompareRow, type CompareTable } from "./table.js";
export { qualityVsSpeedSvg, skipHeatmapSvg, writeFigures } from "./figures.js";
