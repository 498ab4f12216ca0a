/**
 * Sampling options, their defaults (llama.cpp's) and validation.
 */
import { InvalidOptionError } from "../errors.js";

export interface SamplingOptions {
  /** Softmax temperature; 0 picks the most likely token (greedy). Default 0.8. */
  temperature?: number;
  /** Keep only the k most likely tokens; 0 keeps all. Default 40. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability adds up to topP, in (0, 1]. Default 0.95. */
  topP?: number;
  /** Drop tokens less likely than minP times the most likely one, in [0, 1]. Default 0.05. */
  minP?: number;
  /** Divide positive logits (multiply negative ones) of recently seen tokens by this; 1 turns it off. Default 1. */
  repeatPenalty?: number;
  /** How many recent tokens the penalty looks at; 0 turns it off, -1 means the whole history. Default 64. */
  repeatLastN?: number;
  /** Seed of the random generator; the same seed, options and logits give the same tokens. Default: random. */
  seed?: number;
}

export type ResolvedSampling = Required<SamplingOptions>;

export const SAMPLING_DEFAULTS: Readonly<Omit<ResolvedSampling, "seed">> = {
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  repeatPenalty: 1,
  repeatLastN: 64,
};

function number(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || Number.isNaN(v)) throw new InvalidOptionError(name, `must be a number, got ${String(v)}`);
  return v;
}

function integer(name: string, v: unknown): number | undefined {
  const n = number(name, v);
  if (n !== undefined && !Number.isSafeInteger(n)) throw new InvalidOptionError(name, `must be an integer, got ${n}`);
  return n;
}

function randomSeed(): number {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return (words[0] & 0x1fffff) * 2 ** 32 + words[1];
}

/** Checks every given option and fills in defaults; throws InvalidOptionError naming the first bad one. */
export function validateSampling(options: SamplingOptions = {}): ResolvedSampling {
  if (typeof options !== "object" || options === null) {
    throw new InvalidOptionError("sampling", "must be an object");
  }
  const temperature = number("temperature", options.temperature);
  if (temperature !== undefined && !(temperature >= 0 && Number.isFinite(temperature))) {
    throw new InvalidOptionError("temperature", `must be a finite number >= 0 (0 = greedy), got ${temperature}`);
  }
  const topK = integer("topK", options.topK);
  if (topK !== undefined && topK < 0) throw new InvalidOptionError("topK", `must be >= 0 (0 = off), got ${topK}`);
  const topP = number("topP", options.topP);
  if (topP !== undefined && !(topP > 0 && topP <= 1)) {
    throw new InvalidOptionError("topP", `must be in (0, 1] (1 = off), got ${topP}`);
  }
  const minP = number("minP", options.minP);
  if (minP !== undefined && !(minP >= 0 && minP <= 1)) {
    throw new InvalidOptionError("minP", `must be in [0, 1] (0 = off), got ${minP}`);
  }
  const repeatPenalty = number("repeatPenalty", options.repeatPenalty);
  if (repeatPenalty !== undefined && !(repeatPenalty > 0 && Number.isFinite(repeatPenalty))) {
    throw new InvalidOptionError("repeatPenalty", `must be a finite number > 0 (1 = off), got ${repeatPenalty}`);
  }
  const repeatLastN = integer("repeatLastN", options.repeatLastN);
  if (repeatLastN !== undefined && repeatLastN < -1) {
    throw new InvalidOptionError("repeatLastN", `must be >= -1 (-1 = whole history, 0 = off), got ${repeatLastN}`);
  }
  const seed = integer("seed", options.seed);
  if (seed !== undefined && seed < 0) throw new InvalidOptionError("seed", `must be >= 0, got ${seed}`);
  return {
    temperature: temperature ?? SAMPLING_DEFAULTS.temperature,
    topK: topK ?? SAMPLING_DEFAULTS.topK,
    topP: topP ?? SAMPLING_DEFAULTS.topP,
    minP: minP ?? SAMPLING_DEFAULTS.minP,
    repeatPenalty: repeatPenalty ?? SAMPLING_DEFAULTS.repeatPenalty,
    repeatLastN: repeatLastN ?? SAMPLING_DEFAULTS.repeatLastN,
    seed: seed ?? randomSeed(),
  };
}
