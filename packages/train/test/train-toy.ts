// A small TypeScript model with the native Trainer's interface, for testing
// the training loop without the addon. Layer l is position-wise:
//   h_{l+1} = h_l + g_l * M_l tanh(h_l),  M_l = W_l + scale * B_l A_l (LoRA "q")
// logits = U h_L; loss = mean cross-entropy over target positions.
import type { BackendSequence, LoraTensorInfo, LossWeighting, TrainBackend } from "../src/backend.js";
import { TrainRandom } from "../src/random.js";

export class ToyBackend implements TrainBackend {
  readonly E: Float64Array; // [vocab x d]
  readonly U: Float64Array; // [vocab x d]
  readonly W: Float64Array[]; // [d x d] per layer
  readonly A = new Map<number, Float32Array>(); // [r x d]
  readonly B = new Map<number, Float32Array>(); // [d x r]
  readonly gA = new Map<number, Float32Array>();
  readonly gB = new Map<number, Float32Array>();
  private seqs: BackendSequence[] = [];
  private hs: Float64Array[][] = []; // per layer input, per seq [T x d]
  private gates: Float32Array[] = [];
  private dh: Float64Array[] = [];

  constructor(readonly nLayers: number, readonly d: number, readonly vocab: number, seed = 3, readonly lora?: { rank: number; alpha: number }) {
    const rng = new TrainRandom(seed);
    const fill = (n: number, s: number) => Float64Array.from({ length: n }, () => rng.uniform(s));
    this.E = fill(vocab * d, 1);
    this.U = fill(vocab * d, 1);
    this.W = Array.from({ length: nLayers }, () => fill(d * d, 1 / Math.sqrt(d)));
    if (lora) for (let l = 0; l < nLayers; l++) {
      this.A.set(l, new Float32Array(lora.rank * d));
      this.B.set(l, new Float32Array(d * lora.rank));
      this.gA.set(l, new Float32Array(lora.rank * d));
      this.gB.set(l, new Float32Array(d * lora.rank));
    }
  }

  private get scale() {
    return this.lora ? this.lora.alpha / this.lora.rank : 0;
  }

