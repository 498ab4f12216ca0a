// LoRA adapters in PEFT format.
export { readPeftAdapter, writePeftAdapter, moduleDims, peftKey, LoraLoadError, LORA_MODULES, LORA_MODULE_NAMES, type LoraAdapter, type LoraPair, type LoraModule, type LoraModelShape } from "./peft.js";
export { loraShapeFromConfig } from "./engine-lora.js";
