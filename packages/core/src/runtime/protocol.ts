// Messages between the main thread and the engine worker.

export interface EngineLoadOptions {
  modelPath: string;
  threads?: number;
  blockTokens?: number;
  kvBlocks?: number;
  maxSequences?: number;
  contextLength?: number;
  /** A LoRA adapter to apply (read and validated on the main thread). */
  lora?: import("../lora/engine-lora.js").EngineLoraPayload;
}

import type { SamplingOptions } from "../sampling/options.js";

export type SamplingSpec = SamplingOptions;

import type { LayerPlanSpec } from "./layer-plan.js";
export type { LayerPlanSpec };

export interface GenerateRequest {
  type: "generate";
  id: number;
  prompt: number[];
  maxTokens: number;
  stopTokens: number[];
  sampling: SamplingSpec;
  plan: LayerPlanSpec;
  /** Report each sampled token's log-probability and this many top alternatives (0..20); absent: none. */
  topLogprobs?: number;
  /** Int32 flag the main thread sets to 1 to cancel (shared memory: no message round trip). */
  cancel: SharedArrayBuffer;
}

/** Log-probabilities of `continuation` after `prompt`, layers decided from the prompt (runtime/score.ts). */
export interface ScoreRequest {
  type: "score";
  id: number;
  prompt: number[];
  continuation: number[];
  plan: LayerPlanSpec;
}

export type ToWorker =
  | { type: "load"; options: EngineLoadOptions }
  | GenerateRequest
  | ScoreRequest
  | { type: "block-influence"; id: number; sequences: number[][] }
  | { type: "kv-stats"; id: number }
  | { type: "close" };

export type { FinishReason } from "../generation.js";
import type { FinishReason } from "../generation.js";

/** What the engine worker reports about the engine it made. */
export interface EngineInfo {
  threads: number;
  contextLength: number;
  kernels: string;
  maxBlocks: number;
}

export type FromWorker =
  | { type: "loaded"; config: import("../native.js").ModelConfig; engine: EngineInfo }
  | { type: "load-error"; message: string }
  | {
      type: "prefilled";
      id: number;
      executed: boolean[];
      probabilities: (number | null)[] | null;
      prefillMs: number;
      kvBlocks: number;
      kvBytes: number;
    }
  | { type: "token"; id: number; token: number; logprob?: number; top?: [number, number][] }
  | { type: "block-influence"; id: number; scores: number[] }
  | { type: "kv-stats"; id: number; usedBlocks: number; freeBlocks: number; blockBytes: number; blockTokens: number }
  | ({ type: "scored"; id: number } & import("./score.js").ScoreResult)
  | { type: "done"; id: number; reason: FinishReason; decodeMs: number; decodeSteps: number; batchPeak: number; preemptions?: number }
  | { type: "error"; id: number; message: string; code?: string };
