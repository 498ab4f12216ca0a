// Multiple choice by log-likelihood: acc picks the choice with the highest
// total log-probability of its continuation; acc_norm divides each by the
// continuation's length in UTF-8 bytes first (as lm-evaluation-harness), so
// longer choices are not penalized for having more tokens.
import type { Scores } from "../types.js";

function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

export function choiceScores(logprobs: number[], continuations: string[], gold: number): Scores & { chosen: number } {
  const normalized = logprobs.map((lp, i) => lp / Math.max(1, Buffer.byteLength(continuations[i], "utf8")));
  const chosen = argmax(logprobs);
  return { acc: chosen === gold ? 1 : 0, acc_norm: argmax(normalized) === gold ? 1 : 0, chosen };
}
