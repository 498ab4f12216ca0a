/**
 * Reads the tokenizer.* keys of GGUF metadata into a VocabSpec, with the defaults llama.cpp applies when
 * a key is absent.
 */
import { ModelLoadError } from "../errors.js";
import { byteLevelEncoder, sentencePieceEncoder } from "./encoders.js";
import { preTokenizerRule } from "./pre-tokenizers.js";
import { mergesFromScores } from "./spm-merges.js";
import { TokenType, type VocabSpec } from "./vocab.js";

export type GgufMetadata = Record<string, unknown>;

const KEY = {
  model: "tokenizer.ggml.model",
  pre: "tokenizer.ggml.pre",
  tokens: "tokenizer.ggml.tokens",
  types: "tokenizer.ggml.token_type",
  merges: "tokenizer.ggml.merges",
  scores: "tokenizer.ggml.scores",
  bos: "tokenizer.ggml.bos_token_id",
  eos: "tokenizer.ggml.eos_token_id",
  eot: "tokenizer.ggml.eot_token_id",
  eom: "tokenizer.ggml.eom_token_id",
  unk: "tokenizer.ggml.unknown_token_id",
  pad: "tokenizer.ggml.padding_token_id",
  fimPad: "tokenizer.ggml.fim_pad_token_id",
  fimRep: "tokenizer.ggml.fim_rep_token_id",
  fimSep: "tokenizer.ggml.fim_sep_token_id",
  addBos: "tokenizer.ggml.add_bos_token",
  addEos: "tokenizer.ggml.add_eos_token",
  addSpacePrefix: "tokenizer.ggml.add_space_prefix",
  chatTemplate: "tokenizer.chat_template",
} as const;

function optionalString(meta: GgufMetadata, key: string): string | undefined {
  const v = meta[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new ModelLoadError(`GGUF key ${key} should be a string, got ${typeof v}`);
  return v;
}

function optionalBool(meta: GgufMetadata, key: string): boolean | undefined {
  const v = meta[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "boolean") return v;
  if (typeof v === "number" || typeof v === "bigint") return Number(v) !== 0;
  throw new ModelLoadError(`GGUF key ${key} should be a boolean, got ${typeof v}`);
}

function optionalInt(meta: GgufMetadata, key: string): number | undefined {
  const v = meta[key];
  if (v === undefined || v === null) return undefined;
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n)) {
    throw new ModelLoadError(`GGUF key ${key} should be an integer, got ${String(v)}`);
  }
  return n;
}

function stringArray(meta: GgufMetadata, key: string): string[] | undefined {
  const v = meta[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) {
    throw new ModelLoadError(`GGUF key ${key} should be an array of strings`);
  }
  return v as string[];
}

function numberArray(meta: GgufMetadata, key: string, minLength: number): ArrayLike<number> | undefined {
  const v = meta[key];
  if (v === undefined || v === null) return undefined;
  const ok = Array.isArray(v) ? v.every((x) => typeof x === "number") : ArrayBuffer.isView(v) && !(v instanceof DataView);
  if (!ok) throw new ModelLoadError(`GGUF key ${key} should be an array of numbers`);
  const arr = v as ArrayLike<number>;
  if (arr.length < minLength) {
    throw new ModelLoadError(`GGUF key ${key} has ${arr.length} entries but the vocabulary has ${minLength} tokens`);
  }
  return arr;
}

/** A merge "left right" splits at the first space after the first character (a merge side may itself
 * be a lone space in some vocabularies). */
function parseMerges(lines: readonly string[]): [string, string][] {
  const merges: [string, string][] = [];
  for (const line of lines) {
    const at = line.indexOf(" ", 1);
    if (at > 0) merges.push([line.slice(0, at), line.slice(at + 1)]);
  }
  return merges;
}

