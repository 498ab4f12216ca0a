import { describe, expect, it } from "vitest";
import { InvalidOptionError } from "../src/errors.js";
import { Sampler, SAMPLING_DEFAULTS, validateSampling } from "../src/sampling/index.js";
import { topIndices, topProbabilityMass } from "../src/sampling/select.js";

const logitsOf = (probs: number[]) => Float32Array.from(probs, Math.log);

/** Frequencies of each id over `draws` samples (one seeded sampler, so the result is fixed). */
function frequencies(sampler: Sampler, logits: Float32Array, draws: number, history: number[] = []): number[] {
  const counts = new Array(logits.length).fill(0);
  for (let i = 0; i < draws; i++) counts[sampler.sample(logits, history)]++;
  return counts.map((c) => c / draws);
}

const DRAWS = 40_000;
const TOL = 0.012; // about 5 standard deviations of a frequency estimated from DRAWS samples

describe("Sampler", () => {
  it("greedy (temperature 0) takes the highest logit, lowest id on ties", () => {
    const s = new Sampler({ temperature: 0 });
    expect(s.sample(Float32Array.of(1, 3, 3, 2))).toBe(1);
    expect(s.sample(Float32Array.of(-5, -1, -2))).toBe(1);
    expect(s.sample(Float32Array.of(NaN, 0.5, NaN))).toBe(1);
  });

  it("divides positive and multiplies negative logits of recent tokens by the repetition penalty", () => {
    const s = new Sampler({ temperature: 0, repeatPenalty: 1.5, repeatLastN: 64 });
    // 2.0 / 1.5 = 1.33 < 1.9
    expect(s.sample(Float32Array.of(2.0, 1.9), [0])).toBe(1);
    // -1 * 1.5 = -1.5 < -1.2
    expect(s.sample(Float32Array.of(-1.0, -1.2), [0])).toBe(1);
    // Penalized once however often the token occurs: 2.0 / 1.5 = 1.33 > 1.3
    expect(s.sample(Float32Array.of(2.0, 1.3), [0, 0, 0, 0])).toBe(0);
  });

  it("looks only at the last repeatLastN tokens (-1: all, 0: none)", () => {
    // Token 0 loses to token 1 only when it is penalized: 2.0 / 2 = 1.0 < 1.9.
    const logits = Float32Array.of(2.0, 1.9, 0);
    const history = [0, 2, 2];
    const pick = (repeatLastN: number) => new Sampler({ temperature: 0, repeatPenalty: 2, repeatLastN }).sample(logits, history);
    expect(pick(2)).toBe(0);
    expect(pick(3)).toBe(1);
    expect(pick(-1)).toBe(1);
    expect(pick(0)).toBe(0);
  });

  it("does not modify the caller's logits", () => {
    const logits = Float32Array.of(2, 1, 0);
    new Sampler({ temperature: 0, repeatPenalty: 3 }).sample(logits, [0]);
    expect(Array.from(logits)).toEqual([2, 1, 0]);
  });

  it("samples the softmax at temperature 1 and sharpens it below 1", () => {
    const logits = logitsOf([1, 2]); // p = 1/3, 2/3
    const t1 = frequencies(new Sampler({ temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1 }), logits, DRAWS);
    expect(t1[1]).toBeCloseTo(2 / 3, 1);
    expect(Math.abs(t1[1] - 2 / 3)).toBeLessThan(TOL);
    // T = 0.5 squares the odds: 1 : 4
    const t05 = frequencies(new Sampler({ temperature: 0.5, topK: 0, topP: 1, minP: 0, seed: 2 }), logits, DRAWS);
    expect(Math.abs(t05[1] - 0.8)).toBeLessThan(TOL);
  });

  it("top-k keeps the k best tokens", () => {
    const logits = logitsOf([0.4, 0.3, 0.2, 0.1]);
    const f = frequencies(new Sampler({ temperature: 1, topK: 2, topP: 1, minP: 0, seed: 3 }), logits, DRAWS);
    expect(f[2] + f[3]).toBe(0);
    expect(Math.abs(f[0] - 4 / 7)).toBeLessThan(TOL);
    const one = new Sampler({ temperature: 5, topK: 1, seed: 4 });
    for (let i = 0; i < 100; i++) expect(one.sample(logits)).toBe(0);
  });

  it("top-p keeps the smallest best-first set reaching p, then renormalizes", () => {
    const logits = logitsOf([0.5, 0.3, 0.15, 0.05]);
    // 0.5 < 0.75 <= 0.8: tokens 0 and 1, in ratio 5 : 3
    const f = frequencies(new Sampler({ temperature: 1, topK: 0, topP: 0.75, minP: 0, seed: 5 }), logits, DRAWS);
    expect(f[2] + f[3]).toBe(0);
    expect(Math.abs(f[0] - 0.625)).toBeLessThan(TOL);
    // A single token already reaching p is all that is left.
    const g = frequencies(new Sampler({ temperature: 1, topK: 0, topP: 0.4, minP: 0, seed: 6 }), logits, 1000);
    expect(g[0]).toBe(1);
  });

  it("min-p drops tokens below minP times the best probability", () => {
    const logits = logitsOf([0.5, 0.3, 0.15, 0.05]);
    // threshold 0.2 * 0.5 = 0.1: token 3 goes; the rest keep ratios 0.5 : 0.3 : 0.15
    const f = frequencies(new Sampler({ temperature: 1, topK: 0, topP: 1, minP: 0.2, seed: 7 }), logits, DRAWS);
    expect(f[3]).toBe(0);
    expect(Math.abs(f[0] - 0.5 / 0.95)).toBeLessThan(TOL);
    expect(Math.abs(f[2] - 0.15 / 0.95)).toBeLessThan(TOL);
  });

  it("applies temperature after top-p (llama.cpp's order)", () => {
    const logits = logitsOf([0.5, 0.3, 0.15, 0.05]);
    // top-p 0.75 on the raw distribution keeps {0, 1}; T = 2 then flattens them to sqrt(0.5) : sqrt(0.3).
    // (Temperature first would flatten to 0.38/0.29/0.21/0.12 and keep three tokens.)
    const f = frequencies(new Sampler({ temperature: 2, topK: 0, topP: 0.75, minP: 0, seed: 8 }), logits, DRAWS);
    expect(f[2] + f[3]).toBe(0);
    const expected = Math.sqrt(0.5) / (Math.sqrt(0.5) + Math.sqrt(0.3));
    expect(Math.abs(f[0] - expected)).toBeLessThan(TOL);
  });

  it("applies top-k before top-p: top-p renormalizes over the k kept", () => {
    const logits = logitsOf([0.3, 0.25, 0.2, 0.15, 0.1]);
    // top-k 2 leaves 0.3 : 0.25 -> 0.545, 0.455; top-p 0.5 then keeps only token 0.
    const f = frequencies(new Sampler({ temperature: 1, topK: 2, topP: 0.5, minP: 0, seed: 9 }), logits, 2000);
    expect(f[0]).toBe(1);
  });

  it("gives the same tokens for the same seed, and different ones for another seed", () => {
    const logits = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 3);
    const run = (seed: number) => {
      const s = new Sampler({ temperature: 1.5, topK: 0, topP: 1, minP: 0, seed });
      return Array.from({ length: 50 }, () => s.sample(logits));
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });

  it("is quick on a 49152-entry vocabulary", () => {
    const logits = Float32Array.from({ length: 49152 }, (_, i) => Math.sin(i * 12.9898) * 8);
    for (const options of [{ topK: 40 }, { topK: 0, topP: 0.95 }, { topK: 0, topP: 1, minP: 0.05 }]) {
      const s = new Sampler({ ...options, seed: 1 });
      const start = performance.now();
      for (let i = 0; i < 100; i++) s.sample(logits, [1, 2, 3]);
      const perToken = (performance.now() - start) / 100;
      expect(perToken, JSON.stringify(options)).toBeLessThan(10);
    }
  });
});

