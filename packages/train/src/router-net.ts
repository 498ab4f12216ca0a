// Trainable FiRST routers: the same networks as routers/router-set.ts
// (linear probe, or RMSNorm -> fc1 -> SiLU -> fc2), with a backward pass.
// Computation is in float64; parameters are Float32Array in training (what the
// checkpoint stores) or Float64Array (the finite-difference test).
import type { RouterKind, RouterSetConfig, RouterSetData, RouterWeights } from "@first/core";
import type { TrainRandom } from "./random.js";

export type Vec = Float32Array | Float64Array;

/** One layer's router: parameters by checkpoint name, and their gradients. */
export interface LayerRouter {
  kind: RouterKind;
  d: number;
  hidden: number;
  eps: number;
  /** linear: fc.weight [d], fc.bias [1]; mlp: norm.weight [d], fc1.weight [h*d], fc1.bias [h], fc2.weight [h], fc2.bias [1]. */
  params: Record<string, Vec>;
  grads: Record<string, Float64Array>;
}

/** What the backward pass needs from the forward pass. */
export interface RouterCache {
  x: ArrayLike<number>;
  z: number;
  p: number;
  /** mlp only: 1/rms(x), the normalised-and-scaled input, fc1 outputs. */
  inv?: number;
  u?: Float64Array;
  a?: Float64Array;
}

export const PARAM_SHAPES = {
  linear: (d: number) => ({ "fc.weight": [1, d], "fc.bias": [1] }),
  mlp: (d: number, h: number) => ({
    "norm.weight": [d],
    "fc1.weight": [h, d],
    "fc1.bias": [h],
    "fc2.weight": [1, h],
    "fc2.bias": [1],
  }),
} as const;

export function paramShapes(kind: RouterKind, d: number, hidden: number): Record<string, number[]> {
  return kind === "linear" ? PARAM_SHAPES.linear(d) : PARAM_SHAPES.mlp(d, hidden);
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export function routerForward(r: LayerRouter, x: ArrayLike<number>): RouterCache {
  const d = r.d;
  if (r.kind === "linear") {
    const w = r.params["fc.weight"];
    let z = r.params["fc.bias"][0];
    for (let i = 0; i < d; i++) z += w[i] * x[i];
    return { x, z, p: sigmoid(z) };
  }
  const h = r.hidden, g = r.params["norm.weight"], w1 = r.params["fc1.weight"], b1 = r.params["fc1.bias"], w2 = r.params["fc2.weight"];
  let ss = 0;
  for (let i = 0; i < d; i++) ss += x[i] * x[i];
  const inv = 1 / Math.sqrt(ss / d + r.eps);
  const u = new Float64Array(d);
  for (let i = 0; i < d; i++) u[i] = x[i] * inv * g[i];
  const a = new Float64Array(h);
  let z = r.params["fc2.bias"][0];
  for (let j = 0; j < h; j++) {
    let s = b1[j];
    const row = j * d;
    for (let i = 0; i < d; i++) s += w1[row + i] * u[i];
    a[j] = s;
    z += w2[j] * s * sigmoid(s);
  }
  return { x, z, p: sigmoid(z), inv, u, a };
}

/**
 * Adds dL/dparams for one input to r.grads, given dL/dz (z = the logit).
 * Returns dL/dx when `wantInput` (the gradient w.r.t. the mean prompt hidden state).
 */
export function routerBackward(r: LayerRouter, c: RouterCache, dz: number, wantInput = false): Float64Array | null {
  const d = r.d, x = c.x;
  const dx = wantInput ? new Float64Array(d) : null;
  if (r.kind === "linear") {
    const w = r.params["fc.weight"], gw = r.grads["fc.weight"];
    r.grads["fc.bias"][0] += dz;
    for (let i = 0; i < d; i++) gw[i] += dz * x[i];
    if (dx) for (let i = 0; i < d; i++) dx[i] = dz * w[i];
    return dx;
  }
  const h = r.hidden, g = r.params["norm.weight"], w1 = r.params["fc1.weight"], w2 = r.params["fc2.weight"];
  const G = r.grads;
  const inv = c.inv!, u = c.u!, a = c.a!;
  G["fc2.bias"][0] += dz;
  const du = new Float64Array(d);
  for (let j = 0; j < h; j++) {
    const sg = sigmoid(a[j]);
    G["fc2.weight"][j] += dz * a[j] * sg;
    const da = dz * w2[j] * (sg + a[j] * sg * (1 - sg)); // d silu(a)/da = s + a s (1 - s)
    G["fc1.bias"][j] += da;
    const row = j * d;
    for (let i = 0; i < d; i++) {
      G["fc1.weight"][row + i] += da * u[i];
      du[i] += da * w1[row + i];
    }
  }
  // u = x * inv * g: grads for g, then through the RMS normalisation.
  let dot = 0;
  const dn = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    G["norm.weight"][i] += du[i] * x[i] * inv;
    dn[i] = du[i] * g[i];
    dot += dn[i] * x[i];
  }
  if (dx) for (let i = 0; i < d; i++) dx[i] = inv * dn[i] - (inv * inv * inv * x[i] * dot) / d;
  return dx;
}

