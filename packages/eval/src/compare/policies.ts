// Which policies a comparison runs: the full model, FiRST at each threshold,
// and input-agnostic baselines matched to FiRST's mean executed layers.
import { InvalidOptionError } from "@first/core";

export const BASELINES = ["uls", "bi", "random", "last", "exit"] as const;
export type Baseline = (typeof BASELINES)[number];

/** "uls,bi" -> ["uls", "bi"]; "all" or undefined -> every baseline. */
export function parseBaselines(list: string | undefined): Baseline[] {
  if (list === undefined || list.trim() === "all") return [...BASELINES];
  const names = list.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) return [];
  for (const n of names)
    if (!(BASELINES as readonly string[]).includes(n))
      throw new InvalidOptionError("baselines", `unknown baseline "${n}" (choose from ${BASELINES.join(", ")})`);
  return [...new Set(names)] as Baseline[];
}

/** "0.3,0.5" -> [0.3, 0.5], each in [0, 1]. */
export function parseThresholds(list: string | undefined): number[] {
  if (list === undefined) return [];
  const values = list.split(",").map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  for (const v of values)
    if (!Number.isFinite(v) || v < 0 || v > 1) throw new InvalidOptionError("thresholds", `each threshold must be a number in [0, 1]; got "${list}"`);
  return [...new Set(values)];
}

/** The FiRST row's name: "first" alone, "first@0.5" when several thresholds are compared. */
export function firstPolicyName(threshold: number | undefined, several: boolean): string {
  return several && threshold !== undefined ? `first@${threshold}` : "first";
}

/** Layers a baseline skips to match a mean of `executedLayers`: k = round(nLayers - executed), within what can be skipped. */
export function matchedSkipCount(executedLayers: number, nLayers: number, routable: number): number {
  return Math.max(0, Math.min(routable, Math.round(nLayers - executedLayers)));
}

/**
 * Baseline policy specs that skip k layers (exit:L keeps layers 0..L, so
 * L = nLayers - k - 1, i.e. executed - 1). random uses seed 0.
 */
export function baselinePolicies(baselines: readonly Baseline[], k: number, nLayers: number): string[] {
  return baselines.map((b) => (b === "exit" ? `exit:${Math.max(0, nLayers - k - 1)}` : `${b}:${k}`));
}