describe("topProbabilityMass", () => {
  it("finds the smallest best set reaching p, as a full sort would", () => {
    for (const [n, spread] of [[50, 1], [5000, 3], [49152, 8]]) {
      const v = Float32Array.from({ length: n }, (_, i) => Math.round(Math.sin(i * 12.9898) * spread * 10) / 10);
      const max = Math.max(...v);
      const w = Array.from(v, (x) => Math.exp(x - max));
      const total = w.reduce((a, b) => a + b, 0);
      const order = Array.from(v.keys()).sort((a, b) => v[b] - v[a] || a - b);
      for (const p of [0.1, 0.5, 0.9, 0.95, 0.999]) {
        let cum = 0;
        let k = 0;
        while (cum < p * total) cum += w[order[k++]];
        const got = Array.from(topProbabilityMass(v, p)).sort((a, b) => a - b);
        expect(got, `n=${n} p=${p}`).toEqual(order.slice(0, k).sort((a, b) => a - b));
      }
    }
  });
});

describe("topIndices", () => {
  it("returns the k largest, best first, lower index on ties", () => {
    const v = Float32Array.of(1, 5, 3, 5, -Infinity, 4, 2);
    expect(Array.from(topIndices(v, 3))).toEqual([1, 3, 5]);
    expect(Array.from(topIndices(v, 10))).toEqual([1, 3, 5, 2, 6, 0, 4]);
    expect(topIndices(v, 0).length).toBe(0);
  });

  it("agrees with a full sort on random data", () => {
    const v = Float32Array.from({ length: 5000 }, (_, i) => Math.round(Math.sin(i * 7.1) * 50));
    const sorted = Array.from(v.keys()).sort((a, b) => v[b] - v[a] || a - b);
    expect(Array.from(topIndices(v, 100))).toEqual(sorted.slice(0, 100));
  });
});

