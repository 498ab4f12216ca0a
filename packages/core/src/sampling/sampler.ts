/**
 * Picks the next token from a row of logits, in llama.cpp's default order: repetition penalty, top-k,
 * top-p, min-p, temperature, then a seeded random draw. Temperature 0 is greedy: the highest penalized
 * logit, lowest id on ties.
 */
import { InvalidOptionError } from "../errors.js";
import { type ResolvedSampling, type SamplingOptions, validateSampling } from "./options.js";
import { Xoshiro128 } from "./prng.js";
import { topIndices, topProbabilityMass } from "./select.js";

export class Sampler {
  readonly options: Readonly<ResolvedSampling>;
  private readonly rng: Xoshiro128;
  private scratch = new Float32Array(0);
  private weights = new Float64Array(0);

  constructor(options: SamplingOptions = {}) {
    this.options = validateSampling(options);
    this.rng = new Xoshiro128(this.options.seed);
  }

  /**
   * The next token id. `logits` holds one score per vocabulary entry (it is not modified); `history` is
   * the sequence so far (prompt and generated tokens), which the repetition penalty looks at.
   */
  sample(logits: Float32Array, history: ArrayLike<number> = []): number {
    const n = logits.length;
    if (n === 0) throw new InvalidOptionError("logits", "must not be empty");
    const work = this.penalized(logits, history);
    const { temperature, topK, topP, minP } = this.options;
    if (temperature === 0) return argmax(work);

    let candidates: Int32Array | null = topK > 0 && topK < n ? topIndices(work, topK) : null; // null: all, unsorted
    if (topP < 1) candidates = keepTopP(work, candidates, topP);
    if (minP > 0) candidates = keepMinP(work, candidates, minP);
    return this.draw(work, candidates, temperature);
  }

  /** A copy of the logits with the repetition penalty applied and NaN turned into -Infinity. */
  private penalized(logits: Float32Array, history: ArrayLike<number>): Float32Array {
    if (this.scratch.length !== logits.length) this.scratch = new Float32Array(logits.length);
    const work = this.scratch;
    work.set(logits);
    for (let i = 0; i < work.length; i++) if (Number.isNaN(work[i])) work[i] = -Infinity;
    const { repeatPenalty, repeatLastN } = this.options;
    if (repeatPenalty === 1 || repeatLastN === 0) return work;
    const from = repeatLastN < 0 ? 0 : Math.max(0, history.length - repeatLastN);
    const seen = new Set<number>();
    for (let i = from; i < history.length; i++) {
      const id = history[i];
      if (id < 0 || id >= work.length || seen.has(id)) continue;
      seen.add(id);
      work[id] = work[id] > 0 ? work[id] / repeatPenalty : work[id] * repeatPenalty;
    }
    return work;
  }

  /** Softmax of logits/temperature over the candidates, and one draw from it. */
  private draw(work: Float32Array, candidates: Int32Array | null, temperature: number): number {
    const count = candidates ? candidates.length : work.length;
    const at = (i: number) => (candidates ? candidates[i] : i);
    let max = -Infinity;
    for (let i = 0; i < count; i++) max = Math.max(max, work[at(i)]);
    if (max === -Infinity) return candidates ? candidates[0] : argmax(work); // nothing finite to weigh
    if (this.weights.length < count) this.weights = new Float64Array(work.length);
    const weights = this.weights;
    let total = 0;
    for (let i = 0; i < count; i++) total += weights[i] = Math.exp((work[at(i)] - max) / temperature);
    let r = this.rng.nextFloat() * total;
    for (let i = 0; i < count; i++) {
      if (r < weights[i]) return at(i);
      r -= weights[i];
    }
    // Rounding left r just above the last weight: take the last candidate that has any weight.
    for (let i = count - 1; i >= 0; i--) if (weights[i] > 0) return at(i);
    return at(0);
  }
}

/** Index of the highest value; the lowest index among equals. */
export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * The smallest set of best candidates whose softmax probability reaches p (at least one). `candidates`
 * null means the whole vocabulary; otherwise they are the top-k, best first.
 */
function keepTopP(work: Float32Array, candidates: Int32Array | null, p: number): Int32Array {
  if (candidates === null) return topProbabilityMass(work, p);
  let max = -Infinity;
  for (const id of candidates) max = Math.max(max, work[id]);
  let total = 0;
  for (const id of candidates) total += Math.exp(work[id] - max);
  let cumulative = 0;
  for (let i = 0; i < candidates.length; i++) {
    cumulative += Math.exp(work[candidates[i]] - max) / total;
    if (cumulative >= p) return candidates.subarray(0, i + 1);
  }
  return candidates; // rounding kept the sum just under p: keep them all
}

/** Candidates at least minP times as likely as the best one (compared as logits: x >= max + ln minP). */
function keepMinP(work: Float32Array, candidates: Int32Array | null, minP: number): Int32Array {
  const n = candidates ? candidates.length : work.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, work[candidates ? candidates[i] : i]);
  const threshold = max + Math.log(minP);
  const kept: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = candidates ? candidates[i] : i;
    if (work[id] >= threshold) kept.push(id);
  }
  return Int32Array.from(kept);
}
