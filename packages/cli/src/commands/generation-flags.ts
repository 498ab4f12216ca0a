// Flags shared by `first run` and `first chat`: the model, the engine and sampling.
import { loadModel, resolveModelPath, shippedSetFor, type GenerateOptions, type LoadedModel } from "@first/core";
import { UsageError, type FlagSpec } from "../args.js";
import { progressReporter } from "./pull.js";

export const modelFlags = {
  model: { type: "string", short: "m", help: "GGUF path, checkpoint folder, model name, hf:<owner>/<repo>/<file> or hf:<owner>/<repo>", default: "smollm2-135m-instruct", valueName: "path" },
  threads: { type: "int", short: "t", help: "CPU threads (default: all cores)", min: 1, max: 1024 },
  ctx: { type: "int", help: "context length in tokens (default: the model's)", min: 16 },
  lora: { type: "string", help: "PEFT LoRA adapter folder to apply (adapter_config.json + adapter_model.safetensors)", valueName: "dir" },
} as const satisfies Record<string, FlagSpec>;

export const layerFlags = {
  first: { type: "boolean", help: "use the FiRST set shipped for the model: its routers and the adapter trained with them" },
  policy: { type: "string", help: "layer policy: full, skip:3,7,12, uls:k, bi:k, random:k[:seed], last:k, exit:L", valueName: "p" },
  routers: { type: "string", help: "FiRST router checkpoint folder (router.json + routers.safetensors)", valueName: "dir" },
  threshold: { type: "number", help: "router threshold: a layer runs when p >= threshold (default: the checkpoint's; without an adapter, its withoutAdapter budget where it has one)", min: 0, max: 1 },
  maxLayers: { type: "int", help: "layer budget: run exactly N decoder layers, the routers ranking which (replaces the threshold)", min: 1, valueName: "n" },
  skipRatio: { type: "number", help: "layer budget as the share of routable layers to skip (0..1), instead of --max-layers", min: 0, max: 1, valueName: "r" },
  dataDir: { type: "string", help: "datasets folder: tasks, training mix, bi:k calibration (default: $FIRST_DATA or ../shared/data)", valueName: "dir" },
} as const satisfies Record<string, FlagSpec>;

export interface LayerFlagValues {
  first?: boolean;
  policy?: string;
  routers?: string;
  threshold?: number;
  maxLayers?: number;
  skipRatio?: number;
  dataDir?: string;
}

/**
 * --first: the routers (and the adapter, unless --lora names another) shipped
 * for the model. Resolved before the model loads, since the adapter is
 * applied at load.
 */
export async function resolveFirstFlag<F extends LayerFlagValues & { model: string; lora?: string }>(f: F): Promise<F> {
  if (!f.first) return f;
  if (f.routers !== undefined || f.policy !== undefined) throw new UsageError("--first picks the shipped routers: give it without --routers or --policy");
  const path = await resolveModelPath(f.model, { pull: true });
  const set = await shippedSetFor(path);
  if (!set) throw new UsageError(`no FiRST set ships for ${path}; train one with first train or give --routers DIR`);
  return { ...f, routers: set.routersDir, lora: f.lora ?? set.loraDir };
}

/** Applies --policy / --routers / --threshold / --max-layers / --skip-ratio to generation options. */
export async function applyLayerFlags(model: LoadedModel, f: LayerFlagValues, options: GenerateOptions): Promise<GenerateOptions> {
  if (f.policy !== undefined && f.routers !== undefined) throw new UsageError("give either --policy or --routers, not both");
  if (f.threshold !== undefined && f.routers === undefined) throw new UsageError("--threshold applies to --routers");
  if ((f.maxLayers !== undefined || f.skipRatio !== undefined) && f.routers === undefined)
    throw new UsageError("--max-layers and --skip-ratio need routers (--first or --routers DIR): the routers rank the layers");
  if (f.maxLayers !== undefined && f.skipRatio !== undefined) throw new UsageError("give either --max-layers or --skip-ratio, not both");
  if ((f.maxLayers !== undefined || f.skipRatio !== undefined) && f.threshold !== undefined)
    throw new UsageError("a layer budget replaces the threshold: give --threshold or --max-layers/--skip-ratio");
  if (f.maxLayers !== undefined && f.maxLayers > model.config.nLayers)
    throw new UsageError(`--max-layers ${f.maxLayers}: the model has ${model.config.nLayers} layers`);
  if (f.routers !== undefined) {
    const routers = await model.loadRouters(f.routers);
    const fixed = model.config.nLayers - routers.layers.filter((w) => w !== null).length;
    if (f.maxLayers !== undefined && f.maxLayers < fixed)
      throw new UsageError(`--max-layers ${f.maxLayers}: ${fixed} layers always run (they have no router)`);
    return { ...options, routers, threshold: f.threshold, layerBudget: f.maxLayers, skipRatio: f.skipRatio };
  }
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
