// @first/core: load GGUF models, generate text, and skip decoder layers per input.
export const VERSION = "0.1.0";

export * from "./errors.js";
export * from "./pull/index.js";
export { firstHome, modelsDir } from "./paths.js";
export { loadModel, LoadedModel, Generation, type LoadModelOptions, type EngineInfo } from "./model.js";
export type {
  GenerateOptions,
  GenerationResult,
  GenerationChunk,
  GenerationTimings,
  FinishReason,
} from "./generation.js";
export type { LayerPlanSpec, SamplingSpec } from "./runtime/protocol.js";
export { readGguf, type GgufInfo, type ModelConfig } from "./native.js";
export { renderChat, type ChatMessage } from "./chat-template.js";
export { Tokenizer, TextStreamDecoder } from "./tokenizer/index.js";
export { Sampler, validateSampling } from "./sampling/index.js";
