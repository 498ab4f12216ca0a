// A seeded generator whose whole state is one 32-bit number, so a training
// checkpoint can save it and a resumed run draws exactly the same numbers.
// mulberry32: small and fast; its quality is ample for shuffling and init.

export class TrainRandom {
  private s: number;

  constructor(seed: number) {
    this.s = (seed % 2 ** 32) >>> 0;
  }

  /** The state to save; `TrainRandom.fromState` continues the stream. */
  get state(): number {
    return this.s;
  }

  static fromState(state: number): TrainRandom {
    const r = new TrainRandom(0);
    r.s = state >>> 0;
    return r;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [-bound, bound). */
  uniform(bound: number): number {
    return (2 * this.next() - 1) * bound;
  }

  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): number[] {
    const out = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }
}
