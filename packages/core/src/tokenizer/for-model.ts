// The tokenizer of a model path: a checkpoint folder's tokenizer.json (with
// its tokenizer_config.json), a tokenizer.json beside a GGUF file, or the
// vocabulary in the GGUF metadata.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { ModelLoadError } from "../errors.js";
import type { GgufMetadata } from "./gguf-vocab.js";
import { Tokenizer } from "./tokenizer.js";

export function tokenizerForModel(path: string, metadata: GgufMetadata): Tokenizer {
  const folder = statSync(path).isDirectory() ? path : dirname(path);
  const tokenizerJson = join(folder, "tokenizer.json");
  const tokenizerConfig = join(folder, "tokenizer_config.json");
  try {
    return existsSync(tokenizerJson)
      ? Tokenizer.fromTokenizerJson(
          JSON.parse(readFileSync(tokenizerJson, "utf8")),
          existsSync(tokenizerConfig) ? JSON.parse(readFileSync(tokenizerConfig, "utf8")) : undefined,
        )
      : Tokenizer.fromGgufMetadata(metadata);
  } catch (err) {
    if (err instanceof ModelLoadError) throw err;
    throw new ModelLoadError(`cannot read the tokenizer of ${path}: ${(err as Error).message}`, { cause: err });
  }
}
