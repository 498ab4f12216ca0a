// A tiny random-weight decoder GGUF (llama, qwen2, qwen3, gemma3 or phi3) with
// a byte-level BPE tokenizer, laid out like the files llama.cpp's converter
// writes for that family. Tests build one in milliseconds and can run it
// through both this engine and llama.cpp.
import type { GgufTensorType } from "./quantize.js";
import { type GgufWriteTensor, type GgufWriteValue, writeGguf } from "./writer.js";

export interface TinyLlamaOptions {
  /** PRNG seed; the same options give the same file. Default 1. */
  seed?: number;
  layers?: number; // default 4
  dim?: number; // embedding_length, default 64
  heads?: number; // default 4
  kvHeads?: number; // default 2
  ffn?: number; // feed_forward_length, default 128
  contextLength?: number; // default 256
  /** Type of the 2-D weight matrices; norms are always F32. Default F32. */
  weightType?: GgufTensorType;
  /** Type of token_embd.weight; defaults to weightType. */
  embeddingType?: GgufTensorType;
  /** true: no output.weight, the output projection reuses token_embd (as SmolLM2). Default false. */
  tiedOutput?: boolean;
  ropeBase?: number; // default 10000
  rmsEps?: number; // default 1e-5
  version?: 2 | 3;
}

/** The families the engine reads; see native/src/arch/. */
export type TinyArchitecture = "llama" | "qwen2" | "qwen3" | "gemma3" | "phi3";

export interface TinyModelOptions extends TinyLlamaOptions {
  /** Default "llama". */
  architecture?: TinyArchitecture;
  /** attention.key_length when it differs from dim / heads (qwen3, gemma3). */
  headDim?: number;
  /** gemma3: attention.sliding_window (default 8) and sliding_window_pattern (default 2). */
  slidingWindow?: number;
  slidingPattern?: number;
  /** gemma3: rope.freq_base_swa of the sliding layers (default 10000; ropeBase then defaults to 1e6). */
  ropeBaseSliding?: number;
}

export interface TinyLlamaInfo {
  path: string;
  layers: number;
  dim: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffn: number;
  contextLength: number;
  vocabSize: number;
  weightType: GgufTensorType;
  embeddingType: GgufTensorType;
  tiedOutput: boolean;
  ropeBase: number;
  rmsEps: number;
  /** Token strings by id (GPT-2 byte-to-unicode form). */
  tokens: string[];
  bosId: number;
  eosId: number;
  chatTemplate: string;
}

export const TINY_CHAT_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

const SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

// Merges over GPT-2 byte symbols ("Ġ" is a space); each part exists before its merge.
const MERGES: Array<[string, string]> = [
  ["Ġ", "t"], ["Ġ", "a"], ["i", "n"], ["h", "e"], ["r", "e"], ["o", "n"], ["e", "r"], ["Ġ", "s"],
  ["Ġt", "he"], ["a", "n"], ["Ġ", "w"], ["o", "r"], ["Ġ", "o"], ["e", "n"], ["Ġ", "c"], ["l", "l"],
  ["i", "s"], ["Ġ", "h"], ["e", "s"], ["Ġ", "b"], ["i", "t"], ["Ġ", "f"], ["o", "u"], ["Ġ", "m"],
  ["a", "t"], ["e", "d"], ["Ġ", "p"], ["in", "g"], ["Ġ", "d"], ["Ġ", "i"], ["e", "l"], ["l", "o"],
  ["he", "ll"], ["hell", "o"], ["Ġw", "or"], ["Ġwor", "l"], ["Ġworl", "d"], ["Ġa", "n"], ["Ġan", "d"], ["Ġ", "Ġ"],
];

/** GPT-2's reversible byte -> printable unicode mapping. */
export function gpt2ByteSymbols(): string[] {
  const symbols: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    symbols[b] = String.fromCodePoint(printable ? b : 256 + extra++);
  }
  return symbols;
}

const FILE_TYPE: Record<GgufTensorType, number> = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 7, BF16: 32 };

