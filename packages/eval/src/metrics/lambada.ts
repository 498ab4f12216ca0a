// LAMBADA: an example is right when greedy decoding after the context
// produces exactly the target word's tokens (every target token is the
// argmax); perplexity is exp of the mean negative log-likelihood of the
// target over examples (as lm-evaluation-harness reports it).
import type { Scores } from "../types.js";

export function lastWordScores(logprobs: number[], greedyMatch: boolean): Scores {
  return { acc: greedyMatch ? 1 : 0, nll: -logprobs.reduce((a, b) => a + b, 0) };
}

export function lambadaFromScores(scores: Scores[]): Scores {
  if (scores.length === 0) return { acc: NaN, perplexity: NaN };
  const acc = scores.reduce((a, s) => a + (s.acc ?? 0), 0) / scores.length;
  const nll = scores.reduce((a, s) => a + (s.nll ?? 0), 0) / scores.length;
  return { acc, perplexity: Math.exp(nll) };
}
