// AdamW (decoupled weight decay), linear warm-up then cosine decay, and
// global gradient-norm clipping. The moments are float32 so a checkpoint
// holds them exactly and a resumed run continues bit for bit.
import type { Vec } from "./router-net.js";

export interface TrainParam {
  name: string;
  value: Vec;
  grad: Float32Array | Float64Array;
  /** Whether weight decay applies. */
  decay: boolean;
}

export interface AdamWOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: Omit<AdamWOptions, "lr"> = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

export class AdamW {
  /** First and second moments by parameter name. */
  readonly m = new Map<string, Float32Array>();
  readonly v = new Map<string, Float32Array>();
  /** Updates taken so far (for bias correction). */
  t = 0;

  constructor(readonly options: AdamWOptions) {}

  /** One update of every parameter with learning rate `lr`. */
  step(params: TrainParam[], lr: number): void {
    const { beta1, beta2, eps, weightDecay } = this.options;
    this.t++;
    const c1 = 1 - beta1 ** this.t;
    const c2 = 1 - beta2 ** this.t;
    for (const p of params) {
      const n = p.value.length;
      let m = this.m.get(p.name);
      let v = this.v.get(p.name);
      if (!m || !v) {
        m = new Float32Array(n);
        v = new Float32Array(n);
        this.m.set(p.name, m);
        this.v.set(p.name, v);
      }
      const decay = p.decay ? lr * weightDecay : 0;
      for (let i = 0; i < n; i++) {
        const g = p.grad[i];
        m[i] = beta1 * m[i] + (1 - beta1) * g;
        v[i] = beta2 * v[i] + (1 - beta2) * g * g;
        const update = m[i] / c1 / (Math.sqrt(v[i] / c2) + eps);
        p.value[i] = p.value[i] - decay * p.value[i] - lr * update;
      }
    }
  }
}

export interface ScheduleOptions {
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  /** Floor of the cosine decay as a fraction of lr (default 0). */
  minRatio?: number;
}

/** Learning rate for update `step` (0-based): linear warm-up to lr, then cosine decay to lr * minRatio. */
export function learningRate(step: number, o: ScheduleOptions): number {
  if (o.warmupSteps > 0 && step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  const decaySteps = Math.max(1, o.totalSteps - o.warmupSteps);
  const progress = Math.min(1, (step - o.warmupSteps) / decaySteps);
  const min = o.minRatio ?? 0;
  return o.lr * (min + (1 - min) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/** Scales every gradient so that their global L2 norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(grads: { grad: Float32Array | Float64Array }[], maxNorm: number): number {
  let ss = 0;
  for (const { grad } of grads) for (let i = 0; i < grad.length; i++) ss += grad[i] * grad[i];
  const norm = Math.sqrt(ss);
  if (maxNorm > 0 && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const { grad } of grads) for (let i = 0; i < grad.length; i++) grad[i] *= s;
  }
  return norm;
}
