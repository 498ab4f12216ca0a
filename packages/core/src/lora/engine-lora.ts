// Handing a PEFT adapter to the inference engine (unmerged LoRA: the
// quantized weights stay as they are; each adapted projection adds
// scale * B (A x)). The adapter crosses to the engine worker as plain data.
import { ModelLoadError } from "../errors.js";
import type { ModelConfig } from "../native.js";
import { readPeftAdapter, type LoraModelShape, type LoraModule } from "./peft.js";

/** What the engine worker receives in its "load" message. */
export interface EngineLoraPayload {
  scale: number;
  rank: number;
  pairs: { layer: number; module: LoraModule; a: Float32Array; b: Float32Array }[];
}

/** The model sizes a LoRA's shapes depend on, from the engine's ModelConfig. */
export function loraShapeFromConfig(c: ModelConfig): LoraModelShape {
  return { nLayers: c.nLayers, dModel: c.dModel, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim: c.headDim, ffnDim: c.ffnDim };
}

/** Reads and validates the adapter folder against the model. */
export function loraPayload(dir: string, config: ModelConfig): EngineLoraPayload {
  const a = readPeftAdapter(dir, loraShapeFromConfig(config));
  return { scale: a.scale, rank: a.rank, pairs: a.pairs };
}

type LoraEngine = { setLora?: (layer: number, module: string, a: Float32Array, b: Float32Array, scale: number, adapter?: number) => void };

/** Installs the adapter on an engine (in the worker). */
/** Loads `lora` into the engine as adapter `adapter` (1, the default one, unless given). */
export function applyLora(engine: unknown, lora: EngineLoraPayload, adapter = 1): void {
  const e = engine as LoraEngine;
  if (typeof e.setLora !== "function") throw new ModelLoadError("this build of @first/native cannot apply LoRA adapters (no Engine.setLora): rebuild the addon");
  for (const p of lora.pairs) e.setLora(p.layer, p.module, p.a, p.b, lora.scale, adapter);
}