export function newLayerRouter(kind: RouterKind, d: number, hidden: number, eps: number, float64 = false): LayerRouter {
  const params: Record<string, Vec> = {};
  const grads: Record<string, Float64Array> = {};
  for (const [name, shape] of Object.entries(paramShapes(kind, d, hidden))) {
    const n = shape.reduce((x, y) => x * y, 1);
    params[name] = float64 ? new Float64Array(n) : new Float32Array(n);
    grads[name] = new Float64Array(n);
  }
  return { kind, d, hidden: kind === "mlp" ? hidden : 0, eps, params, grads };
}

/**
 * Initialisation that starts training from "execute everything": the output
 * bias is logit(initP) and the weights that feed it are small, so p is about
 * initP for any input while gradients still differ between inputs.
 *   linear: fc.weight ~ U(+-0.01/sqrt(d)), fc.bias = logit(initP)
 *   mlp: norm.weight = 1, fc1 ~ U(+-1/sqrt(d)) (PyTorch's nn.Linear default),
 *        fc2.weight ~ U(+-0.01/sqrt(h)), fc2.bias = logit(initP)
 */
export function initLayerRouter(r: LayerRouter, rng: TrainRandom, initP: number): void {
  const bias = Math.log(initP / (1 - initP));
  const fill = (v: Vec, bound: number) => {
    for (let i = 0; i < v.length; i++) v[i] = rng.uniform(bound);
  };
  if (r.kind === "linear") {
    fill(r.params["fc.weight"], 0.01 / Math.sqrt(r.d));
    r.params["fc.bias"][0] = bias;
    return;
  }
  r.params["norm.weight"].fill(1);
  fill(r.params["fc1.weight"], 1 / Math.sqrt(r.d));
  fill(r.params["fc1.bias"], 1 / Math.sqrt(r.d));
  fill(r.params["fc2.weight"], 0.01 / Math.sqrt(r.hidden));
  r.params["fc2.bias"][0] = bias;
}

/** The routers of every routable layer, trained together. */
export class TrainableRouters {
  readonly layers: (LayerRouter | null)[];

  constructor(readonly config: RouterSetConfig) {
    const exempt = new Set(config.exempt);
    this.layers = Array.from({ length: config.nLayers }, (_, l) =>
      exempt.has(l) ? null : newLayerRouter(config.kind, config.dModel, config.hidden, config.normEps),
    );
  }

  static init(config: RouterSetConfig, rng: TrainRandom, initP: number): TrainableRouters {
    const t = new TrainableRouters(config);
    for (const r of t.layers) if (r) initLayerRouter(r, rng, initP);
    return t;
  }

  /** Routable layers, in order. */
  get routable(): number[] {
    return this.layers.flatMap((r, l) => (r ? [l] : []));
  }

  /** Flat named tensors ("layers.{l}.fc.weight", ...) for the optimizer and checkpoints. */
  tensors(): { name: string; value: Vec; grad: Float64Array; decay: boolean }[] {
    return this.layers.flatMap((r, l) =>
      r
        ? Object.keys(r.params).map((k) => ({
            name: `layers.${l}.${k}`,
            value: r.params[k],
            grad: r.grads[k],
            // Decay the projection weights only, not biases or the norm's gain (as is usual).
            decay: k === "fc.weight" || k === "fc1.weight" || k === "fc2.weight",
          }))
        : [],
    );
  }

  zeroGrad(): void {
    for (const r of this.layers) if (r) for (const g of Object.values(r.grads)) g.fill(0);
  }

  /** A copy in the inference form (checkpoint.ts, layer-plan.ts). */
  toRouterSetData(threshold = this.config.threshold): RouterSetData {
    const layers = this.layers.map((r): RouterWeights | null => {
      if (!r) return null;
      const f = (k: string) => Float32Array.from(r.params[k]);
      return r.kind === "linear"
        ? { fcWeight: f("fc.weight"), fcBias: r.params["fc.bias"][0] }
        : { normWeight: f("norm.weight"), fc1Weight: f("fc1.weight"), fc1Bias: f("fc1.bias"), fc2Weight: f("fc2.weight"), fc2Bias: r.params["fc2.bias"][0] };
    });
    return { config: { ...this.config, exempt: [...this.config.exempt], threshold }, layers };
  }

  static fromRouterSetData(data: RouterSetData): TrainableRouters {
    const t = new TrainableRouters(data.config);
    t.layers.forEach((r, l) => {
      const w = data.layers[l];
      if (!r) return;
      if (!w) throw new Error(`router data has no weights for routable layer ${l}`);
      if (r.kind === "linear") {
        r.params["fc.weight"].set(w.fcWeight!);
        r.params["fc.bias"][0] = w.fcBias ?? 0;
      } else {
        r.params["norm.weight"].set(w.normWeight!);
        r.params["fc1.weight"].set(w.fc1Weight!);
        r.params["fc1.bias"].set(w.fc1Bias!);
        r.params["fc2.weight"].set(w.fc2Weight!);
        r.params["fc2.bias"][0] = w.fc2Bias ?? 0;
      }
    });
    return t;
  }
}