describe("validateSampling", () => {
  it("fills in llama.cpp's defaults", () => {
    const r = validateSampling({ seed: 3 });
    expect(r).toEqual({ ...SAMPLING_DEFAULTS, seed: 3 });
    expect(Number.isSafeInteger(validateSampling().seed)).toBe(true);
  });

  const bad: [string, Record<string, unknown>][] = [
    ["temperature", { temperature: -0.1 }],
    ["temperature", { temperature: NaN }],
    ["temperature", { temperature: Infinity }],
    ["temperature", { temperature: "1" }],
    ["topK", { topK: -1 }],
    ["topK", { topK: 2.5 }],
    ["topP", { topP: 0 }],
    ["topP", { topP: 1.01 }],
    ["topP", { topP: NaN }],
    ["minP", { minP: -0.01 }],
    ["minP", { minP: 2 }],
    ["repeatPenalty", { repeatPenalty: 0 }],
    ["repeatPenalty", { repeatPenalty: -1 }],
    ["repeatLastN", { repeatLastN: -2 }],
    ["repeatLastN", { repeatLastN: 1.5 }],
    ["seed", { seed: -1 }],
    ["seed", { seed: 0.5 }],
  ];
  for (const [option, value] of bad) {
    it(`rejects ${JSON.stringify(value)} naming "${option}"`, () => {
      let error: unknown;
      try {
        new Sampler(value);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as InvalidOptionError).option).toBe(option);
      expect((error as Error).message).toContain(option);
    });
  }

  it("accepts the edges of each range", () => {
    expect(() => validateSampling({ temperature: 0, topK: 0, topP: 1, minP: 0, repeatPenalty: 1, repeatLastN: -1, seed: 0 })).not.toThrow();
    expect(() => validateSampling({ topP: 1e-9, minP: 1 })).not.toThrow();
  });
});
