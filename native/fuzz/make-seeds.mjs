// Writes the seed corpora of the fuzz targets: tiny valid files made by the
// project's own GGUF writer (packages/core/dist, so `pnpm build` first).
// Usage: node native/fuzz/make-seeds.mjs <out-dir>
//   <out-dir>/gguf_parse/*.gguf  metadata of every type, alignments, tensors
//   <out-dir>/model_load/*.gguf  one small model per weight type, layout and architecture
//   <out-dir>/hf_checkpoint/*    a checkpoint folder per architecture, packed as
//                                u32 length, config.json, model.safetensors
// Each seed is a few KB so that mutations stay cheap.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const dist = join(repo, "packages", "core", "dist", "gguf");
const { writeGguf } = await import(join(dist, "writer.js"));
const { makeTinyLlama } = await import(join(dist, "tiny-model.js"));
const { makeTinyCheckpoint } = await import(join(dist, "tiny-checkpoint.js"));

const out = process.argv[2];
if (!out) {
  console.error("usage: node make-seeds.mjs <out-dir>");
  process.exit(2);
}
const ggufDir = join(out, "gguf_parse");
const modelDir = join(out, "model_load");
const hfDir = join(out, "hf_checkpoint");
for (const d of [ggufDir, modelDir, hfDir]) mkdirSync(d, { recursive: true });

// A deterministic filler so seeds are the same on every run.
function values(n, seed) {
  const v = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = (s / 2 ** 32 - 0.5) * 0.2;
  }
  return v;
}
const tensor = (name, type, shape, seed = 1) => ({ name, type, shape, data: values(shape.reduce((a, b) => a * b, 1), seed) });
const u32 = (value) => ({ type: "u32", value });
const f32 = (value) => ({ type: "f32", value });

// --- gguf_parse: the reader's value types, arrays, alignments and tensor types.
const everyType = [
  ["t.u8", { type: "u8", value: 200 }], ["t.i8", { type: "i8", value: -100 }],
  ["t.u16", { type: "u16", value: 60000 }], ["t.i16", { type: "i16", value: -30000 }],
  ["t.u32", u32(4000000000)], ["t.i32", { type: "i32", value: -2000000000 }],
  ["t.f32", f32(1.5)], ["t.f64", { type: "f64", value: 0.125 }],
  ["t.u64", { type: "u64", value: 2n ** 40n }], ["t.i64", { type: "i64", value: -(2n ** 40n) }],
  ["t.bool", true], ["t.string", "héllo"], ["t.empty", ""],
  ["t.strs", { type: "array", elemType: "string", value: ["a", "", "<|im_end|>"] }],
  ["t.i32s", { type: "array", elemType: "i32", value: [-7, 9] }],
  ["t.f32s", { type: "array", elemType: "f32", value: [0.5, -2] }],
  ["t.bools", { type: "array", elemType: "bool", value: [false, true] }],
  ["t.u64s", { type: "array", elemType: "u64", value: [1n, 2n ** 63n] }],
  ["t.none", { type: "array", elemType: "u8", value: [] }],
];
writeGguf(join(ggufDir, "every-value-type-v3.gguf"), { version: 3, metadata: everyType, tensors: [] });
writeGguf(join(ggufDir, "every-value-type-v2.gguf"), { version: 2, metadata: everyType.slice(0, 8), tensors: [] });
const someTensors = [
  tensor("w.f32", "F32", [4, 2]), tensor("w.f16", "F16", [8]), tensor("w.bf16", "BF16", [2, 2, 2]),
  tensor("w.q8_0", "Q8_0", [32, 2]), tensor("w.q4_0", "Q4_0", [32]), tensor("w.q4_1", "Q4_1", [32, 1, 1, 2]),
];
writeGguf(join(ggufDir, "tensors-align32.gguf"), { metadata: [["general.name", "x"]], tensors: someTensors });
writeGguf(join(ggufDir, "tensors-align64.gguf"), { alignment: 64, metadata: [], tensors: someTensors.slice(0, 3) });
writeGguf(join(ggufDir, "tensors-align8.gguf"), { version: 2, alignment: 8, metadata: [], tensors: someTensors.slice(3) });

