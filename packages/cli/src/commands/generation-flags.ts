// Flags shared by `first run` and `first chat`: the model, the engine and sampling.
import { loadModel, type GenerateOptions, type LoadedModel } from "@first/core";
import { UsageError, type FlagSpec } from "../args.js";
import { progressReporter } from "./pull.js";

export const modelFlags = {
  model: { type: "string", short: "m", help: "GGUF path, model name or hf:<owner>/<repo>/<file>", default: "smollm2-135m-instruct", valueName: "path" },
  threads: { type: "int", short: "t", help: "CPU threads (default: all cores)", min: 1, max: 1024 },
  ctx: { type: "int", help: "context length in tokens (default: the model's)", min: 16 },
  lora: { type: "string", help: "PEFT LoRA adapter folder to apply (adapter_config.json + adapter_model.safetensors)", valueName: "dir" },
} as const satisfies Record<string, FlagSpec>;

export const layerFlags = {
  policy: { type: "string", help: "layer policy: full, skip:3,7,12, uls:k, bi:k, random:k[:seed], last:k, exit:L", valueName: "p" },
  routers: { type: "string", help: "FiRST router checkpoint folder (router.json + routers.safetensors)", valueName: "dir" },
  threshold: { type: "number", help: "router threshold: a layer runs when p >= threshold (default: the checkpoint's)", min: 0, max: 1 },
  dataDir: { type: "string", help: "datasets folder: tasks, training mix, bi:k calibration (default: $FIRST_DATA or ../shared/data)", valueName: "dir" },
} as const satisfies Record<string, FlagSpec>;

/** Applies --policy / --routers / --threshold to generation options. */
export async function applyLayerFlags(
  model: LoadedModel,
  f: { policy?: string; routers?: string; threshold?: number; dataDir?: string },
  options: GenerateOptions,
): Promise<GenerateOptions> {
  if (f.policy !== undefined && f.routers !== undefined) throw new UsageError("give either --policy or --routers, not both");
  if (f.threshold !== undefined && f.routers === undefined) throw new UsageError("--threshold applies to --routers");
  if (f.routers !== undefined) return { ...options, routers: await model.loadRouters(f.routers), threshold: f.threshold };
  if (f.policy !== undefined) return { ...options, plan: await model.planFor(f.policy, { dataDir: f.dataDir }) };
  return options;
}

export const samplingFlags = {
  maxTokens: { type: "int", short: "n", help: "most tokens to generate", default: 256, min: 1 },
  temperature: { type: "number", help: "sampling temperature; 0 = greedy", default: 0.8, min: 0 },
  topK: { type: "int", help: "keep the k most likely tokens (0 = off)", default: 40, min: 0 },
  topP: { type: "number", help: "nucleus sampling mass (1 = off)", default: 0.95, min: 0, max: 1 },
  minP: { type: "number", help: "drop tokens below min-p x the top probability (0 = off)", default: 0.05, min: 0, max: 1 },
  repeatPenalty: { type: "number", help: "penalty for repeated tokens (1 = off)", default: 1, min: 0 },
  seed: { type: "int", help: "random seed (same seed, same output)", min: 0 },
  stop: { type: "string", help: "stop generating before this string", valueName: "text" },
} as const satisfies Record<string, FlagSpec>;

export interface SamplingFlagValues {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repeatPenalty: number;
  seed?: number;
  stop?: string;
}

export function generateOptions(f: SamplingFlagValues, signal: AbortSignal): GenerateOptions {
  return {
    maxTokens: f.maxTokens,
    temperature: f.temperature,
    topK: f.topK,
    topP: f.topP,
    minP: f.minP,
    repeatPenalty: f.repeatPenalty,
    seed: f.seed,
    stop: f.stop === undefined ? undefined : [f.stop],
    signal,
  };
}

/** Loads the model, pulling it first (with progress on stderr) when it is not cached. */
export async function openModel(f: { model: string; threads?: number; ctx?: number; lora?: string }): Promise<LoadedModel> {
  const report = progressReporter();
  try {
    return await loadModel(f.model, { threads: f.threads, contextLength: f.ctx, maxSequences: 1, lora: f.lora, onPullProgress: report.onProgress });
  } finally {
    report.finish();
  }
}
