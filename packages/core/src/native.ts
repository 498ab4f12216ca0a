// The compiled addon (CommonJS) loaded from ESM.
import { createRequire } from "node:module";
import type * as NativeModule from "@first/native";

const require = createRequire(import.meta.url);

export type Native = typeof NativeModule;
export type NativeEngine = NativeModule.Engine;
export type NativeModel = NativeModule.Model;
export type ModelConfig = NativeModule.ModelConfig;
export type GgufInfo = NativeModule.GgufInfo;

let cached: Native | undefined;
export function native(): Native {
  cached ??= require("@first/native") as Native;
  return cached;
}

/** Reads a GGUF file's metadata and tensor table (no weights are read). */
export function readGguf(path: string): GgufInfo {
  return native().readGguf(path);
}

/** The model's shape as the engine reads it (its GGUF hyper-parameters, checked against the tensors; no engine is made). */
export function readModelConfig(path: string): ModelConfig {
  return new (native().Model)(path).config();
}
