// One repetition of the speed benchmark on our engine, timed by the caller
// exactly as the llama.cpp peer is timed (see llama-peer.ts).
import { performance } from "node:perf_hooks";
import type { GenerateOptions, LoadedModel } from "@first/core";

/** What one repetition measures, for either engine. */
export interface RepTiming {
  /** Evaluating the prompt and sampling the first token. */
  prefillMs: number;
  /** Evaluating `decodeSteps` generated tokens one at a time, each followed by sampling the next. */
  decodeMs: number;
  decodeSteps: number;
  /** Generated token ids (decodeSteps + 1 of them). */
  tokens: number[];
}

/** The model's first sampled token ended generation: the rep has no token to time. */
export class EndedAtOnceError extends Error {
  constructor() {
    super("the model ended generation before its first token");
  }
}

export const tokensPerSecond = (tokens: number, ms: number): number => (ms > 0 ? (tokens / ms) * 1000 : 0);

export interface FirstRep {
  /** From generate() to the first token, then from the first to the last: as for llama.cpp. */
  wall: RepTiming;
  /** The engine's own figures (GenerationResult.timings), which leave out sampling and thread messaging in decode. */
  reported: RepTiming;
  /** Decoder layers the sequence executed. */
  executedLayers: number;
  /** KV cache bytes the sequence held after prefill. */
  kvBytes: number;
}

/**
 * Greedy generation of decodeSteps + 1 tokens after `prompt`, in a fresh
 * sequence. `layers` chooses the layers (plan or routers; default all).
 */
export async function measureRep(
  model: LoadedModel,
  prompt: readonly number[],
  decodeSteps: number,
  layers: Pick<GenerateOptions, "plan" | "routers" | "threshold" | "layerBudget" | "skipRatio" | "adapter"> = {},
): Promise<FirstRep> {
  const t0 = performance.now();
  const generation = model.generate({ tokens: [...prompt] }, { ...layers, temperature: 0, maxTokens: decodeSteps + 1 });
  const times: number[] = [];
  for await (const chunk of generation) if (chunk.token >= 0) times.push(performance.now());
  const result = await generation.result;
  if (times.length === 0) throw new EndedAtOnceError();
  // An end-of-text token ends generation early; it is evaluated by no one.
  const steps = result.finishReason === "length" ? result.tokens.length - 1 : result.tokens.length;
  const wallSteps = times.length - 1;
  return {
    wall: { prefillMs: times[0] - t0, decodeMs: times[wallSteps] - times[0], decodeSteps: wallSteps, tokens: result.tokens },
    reported: { prefillMs: result.timings.prefillMs, decodeMs: result.timings.decodeMs, decodeSteps: steps, tokens: result.tokens },
    executedLayers: result.executedLayers,
    kvBytes: result.kvBytes,
  };
}

/** Index of the first place two token lists differ (their common length when one is a prefix of the other). */
export function agreement(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}