/** mulberry32: a small seeded PRNG (test weights, fuzz mutations); the same seed gives the same sequence. */
export function makeRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeGaussian(uniform: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** Writes a tiny llama model to `path` and describes what it wrote. */
export function makeTinyLlama(path: string, opts: TinyLlamaOptions = {}): TinyLlamaInfo {
  return makeTinyModel(path, { ...opts, architecture: "llama" });
}

export type TinyModelInfo = TinyLlamaInfo & { architecture: TinyArchitecture };

/**
 * Each family with the shape that sets it apart: qwen3 and gemma3 with a head
 * dimension other than dim / heads, gemma3 with a tied head (and its sliding
 * window of 8 on every other layer), phi3 with fused tensors.
 */
export const TINY_FAMILIES: ReadonlyArray<{ arch: TinyArchitecture; options: TinyModelOptions }> = [
  { arch: "llama", options: {} },
  { arch: "qwen2", options: {} },
  { arch: "qwen3", options: { headDim: 32 } },
  { arch: "gemma3", options: { headDim: 32, tiedOutput: true } },
  { arch: "phi3", options: {} },
];

/** Writes a tiny model of the given architecture (default llama) to `path`. */
export function makeTinyModel(path: string, opts: TinyModelOptions = {}): TinyModelInfo {
  const parts = tinyModelParts(path, opts);
  writeGguf(path, { version: opts.version ?? 3, metadata: parts.metadata, tensors: parts.tensors });
  return parts.info;
}

/** The tiny model's metadata and tensors (F32 values before any quantization), without writing it. */
export function tinyModelParts(
  path: string,
  opts: TinyModelOptions = {},
): { info: TinyModelInfo; metadata: Array<[string, GgufWriteValue]>; tensors: GgufWriteTensor[]; merges: string[] } {
  const arch = opts.architecture ?? "llama";
  const layers = opts.layers ?? 4;
  const dim = opts.dim ?? 64;
  const heads = opts.heads ?? 4;
  const kvHeads = opts.kvHeads ?? 2;
  const ffn = opts.ffn ?? 128;
  const contextLength = opts.contextLength ?? 256;
  const weightType = opts.weightType ?? "F32";
  const embeddingType = opts.embeddingType ?? weightType;
  const tiedOutput = opts.tiedOutput ?? false;
  const ropeBase = opts.ropeBase ?? (arch === "gemma3" ? 1e6 : 10000);
  const rmsEps = opts.rmsEps ?? 1e-5;
  if ((opts.headDim === undefined && dim % heads !== 0) || heads % kvHeads !== 0) {
    throw new Error(`tiny model: dim ${dim} must divide into ${heads} heads, and heads into ${kvHeads} kv heads`);
  }
  const headDim = opts.headDim ?? dim / heads;
  const qDim = heads * headDim;
  const kvDim = kvHeads * headDim;

  const tokens = [...SPECIAL_TOKENS, ...gpt2ByteSymbols()];
  const known = new Set(tokens);
  for (const [a, b] of MERGES) {
    if (!known.has(a) || !known.has(b)) throw new Error(`tiny llama: merge '${a} ${b}' uses an unknown token`);
    if (!known.has(a + b)) {
      tokens.push(a + b);
      known.add(a + b);
    }
  }
  const vocabSize = tokens.length;
  const bosId = 1;
  const eosId = 2;

  const gauss = makeGaussian(makeRandom(opts.seed ?? 1));
  const matrix = (name: string, cols: number, rows: number, type: GgufTensorType, scale: number): GgufWriteTensor => {
    const data = new Float32Array(cols * rows);
    for (let i = 0; i < data.length; i++) data[i] = gauss() * scale;
    return { name, type, shape: [cols, rows], data };
  };
  // Norm weights near 1 so they matter without blowing activations up.
  const norm = (name: string, n = dim): GgufWriteTensor => {
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = 1 + 0.1 * gauss();
    return { name, type: "F32", shape: [n], data };
  };
  const bias = (name: string, n: number): GgufWriteTensor => {
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = 0.5 * gauss();
    return { name, type: "F32", shape: [n], data };
  };
  const s = 1 / Math.sqrt(dim);

  const tensors: GgufWriteTensor[] = [matrix("token_embd.weight", dim, vocabSize, embeddingType, 1)];
  for (let l = 0; l < layers; l++) {
    const p = `blk.${l}.`;
    tensors.push(norm(`${p}attn_norm.weight`));
    if (arch === "phi3") {
      tensors.push(matrix(`${p}attn_qkv.weight`, dim, qDim + 2 * kvDim, weightType, s));
    } else {
      tensors.push(
        matrix(`${p}attn_q.weight`, dim, qDim, weightType, s),
        matrix(`${p}attn_k.weight`, dim, kvDim, weightType, s),
        matrix(`${p}attn_v.weight`, dim, kvDim, weightType, s),
      );
    }
    if (arch === "qwen2") tensors.push(bias(`${p}attn_q.bias`, qDim), bias(`${p}attn_k.bias`, kvDim), bias(`${p}attn_v.bias`, kvDim));
    tensors.push(matrix(`${p}attn_output.weight`, qDim, dim, weightType, 1 / Math.sqrt(qDim)));
    if (arch === "qwen3" || arch === "gemma3") tensors.push(norm(`${p}attn_q_norm.weight`, headDim), norm(`${p}attn_k_norm.weight`, headDim));
    if (arch === "gemma3") tensors.push(norm(`${p}post_attention_norm.weight`));
    tensors.push(norm(`${p}ffn_norm.weight`));
    if (arch === "phi3") {
      tensors.push(matrix(`${p}ffn_up.weight`, dim, 2 * ffn, weightType, s));
    } else {
      tensors.push(matrix(`${p}ffn_gate.weight`, dim, ffn, weightType, s), matrix(`${p}ffn_up.weight`, dim, ffn, weightType, s));
    }
    tensors.push(matrix(`${p}ffn_down.weight`, ffn, dim, weightType, 1 / Math.sqrt(ffn)));
    if (arch === "gemma3") tensors.push(norm(`${p}post_ffw_norm.weight`));
  }
  tensors.push(norm("output_norm.weight"));
  if (!tiedOutput) tensors.push(matrix("output.weight", dim, vocabSize, weightType, 1 / Math.sqrt(dim)));

  const u32 = (value: number): GgufWriteValue => ({ type: "u32", value });
  const f32 = (value: number): GgufWriteValue => ({ type: "f32", value });
  const quantized = weightType !== "F32" && weightType !== "F16" && weightType !== "BF16";
  const a = `${arch}.`;
  const metadata: Array<[string, GgufWriteValue]> = [
    ["general.architecture", arch],
    ["general.type", "model"],
    // Not the family's name: llama.cpp keys vocabulary fix-ups off general.name
    // ("phi3" expects <s> and </s> tokens this vocabulary lacks).
    ["general.name", "Tiny random-weight model"],
    [`${a}block_count`, u32(layers)],
    [`${a}context_length`, u32(contextLength)],
    [`${a}embedding_length`, u32(dim)],
    [`${a}feed_forward_length`, u32(ffn)],
    [`${a}attention.head_count`, u32(heads)],
    [`${a}attention.head_count_kv`, u32(kvHeads)],
    [`${a}rope.freq_base`, f32(ropeBase)],
    [`${a}attention.layer_norm_rms_epsilon`, f32(rmsEps)],
    ["general.file_type", u32(FILE_TYPE[weightType])],
    [`${a}vocab_size`, u32(vocabSize)],
    [`${a}rope.dimension_count`, u32(headDim)],
    ["tokenizer.ggml.add_space_prefix", false],
    ["tokenizer.ggml.add_bos_token", false],
    ["tokenizer.ggml.model", "gpt2"],
    ["tokenizer.ggml.pre", "smollm"],
    ["tokenizer.ggml.tokens", { type: "array", elemType: "string", value: tokens }],
    [
      "tokenizer.ggml.token_type",
      { type: "array", elemType: "i32", value: tokens.map((_, i) => (i < SPECIAL_TOKENS.length ? 3 : 1)) },
    ],
    ["tokenizer.ggml.merges", { type: "array", elemType: "string", value: MERGES.map(([a, b]) => `${a} ${b}`) }],
    ["tokenizer.ggml.bos_token_id", u32(bosId)],
    ["tokenizer.ggml.eos_token_id", u32(eosId)],
    ["tokenizer.ggml.unknown_token_id", u32(0)],
    ["tokenizer.ggml.padding_token_id", u32(eosId)],
    ["tokenizer.chat_template", TINY_CHAT_TEMPLATE],
  ];
  if (quantized) metadata.push(["general.quantization_version", u32(2)]);
  if (opts.headDim !== undefined) metadata.push([`${a}attention.key_length`, u32(headDim)], [`${a}attention.value_length`, u32(headDim)]);
  if (arch === "gemma3") {
    metadata.push(
      [`${a}attention.sliding_window`, u32(opts.slidingWindow ?? 8)],
      [`${a}attention.sliding_window_pattern`, u32(opts.slidingPattern ?? 2)],
      [`${a}rope.freq_base_swa`, f32(opts.ropeBaseSliding ?? 10000)],
    );
  }

  const info: TinyModelInfo = {
    path,
    architecture: arch,
    layers,
    dim,
    heads,
    kvHeads,
    headDim,
    ffn,
    contextLength,
    vocabSize,
    weightType,
    embeddingType,
    tiedOutput,
    ropeBase,
    rmsEps,
    tokens,
    bosId,
    eosId,
    chatTemplate: TINY_CHAT_TEMPLATE,
  };
  return { info, metadata, tensors, merges: MERGES.map(([a, b]) => `${a} ${b}`) };
}