export function vocabFromGguf(meta: GgufMetadata): VocabSpec {
  const model = optionalString(meta, KEY.model);
  if (model === undefined) throw new ModelLoadError(`GGUF metadata has no ${KEY.model}; the file carries no tokenizer`);
  if (model !== "gpt2" && model !== "llama") {
    throw new ModelLoadError(`Unsupported tokenizer model "${model}" (supported: "gpt2" byte-level BPE, "llama" SentencePiece)`);
  }
  const tokens = stringArray(meta, KEY.tokens);
  if (!tokens || tokens.length === 0) throw new ModelLoadError(`GGUF metadata has no ${KEY.tokens}`);
  const n = tokens.length;
  // llama.cpp gives empty token texts a unique placeholder so they can never match input.
  const texts = tokens.map((t, i) => (t === "" ? `[EMPTY_${i}]` : t));

  const types = new Uint8Array(n).fill(TokenType.NORMAL);
  const declaredTypes = numberArray(meta, KEY.types, n);
  if (declaredTypes) {
    for (let i = 0; i < n; i++) {
      const t = declaredTypes[i];
      types[i] = t >= TokenType.NORMAL && t <= TokenType.BYTE ? t : TokenType.UNDEFINED;
    }
  }

  const warnings: string[] = [];
  const idOrNull = (key: string, fallback: number | null): number | null => {
    const id = optionalInt(meta, key);
    const usable = (x: number | null) => x !== null && x >= 0 && x < n;
    if (id === undefined) return usable(fallback) ? fallback : null;
    if (usable(id)) return id;
    warnings.push(`${key} = ${id} is outside the vocabulary; using ${usable(fallback) ? fallback : "none"}`);
    return usable(fallback) ? fallback : null;
  };

  const isSpm = model === "llama";
  // Defaults llama.cpp uses when the ids are absent.
  const bosId = idOrNull(KEY.bos, isSpm ? 1 : 11);
  const eosId = idOrNull(KEY.eos, isSpm ? 2 : 11);
  const unkId = idOrNull(KEY.unk, isSpm ? 0 : null);
  const padId = idOrNull(KEY.pad, null);
  const extraEogIds = [idOrNull(KEY.eot, null), idOrNull(KEY.eom, null)].filter((x): x is number => x !== null);
  const fimStopIds = [idOrNull(KEY.fimPad, null), idOrNull(KEY.fimRep, null), idOrNull(KEY.fimSep, null)];
  const chatTemplate = optionalString(meta, KEY.chatTemplate);

  if (isSpm) {
    const scores = numberArray(meta, KEY.scores, n) ?? new Float32Array(n);
    const idOf = new Map<string, number>();
    texts.forEach((t, i) => idOf.set(t, i));
    const encoder = sentencePieceEncoder(texts, mergesFromScores(texts, scores, idOf), unkId === null ? undefined : texts[unkId]);
    return {
      pieceEncoding: "sentencepiece",
      texts,
      types,
      bosId,
      eosId,
      unkId,
      padId,
      addBos: optionalBool(meta, KEY.addBos) ?? true,
      addEos: optionalBool(meta, KEY.addEos) ?? false,
      addSpacePrefix: optionalBool(meta, KEY.addSpacePrefix) ?? true,
      escapeSpaces: true,
      extraEogIds,
      fimStopIds,
      encoder,
      chatTemplate,
      warnings,
    };
  }

  const mergeLines = stringArray(meta, KEY.merges);
  if (!mergeLines) throw new ModelLoadError(`GGUF metadata of a "gpt2" tokenizer has no ${KEY.merges}`);
  const pre = optionalString(meta, KEY.pre);
  const { rule, fallback } = preTokenizerRule(pre);
  if (fallback) warnings.push(`unknown ${KEY.pre} "${pre}"; splitting text with the GPT-2 expression instead`);
  return {
    pieceEncoding: "byte-level",
    texts,
    types,
    bosId,
    eosId,
    unkId,
    padId,
    addBos: optionalBool(meta, KEY.addBos) ?? rule.addBosDefault,
    addEos: optionalBool(meta, KEY.addEos) ?? false,
    addSpacePrefix: false,
    escapeSpaces: false,
    extraEogIds,
    fimStopIds,
    encoder: byteLevelEncoder(texts, parseMerges(mergeLines), rule),
    chatTemplate,
    warnings,
  };
}
