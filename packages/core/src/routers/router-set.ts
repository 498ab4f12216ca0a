// FiRST routers: one small network per routable layer that maps the mean
// prompt hidden state entering the layer to p_l, the probability of
// executing it. The layer runs when p_l >= threshold.

export type RouterKind = "linear" | "mlp";

/** Weights of one layer's router. linear: fc; mlp: RMSNorm -> fc1 -> SiLU -> fc2. */
export interface RouterWeights {
  /** linear: [1 x d] weight, [1] bias. */
  fcWeight?: Float32Array;
  fcBias?: number;
  /** mlp */
  normWeight?: Float32Array; // [d]
  fc1Weight?: Float32Array; // [hidden x d]
  fc1Bias?: Float32Array; // [hidden]
  fc2Weight?: Float32Array; // [hidden]
  fc2Bias?: number;
}

export interface RouterSetConfig {
  kind: RouterKind;
  dModel: number;
  /** Width of the mlp's hidden layer (mlp only). */
  hidden: number;
  nLayers: number;
  /** Layers that always run (no router). */
  exempt: number[];
  threshold: number;
  normEps: number;
  /**
   * The layer budget these routers take when no adapter runs with them and the
   * request names neither a threshold nor a budget (router.json's
   * withoutAdapter.layerBudget): routers trained beside an adapter skip too much
   * without it at their threshold.
   */
  layerBudgetWithoutAdapter?: number;
}

/** Plain-data form that crosses to the engine worker (structured clone). */
export interface RouterSetData {
  config: RouterSetConfig;
  /** Indexed by layer; null for exempt layers. */
  layers: (RouterWeights | null)[];
}

export const DEFAULT_EXEMPT = (nLayers: number): number[] =>
  [...new Set([0, 1, nLayers - 1].filter((l) => l >= 0 && l < nLayers))].sort((a, b) => a - b);

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** p_l for one layer given the mean prompt hidden state entering it. */
export function routerProbability(data: RouterSetData, layer: number, hidden: Float32Array): number {
  const w = data.layers[layer];
  if (!w) return 1;
  return sigmoid(routerLogit(data.config, w, hidden));
}

export function routerLogit(cfg: RouterSetConfig, w: RouterWeights, x: Float32Array): number {
  const d = cfg.dModel;
  if (cfg.kind === "linear") {
    let s = w.fcBias ?? 0;
    const fw = w.fcWeight!;
    for (let i = 0; i < d; i++) s += fw[i] * x[i];
    return s;
  }
  let ss = 0;
  for (let i = 0; i < d; i++) ss += x[i] * x[i];
  const inv = 1 / Math.sqrt(ss / d + cfg.normEps);
  const g = w.normWeight!, w1 = w.fc1Weight!, b1 = w.fc1Bias!, w2 = w.fc2Weight!;
  let out = w.fc2Bias ?? 0;
  for (let j = 0; j < cfg.hidden; j++) {
    let a = b1[j];
    const row = j * d;
    for (let i = 0; i < d; i++) a += w1[row + i] * (x[i] * inv * g[i]);
    out += w2[j] * (a / (1 + Math.exp(-a)));
  }
  return out;
}
