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
  TokenLogprob,
} from "./generation.js";
export type { LayerPlanSpec, SamplingSpec } from "./runtime/protocol.js";
export { budgetMask, budgetSkips } from "./runtime/layer-plan.js";
export { driveLayers, engineStack, type LayerStack, type LayerLoop } from "./runtime/layer-loop.js";
export { readGguf, readModelConfig, native as nativeAddon, type Native, type GgufInfo, type ModelConfig } from "./native.js";
export { renderChat, type ChatMessage } from "./chat-template.js";
export { Tokenizer, TextStreamDecoder, tokenizerForModel } from "./tokenizer/index.js";
export { Sampler, validateSampling } from "./sampling/index.js";
export { parsePolicy, policyMask, policyName, type Policy, type MaskOptions } from "./policies/policy.js";
export { loadRouters, saveRouters, RouterLoadError, ROUTER_FORMAT, ROUTER_FORMAT_VERSION, type RouterJson } from "./routers/checkpoint.js";
export {
  routerProbability,
  routerLogit,
  DEFAULT_EXEMPT,
  type RouterSetData,
  type RouterSetConfig,
  type RouterWeights,
  type RouterKind,
} from "./routers/router-set.js";
export { fileSha256, type ModelIdentity } from "./routers/model-identity.js";
export { readSafetensors, writeSafetensors, SafetensorsError, type NamedTensor } from "./safetensors.js";
export { findDataDir } from "./data-dir.js";
export type { ScoreResult } from "./runtime/score.js";
export * from "./lora/index.js";
export { shippedRoutersFor, shippedSetFor, routerSearchDirs, type ShippedSet } from "./routers/shipped.js";
export { quantize as quantizeTensor, dequantize as dequantizeTensor, type GgufTensorType } from "./gguf/quantize.js";
