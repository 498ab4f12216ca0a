// Messages between the main thread and the engine worker.

export interface EngineLoadOptions {
  modelPath: string;
  threads?: number;
  blockTokens?: number;
  kvBlocks?: number;
  maxSequences?: number;
  contextLength?: number;
  /**
   * Prompts longer than this are prefilled in slices of at most this many
   * tokens per step, inside the decode steps of running sequences (so they
   * keep streaming; beside them a slice holds about as many tokens as they
   * decode rows, at least 8), when the layers are known before the prefill
   * (the full model, a fixed mask or policy); routers decide from the whole
   * prompt and prefill it at once. 0: whole prompts. Default 64.
   */
  prefillChunk?: number;
  /** A LoRA adapter every request takes unless it names another (read and validated on the main thread). */
  lora?: import("../lora/engine-lora.js").EngineLoraPayload;
  /** More adapters in the same engine, which a request opts into by name (engine ids follow `lora`'s). */
  adapters?: { name: string; lora: import("../lora/engine-lora.js").EngineLoraPayload }[];
}

import type { SamplingOptions } from "../sampling/options.js";

export type SamplingSpec = SamplingOptions;

import type { LayerBudget, LayerPlanSpec } from "./layer-plan.js";
import type { RouterSetData } from "../routers/router-set.js";
export type { LayerPlanSpec };

/**
 * A layer plan as sent to the worker. A router set crosses to the worker once
 * ("register-routers", a few MB) and requests name it by id after.
 */
export type WirePlan =
  | Exclude<LayerPlanSpec, { kind: "routers" }>
  | { kind: "routers"; routersId: number; threshold?: number; budget?: LayerBudget };

/** A request with its plan's router set looked up (what the worker's scheduler and scorer get). */
export type Resolved<R extends { plan: WirePlan }> = Omit<R, "plan"> & { plan: LayerPlanSpec };

export interface GenerateRequest {
  type: "generate";
  id: number;
  prompt: number[];
  maxTokens: number;
  stopTokens: number[];
  sampling: SamplingSpec;
  plan: WirePlan;
  /** Report each sampled token's log-probability and this many top alternatives (0..20); absent: none. */
  topLogprobs?: number;
  /** Int32 flag the main thread sets to 1 to cancel (shared memory: no message round trip). */
  cancel: SharedArrayBuffer;
  /** Another choice of the same prompt (its request id): when both wait together, this one forks its prefilled blocks. */
  forkOf?: number;
  /** The engine adapter this request's rows take (0: none); absent: the engine's default. */
  adapter?: number;
}

/** Log-probabilities of `continuation` after `prompt`, layers decided from the prompt (runtime/score.ts). */
export interface ScoreRequest {
  type: "score";
  id: number;
  prompt: number[];
  continuation: number[];
  plan: WirePlan;
}

export type ToWorker =
  | { type: "load"; options: EngineLoadOptions }
  | { type: "register-routers"; routersId: number; routers: RouterSetData }
  | { type: "drop-routers"; routersId: number }
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
