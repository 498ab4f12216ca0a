// The native Trainer (@first/native) as a TrainBackend.
import { nativeAddon as native, type ModelConfig, FirstError, type LoraModule } from "@first/core";
import type { TrainBackend } from "./backend.js";

interface NativeTrainerOptions {
  threads?: number;
  lora?: { rank: number; alpha: number; targets: string[]; seed?: number };
}
type NativeTrainerClass = new (model: unknown, options: NativeTrainerOptions) => TrainBackend;

/** Whether the loaded addon has the Trainer. */
export function hasNativeTrainer(): boolean {
  return typeof (native() as unknown as { Trainer?: unknown }).Trainer === "function";
}

/** A Trainer over the GGUF model at `modelPath` (the weights are loaded once and shared). */
export function nativeBackendFactory(modelPath: string, threads?: number): {
  config: ModelConfig;
  create(lora?: { rank: number; alpha: number; targets: LoraModule[]; seed: number }): TrainBackend;
} {
  const lib = native();
  const Trainer = (lib as unknown as { Trainer?: NativeTrainerClass }).Trainer;
  if (typeof Trainer !== "function") throw new FirstError("MODEL_LOAD", "this build of @first/native has no Trainer: rebuild the addon");
  const model = new lib.Model(modelPath);
  return {
    config: model.config(),
    create: (lora) => new Trainer(model, { threads, ...(lora ? { lora: { rank: lora.rank, alpha: lora.alpha, targets: lora.targets, seed: lora.seed } } : {}) }),
  };
}