// --- model_load: llama-family models, one per weight type and layout.
// `arch` picks the key prefix; `layerTensors(p, dims)` replaces or adds a
// family's own tensors in each layer (llama.cpp's GGUF names).
function llama(name, o) {
  const { dim, heads, kvHeads, ffn, layers, vocab, type, tied = false, extra = [], ropeFreqs = false, arch = "llama" } = o;
  const headDim = dim / heads;
  const tensors = [tensor("token_embd.weight", type, [dim, vocab], 1)];
  for (let l = 0; l < layers; l++) {
    const p = `blk.${l}.`;
    const standard = [
      tensor(`${p}attn_norm.weight`, "F32", [dim]), tensor(`${p}attn_q.weight`, type, [dim, heads * headDim]),
      tensor(`${p}attn_k.weight`, type, [dim, kvHeads * headDim]), tensor(`${p}attn_v.weight`, type, [dim, kvHeads * headDim]),
      tensor(`${p}attn_output.weight`, type, [heads * headDim, dim]), tensor(`${p}ffn_norm.weight`, "F32", [dim]),
      tensor(`${p}ffn_gate.weight`, type, [dim, ffn]), tensor(`${p}ffn_up.weight`, type, [dim, ffn]),
      tensor(`${p}ffn_down.weight`, type, [ffn, dim]),
    ];
    const own = o.layerTensors ? o.layerTensors(p, { dim, headDim, heads, kvHeads, ffn, type }) : { add: [], drop: [] };
    tensors.push(...standard.filter((t) => !own.drop.includes(t.name.slice(p.length))), ...own.add);
  }
  tensors.push(tensor("output_norm.weight", "F32", [dim]));
  if (!tied) tensors.push(tensor("output.weight", type, [dim, vocab], 2));
  if (ropeFreqs) tensors.push(tensor("rope_freqs.weight", "F32", [headDim / 2]));
  const metadata = [
    ["general.architecture", arch],
    [`${arch}.block_count`, u32(layers)],
    [`${arch}.context_length`, u32(64)],
    [`${arch}.embedding_length`, u32(dim)],
    [`${arch}.feed_forward_length`, u32(ffn)],
    [`${arch}.attention.head_count`, u32(heads)],
    [`${arch}.attention.head_count_kv`, u32(kvHeads)],
    [`${arch}.rope.freq_base`, f32(10000)],
    [`${arch}.attention.layer_norm_rms_epsilon`, f32(1e-5)],
  ];
  for (const [key, value] of extra) {  // an extra entry replaces a default one of the same key
    const at = metadata.findIndex(([k]) => k === key);
    if (at >= 0) metadata[at] = [key, value];
    else metadata.push([key, value]);
  }
  writeGguf(join(modelDir, `${name}.gguf`), { version: o.version ?? 3, metadata, tensors });
}
llama("llama-f32", { dim: 8, heads: 2, kvHeads: 1, ffn: 8, layers: 1, vocab: 4, type: "F32" });
llama("llama-f16-tied-2layers", { dim: 8, heads: 2, kvHeads: 2, ffn: 16, layers: 2, vocab: 3, type: "F16", tied: true });
llama("llama-bf16-rope", {
  dim: 8, heads: 1, kvHeads: 1, ffn: 8, layers: 1, vocab: 2, type: "BF16", ropeFreqs: true, version: 2,
  extra: [
    ["llama.rope.dimension_count", u32(8)], ["llama.attention.key_length", u32(8)],
    ["llama.rope.scaling.type", "linear"], ["llama.rope.scaling.factor", f32(2)],
  ],
});
llama("llama-q8_0", { dim: 32, heads: 4, kvHeads: 2, ffn: 32, layers: 1, vocab: 2, type: "Q8_0" });
llama("llama-q4_0-tied", { dim: 32, heads: 2, kvHeads: 1, ffn: 32, layers: 1, vocab: 3, type: "Q4_0", tied: true });
llama("llama-q4_1-per-layer-array", {
  dim: 32, heads: 2, kvHeads: 2, ffn: 32, layers: 1, vocab: 2, type: "Q4_1",
  extra: [
    ["llama.rope.scaling.type", "none"],
    ["llama.attention.head_count_kv", { type: "array", elemType: "i32", value: [2] }],  // one per layer
  ],
});
// The other families Model::load reads, one seed each: what they add to the
// llama layer (biases, per-head q/k norms, post norms, fused projections).
const norm = (name, n) => tensor(name, "F32", [n]);
llama("qwen2-q8_0-biases", {
  arch: "qwen2", dim: 32, heads: 2, kvHeads: 1, ffn: 32, layers: 1, vocab: 2, type: "Q8_0", tied: true,
  layerTensors: (p, d) => ({
    drop: [],
    add: [norm(`${p}attn_q.bias`, d.heads * d.headDim), norm(`${p}attn_k.bias`, d.kvHeads * d.headDim), norm(`${p}attn_v.bias`, d.kvHeads * d.headDim)],
  }),
});
llama("qwen3-f16-qk-norm", {
  arch: "qwen3", dim: 8, heads: 2, kvHeads: 1, ffn: 8, layers: 1, vocab: 2, type: "F16",
  extra: [["qwen3.attention.key_length", u32(4)], ["qwen3.attention.value_length", u32(4)]],
  layerTensors: (p, d) => ({ drop: [], add: [norm(`${p}attn_q_norm.weight`, d.headDim), norm(`${p}attn_k_norm.weight`, d.headDim)] }),
});
llama("gemma3-f32-sliding", {
  arch: "gemma3", dim: 8, heads: 2, kvHeads: 1, ffn: 8, layers: 2, vocab: 2, type: "F32", tied: true,
  extra: [
    ["gemma3.attention.key_length", u32(4)], ["gemma3.attention.value_length", u32(4)],
    ["gemma3.attention.sliding_window", u32(16)], ["gemma3.attention.sliding_window_pattern", u32(2)],
    ["gemma3.rope.freq_base_swa", f32(10000)],
  ],
  layerTensors: (p, d) => ({
    drop: [],
    add: [
      norm(`${p}attn_q_norm.weight`, d.headDim), norm(`${p}attn_k_norm.weight`, d.headDim),
      norm(`${p}post_attention_norm.weight`, d.dim), norm(`${p}post_ffw_norm.weight`, d.dim),
    ],
  }),
});
llama("phi3-q4_0-fused", {
  arch: "phi3", dim: 32, heads: 2, kvHeads: 2, ffn: 32, layers: 1, vocab: 2, type: "Q4_0",
  extra: [["phi3.rope.dimension_count", u32(16)]],
  layerTensors: (p, d) => ({
    drop: ["attn_q.weight", "attn_k.weight", "attn_v.weight", "ffn_gate.weight", "ffn_up.weight"],
    add: [
      tensor(`${p}attn_qkv.weight`, d.type, [d.dim, (d.heads + 2 * d.kvHeads) * d.headDim]),
      tensor(`${p}ffn_up.weight`, d.type, [d.dim, 2 * d.ffn]),
    ],
  }),
});
// One with the whole tokenizer, as files in the wild carry (~10 KB).
makeTinyLlama(join(modelDir, "tiny-llama-q4_0-tokenizer.gguf"), {
  layers: 1, dim: 32, heads: 2, kvHeads: 1, ffn: 32, weightType: "Q4_0", tiedOutput: true,
});
// --- hf_checkpoint: each architecture as a transformers folder, packed into one input.
const small = { layers: 1, dim: 8, heads: 2, kvHeads: 1, ffn: 8 };
for (const [architecture, dtype] of [["llama", "F32"], ["qwen2", "BF16"], ["qwen3", "F32"], ["gemma3", "BF16"], ["phi3", "F32"]]) {
  const dir = join(out, "hf-folders", architecture);
  // Gemma 3 alternates sliding and full layers, so it needs two at least.
  const layers = architecture === "gemma3" ? 2 : small.layers;
  makeTinyCheckpoint(dir, { ...small, layers, architecture, tiedOutput: architecture !== "phi3" }, dtype);
  const config = readFileSync(join(dir, "config.json"));
  const weights = readFileSync(join(dir, "model.safetensors"));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(config.length);
  writeFileSync(join(hfDir, `${architecture}-${dtype.toLowerCase()}.bin`), Buffer.concat([length, config, weights]));
}
rmSync(join(out, "hf-folders"), { recursive: true, force: true });
console.log(`seeds written to ${ggufDir}, ${modelDir} and ${hfDir}`);
