// The router part of the FiRST training objective and the gate each layer
// gets: soft (g = p) early in training, hard with a straight-through
// estimator (forward g = 1[p >= threshold], backward dL/dp = dL/dg) late.

export interface RegularizerOptions {
  /** Weight of the sparsity term lambda * mean_l p_l^alpha. */
  lambda: number;
  alpha: number;
  /** Target mean execution probability for the budget term; undefined = no budget term. */
  target?: number;
  /** Weight of the budget term (mean_l p_l - target)^2. */
  budgetWeight: number;
  /**
   * What the budget term averages p over: each sequence on its own (every
   * prompt is pulled to the same skip ratio) or the whole batch (prompts may
   * trade layers: some skip more, some less, the batch meets the target).
   */
  budgetOver?: BudgetScope;
}

export type BudgetScope = "sequence" | "batch";
export const BUDGET_SCOPES: readonly BudgetScope[] = ["sequence", "batch"];

export interface RegularizerValue {
  sparsity: number;
  budget: number;
  /** dR/dp, same shape as p. */
  grad: Float64Array[];
}

/**
 * R = mean over sequences of lambda * mean_l p_l^alpha, plus the budget term:
 * budgetOver "sequence": mean over sequences of budgetWeight * (mean_l p_l - target)^2;
 * budgetOver "batch": budgetWeight * (mean over sequences of mean_l p_l - target)^2.
 * `p[s][k]`: probability of sequence s executing its k-th routable layer.
 */
export function routerRegularizer(p: ArrayLike<number>[], o: RegularizerOptions): RegularizerValue {
  const nSeq = p.length;
  let sparsity = 0, budget = 0;
  const perBatch = o.budgetOver === "batch";
  // Each sequence's mean p, once; the batch budget uses their mean.
  const means = p.map((row) => {
    let m = 0;
    for (let k = 0; k < row.length; k++) m += row[k] / row.length;
    return m;
  });
  const batchDiff = perBatch && o.target !== undefined && nSeq > 0 ? means.reduce((a, m) => a + m, 0) / nSeq - o.target : 0;
  if (perBatch && o.target !== undefined) budget = o.budgetWeight * batchDiff * batchDiff;
  const grad = p.map((row, s) => {
    const n = row.length;
    const g = new Float64Array(n);
    if (n === 0) return g;
    for (let k = 0; k < n; k++) {
      const pk = Math.max(row[k], 0);
      sparsity += (o.lambda * pk ** o.alpha) / (n * nSeq);
      // p^(alpha-1) at p = 0 is infinite for alpha < 1; p > 0 always holds for a sigmoid.
      g[k] = (o.lambda * o.alpha * pk ** (o.alpha - 1)) / (n * nSeq);
    }
    if (o.target !== undefined) {
      const diff = perBatch ? batchDiff : means[s] - o.target;
      if (!perBatch) budget += (o.budgetWeight * diff * diff) / nSeq;
      for (let k = 0; k < n; k++) g[k] += (2 * o.budgetWeight * diff) / (n * nSeq);
    }
    return g;
  });
  return { sparsity, budget, grad };
}

/**
 * The gate value a layer runs with. Hard "off" is not 0 but a value so small
 * that h + g (F(h) - h) rounds to h in float32: the output equals skipping,
 * yet the native backward still computes F(h) and so returns dL/dg, which the
 * straight-through estimator needs. (0 would skip F, leaving no gradient.)
 */
export const STE_OFF_GATE = 1e-30;

export function gateFor(p: number, hard: boolean, threshold: number): number {
  if (!hard) return p;
  return p >= threshold ? 1 : STE_OFF_GATE;
}

/** Whether step `step` (0-based) of `total` uses hard decisions. */
export function isHardStep(step: number, total: number, hardAfter: number): boolean {
  return hardAfter < 1 && step >= Math.floor(hardAfter * total);
}