  /** M_l = W_l + scale * B A, [d x d]. */
  private M(l: number): Float64Array {
    const d = this.d, M = Float64Array.from(this.W[l]);
    if (!this.lora) return M;
    const A = this.A.get(l)!, B = this.B.get(l)!, r = this.lora.rank;
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += B[i * r + k] * A[k * d + j];
      M[i * d + j] += this.scale * s;
    }
    return M;
  }

  loraTensors(): LoraTensorInfo[] {
    if (!this.lora) return [];
    const r = this.lora.rank, d = this.d;
    return Array.from({ length: this.nLayers }, (_, l) => [
      { name: `layers.${l}.q.A`, layer: l, module: "q", kind: "A" as const, rows: r, cols: d },
      { name: `layers.${l}.q.B`, layer: l, module: "q", kind: "B" as const, rows: d, cols: r },
    ]).flat();
  }
  private lookup(name: string, grads = false): Float32Array {
    const [, l, , kind] = name.split(".");
    const m = kind === "A" ? (grads ? this.gA : this.A) : grads ? this.gB : this.B;
    return m.get(Number(l))!;
  }
  getLora(name: string) {
    return Float32Array.from(this.lookup(name));
  }
  setLora(name: string, data: Float32Array) {
    this.lookup(name).set(data);
  }
  loraGrad(name: string) {
    return this.lookup(name, true);
  }
  zeroGrad() {
    for (const g of [...this.gA.values(), ...this.gB.values()]) g.fill(0);
  }

  begin(seqs: BackendSequence[]) {
    const d = this.d;
    this.seqs = seqs;
    this.hs = [seqs.map((s) => {
      const h = new Float64Array(s.tokens.length * d);
      s.tokens.forEach((t, i) => h.set(this.E.subarray(t * d, (t + 1) * d), i * d));
      return h;
    })];
    this.gates = [];
  }
  meanHidden(seq: number, out?: Float32Array) {
    const d = this.d, h = this.hs[this.hs.length - 1][seq], P = this.seqs[seq].promptLength;
    const o = out ?? new Float32Array(d);
    o.fill(0);
    for (let t = 0; t < P; t++) for (let j = 0; j < d; j++) o[j] += h[t * d + j] / P;
    return o;
  }
  forwardLayer(l: number, gates: Float32Array) {
    const d = this.d, M = this.M(l);
    this.gates[l] = Float32Array.from(gates);
    this.hs.push(this.hs[l].map((h, s) => {
      const out = Float64Array.from(h);
      const g = gates[s];
      if (g === 0) return out;
      for (let t = 0; t < h.length / d; t++) for (let i = 0; i < d; i++) {
        let a = 0;
        for (let j = 0; j < d; j++) a += M[i * d + j] * Math.tanh(h[t * d + j]);
        out[t * d + i] += g * a;
      }
      return out;
    }));
  }
  loss(weighting: LossWeighting = "tokens") {
    const d = this.d, V = this.vocab, hL = this.hs[this.nLayers];
    let sum = 0, n = 0;
    const counts = this.seqs.map((s) => s.targets.filter((t) => t >= 0).length);
    for (const c of counts) n += c;
    const withTargets = counts.filter((c) => c > 0).length;
    this.dh = this.seqs.map((s, si) => {
      const dh = new Float64Array(hL[si].length);
      // Weight of each of this sequence's target positions in the mean.
      const w = weighting === "tokens" ? 1 / n : 1 / (withTargets * counts[si]);
      s.targets.forEach((target, t) => {
        if (target < 0) return;
        const z = new Float64Array(V);
        for (let v = 0; v < V; v++) for (let j = 0; j < d; j++) z[v] += this.U[v * d + j] * hL[si][t * d + j];
        const m = Math.max(...z);
        let se = 0;
        for (let v = 0; v < V; v++) se += Math.exp(z[v] - m);
        sum += w * (m + Math.log(se) - z[target]);
        for (let v = 0; v < V; v++) {
          const dz = (Math.exp(z[v] - m) / se - (v === target ? 1 : 0)) * w;
          for (let j = 0; j < d; j++) dh[t * d + j] += dz * this.U[v * d + j];
        }
      });
      return dh;
    });
    return { loss: sum, tokens: n };
  }
  backwardLayer(l: number, meanHiddenGrad?: Float32Array) {
    const d = this.d, M = this.M(l), r = this.lora?.rank ?? 0;
    const dg = new Float32Array(this.seqs.length);
    this.dh = this.dh.map((dOut, s) => {
      const P = this.seqs[s].promptLength, h = this.hs[l][s], g = this.gates[l][s];
      if (meanHiddenGrad) for (let t = 0; t < P; t++) for (let j = 0; j < d; j++) dOut[t * d + j] += meanHiddenGrad[s * d + j] / P;
      const dIn = Float64Array.from(dOut);
      let dgs = 0;
      for (let t = 0; t < h.length / d; t++) {
        const th = new Float64Array(d);
        for (let j = 0; j < d; j++) th[j] = Math.tanh(h[t * d + j]);
        for (let i = 0; i < d; i++) {
          let a = 0;
          for (let j = 0; j < d; j++) a += M[i * d + j] * th[j];
          dgs += dOut[t * d + i] * a;
        }
        if (g === 0) continue;
        for (let j = 0; j < d; j++) {
          let a = 0;
          for (let i = 0; i < d; i++) a += M[i * d + j] * dOut[t * d + i];
          dIn[t * d + j] += g * (1 - th[j] * th[j]) * a;
        }
        if (this.lora) {
          // dM = g dOut th^T; dB = scale dM A^T; dA = scale B^T dM.
          const A = this.A.get(l)!, B = this.B.get(l)!, gA = this.gA.get(l)!, gB = this.gB.get(l)!;
          const Ath = new Float64Array(r), BtD = new Float64Array(r);
          for (let k = 0; k < r; k++) for (let j = 0; j < d; j++) Ath[k] += A[k * d + j] * th[j];
          for (let k = 0; k < r; k++) for (let i = 0; i < d; i++) BtD[k] += B[i * r + k] * dOut[t * d + i];
          for (let i = 0; i < d; i++) for (let k = 0; k < r; k++) gB[i * r + k] += this.scale * g * dOut[t * d + i] * Ath[k];
          for (let k = 0; k < r; k++) for (let j = 0; j < d; j++) gA[k * d + j] += this.scale * g * BtD[k] * th[j];
        }
      }
      dg[s] = dgs;
      return dIn;
    });
    return dg;
  }
  end() {
    this.hs = [];
    this.dh = [];
  }
}
