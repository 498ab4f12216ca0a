// A tiny random-weight llama-architecture GGUF with a byte-level BPE
// tokenizer, laid out like the files llama.cpp's converter writes. Tests build
// one in milliseconds and can run it through both this engine and llama.cpp.
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

// mulberry32: small, fast, good enough for test weights.
function makeRandom(seed: number): () => number {
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

/** Writes the tiny model to `path` and describes what it wrote. */
export function makeTinyLlama(path: string, opts: TinyLlamaOptions = {}): TinyLlamaInfo {
  const layers = opts.layers ?? 4;
  const dim = opts.dim ?? 64;
  const heads = opts.heads ?? 4;
  const kvHeads = opts.kvHeads ?? 2;
  const ffn = opts.ffn ?? 128;
  const contextLength = opts.contextLength ?? 256;
  const weightType = opts.weightType ?? "F32";
  const embeddingType = opts.embeddingType ?? weightType;
  const tiedOutput = opts.tiedOutput ?? false;
  const ropeBase = opts.ropeBase ?? 10000;
  const rmsEps = opts.rmsEps ?? 1e-5;
  if (dim % heads !== 0 || heads % kvHeads !== 0) {
    throw new Error(`tiny llama: dim ${dim} must divide into ${heads} heads, and heads into ${kvHeads} kv heads`);
  }
  const headDim = dim / heads;
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
  const norm = (name: string): GgufWriteTensor => {
    const data = new Float32Array(dim);
    for (let i = 0; i < dim; i++) data[i] = 1 + 0.1 * gauss();
    return { name, type: "F32", shape: [dim], data };
  };

  const tensors: GgufWriteTensor[] = [matrix("token_embd.weight", dim, vocabSize, embeddingType, 1)];
  for (let l = 0; l < layers; l++) {
    const p = `blk.${l}.`;
    tensors.push(
      norm(`${p}attn_norm.weight`),
      matrix(`${p}attn_q.weight`, dim, dim, weightType, 1 / Math.sqrt(dim)),
      matrix(`${p}attn_k.weight`, dim, kvDim, weightType, 1 / Math.sqrt(dim)),
      matrix(`${p}attn_v.weight`, dim, kvDim, weightType, 1 / Math.sqrt(dim)),
      matrix(`${p}attn_output.weight`, dim, dim, weightType, 1 / Math.sqrt(dim)),
      norm(`${p}ffn_norm.weight`),
      matrix(`${p}ffn_gate.weight`, dim, ffn, weightType, 1 / Math.sqrt(dim)),
      matrix(`${p}ffn_up.weight`, dim, ffn, weightType, 1 / Math.sqrt(dim)),
      matrix(`${p}ffn_down.weight`, ffn, dim, weightType, 1 / Math.sqrt(ffn)),
    );
  }
  tensors.push(norm("output_norm.weight"));
  if (!tiedOutput) tensors.push(matrix("output.weight", dim, vocabSize, weightType, 1 / Math.sqrt(dim)));

  const u32 = (value: number): GgufWriteValue => ({ type: "u32", value });
  const f32 = (value: number): GgufWriteValue => ({ type: "f32", value });
  const quantized = weightType !== "F32" && weightType !== "F16" && weightType !== "BF16";
  const metadata: Array<[string, GgufWriteValue]> = [
    ["general.architecture", "llama"],
    ["general.type", "model"],
    ["general.name", "Tiny Llama (random weights)"],
    ["llama.block_count", u32(layers)],
    ["llama.context_length", u32(contextLength)],
    ["llama.embedding_length", u32(dim)],
    ["llama.feed_forward_length", u32(ffn)],
    ["llama.attention.head_count", u32(heads)],
    ["llama.attention.head_count_kv", u32(kvHeads)],
    ["llama.rope.freq_base", f32(ropeBase)],
    ["llama.attention.layer_norm_rms_epsilon", f32(rmsEps)],
    ["general.file_type", u32(FILE_TYPE[weightType])],
    ["llama.vocab_size", u32(vocabSize)],
    ["llama.rope.dimension_count", u32(headDim)],
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

  writeGguf(path, { version: opts.version ?? 3, metadata, tensors });
  return {
    path,
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
}
