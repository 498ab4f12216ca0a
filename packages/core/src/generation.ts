// Options and results of text generation, with validation shared by the
// library, the CLI and the server.
import { InvalidOptionError } from "./errors.js";
import type { RouterSetData } from "./routers/router-set.js";
import type { LayerPlanSpec, SamplingSpec } from "./runtime/protocol.js";

export interface GenerateOptions extends SamplingSpec {
  /** Most tokens to generate (default 256; clipped to the context left). */
  maxTokens?: number;
  /** Generation stops before the first occurrence of any of these strings. */
  stop?: string[];
  signal?: AbortSignal;
  /** Which layers each sequence executes (default: all); see LoadedModel.planFor(). */
  plan?: LayerPlanSpec;
  /**
   * FiRST routers (LoadedModel.loadRouters()); they decide the layers from the prompt. Overrides `plan`.
   * The set goes to the engine once per model and is reused by object identity: do not modify it after use.
   */
  routers?: RouterSetData;
  /** One of the model's named adapters (LoadModelOptions.adapters); absent: the model's `lora`, if any. */
  adapter?: string;
  /** Router threshold: a layer runs when its router gives p >= threshold (default: the checkpoint's). */
  threshold?: number;
  /**
   * Executed decoder layers for this request (with `routers`; replaces the
   * threshold): the routers rank the prompt's routable layers and exactly
   * this many layers run. Costs one extra pass of the prompt through the
   * full model to rank them.
   */
  layerBudget?: number;
  /** The budget as the share of the routable layers to skip (0..1), instead of `layerBudget`. */
  skipRatio?: number;
  /**
   * Report each generated token's log-probability under the model (natural
   * log, before sampling settings) and this many most likely alternatives
   * (0..20) on the chunks and in the result.
   */
  logprobs?: number;
  /**
   * Keep generating past end-of-text tokens until maxTokens (as llama.cpp's
   * --ignore-eos), which are then kept in the tokens: for timing a fixed
   * number of decode steps.
   */
  ignoreEos?: boolean;
}

export interface TokenLogprob {
  token: number;
  logprob: number;
  /** The most likely tokens at this step, most likely first (as many as asked). */
  top: { token: number; logprob: number }[];
}

/** The routers' plan for generate options (threshold, or a layer budget). */
export function routersPlan(o: Pick<GenerateOptions, "routers" | "threshold" | "layerBudget" | "skipRatio">): LayerPlanSpec | undefined {
  if (!o.routers) return undefined;
  const budget =
    o.layerBudget !== undefined ? { layers: o.layerBudget } : o.skipRatio !== undefined ? { skipRatio: o.skipRatio } : undefined;
  return { kind: "routers", routers: o.routers, threshold: o.threshold, budget };
}

export type FinishReason = "stop" | "length" | "aborted";

export interface GenerationTimings {
  prefillMs: number;
  decodeMs: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
}

export interface GenerationResult {
  text: string;
  promptTokenIds: number[];
  /** Generated token ids, end-of-generation tokens left out (with a stop string, up to the token that completed it). */
  tokens: number[];
  finishReason: FinishReason;
  /** executed[l] is true when layer l ran for this sequence. */
  executed: boolean[];
  executedLayers: number;
  skippedLayers: number[];
  /** p_l of each routed layer (null where no router decided), when routers were used. */
  routerProbabilities: (number | null)[] | null;
  /** KV cache bytes this sequence held after prefill. */
  kvBytes: number;
  /** Per generated token, when `logprobs` was asked for. */
  logprobs?: TokenLogprob[];
  /** Largest number of sequences decoded together with this one in a step. */
  batchPeak: number;
  /** Times the KV pool ran out and this sequence gave its blocks back to be recomputed later. */
  preemptions: number;
  timings: GenerationTimings;
}

export interface GenerationChunk {
  token: number;
  /** Text that this token completes (may be empty while a character or a stop string is pending). */
  text: string;
  /** With `logprobs`: this token's log-probability and the alternatives. */
  logprob?: TokenLogprob;
}

function checkInt(name: string, v: number | undefined, min: number): void {
  if (v === undefined) return;
  if (!Number.isInteger(v) || v < min) throw new InvalidOptionError(name, `must be an integer >= ${min}, got ${v}`);
}

export function validateGenerateOptions(o: GenerateOptions): void {
  checkInt("maxTokens", o.maxTokens, 1);
  if (o.stop !== undefined) {
    if (!Array.isArray(o.stop) || o.stop.some((s) => typeof s !== "string" || s.length === 0))
      throw new InvalidOptionError("stop", "must be a list of non-empty strings");
  }
  checkInt("layerBudget", o.layerBudget, 1);
  if (o.ignoreEos !== undefined && typeof o.ignoreEos !== "boolean")
    throw new InvalidOptionError("ignoreEos", `must be true or false, got ${String(o.ignoreEos)}`);
  if (o.logprobs !== undefined && (!Number.isInteger(o.logprobs) || o.logprobs < 0 || o.logprobs > 20))
    throw new InvalidOptionError("logprobs", `must be an integer in 0..20, got ${o.logprobs}`);
  if (o.skipRatio !== undefined && !(typeof o.skipRatio === "number" && o.skipRatio >= 0 && o.skipRatio <= 1))
    throw new InvalidOptionError("skipRatio", `must be a number in 0..1, got ${o.skipRatio}`);
  if (o.layerBudget !== undefined && o.skipRatio !== undefined)
    throw new InvalidOptionError("layerBudget", "give either layerBudget or skipRatio, not both");
  if ((o.layerBudget !== undefined || o.skipRatio !== undefined) && o.routers === undefined)
    throw new InvalidOptionError(o.layerBudget !== undefined ? "layerBudget" : "skipRatio", "a layer budget needs routers (they rank the layers)");
  if ((o.layerBudget !== undefined || o.skipRatio !== undefined) && o.threshold !== undefined)
    throw new InvalidOptionError("threshold", "a layer budget replaces the threshold: give one of them");
  if (o.plan !== undefined && o.plan.kind !== "full" && o.plan.kind !== "mask" && o.plan.kind !== "routers")
    throw new InvalidOptionError("plan", `unknown kind ${(o.plan as { kind: string }).kind}`);
}
