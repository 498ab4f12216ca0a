export { Tokenizer, type EncodeOptions, type DecodeOptions } from "./tokenizer.js";
export { tokenizerForModel } from "./for-model.js";
export { TextStreamDecoder } from "./stream-decoder.js";
export { TokenType, type TokenTypeValue, type PieceEncoding } from "./vocab.js";
export type { GgufMetadata } from "./gguf-vocab.js";
export type { TokenizerJsonConfig } from "./json-vocab.js";
export { knownPreTokenizers } from "./pre-tokenizers.js";
