// The tiny random model of tiny-model.ts as a Hugging Face checkpoint folder:
// config.json, model.safetensors (F32 or BF16), tokenizer.json and
// tokenizer_config.json, laid out as transformers saves that family (llama's
// q/k rows in the checkpoint's own order, Gemma's norms as w where GGUF holds
// 1 + w). Tests load both forms and compare.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeSafetensors, type NamedTensor, type SafetensorsDtype } from "../safetensors.js";
import { tinyModelParts, type TinyModelInfo, type TinyModelOptions } from "./tiny-model.js";

const MODEL_TYPE = { llama: "llama", qwen2: "qwen2", qwen3: "qwen3", gemma3: "gemma3_text", phi3: "phi3" } as const;

// GGUF layer tensor name -> the checkpoint's (the family decides a few).
function hfName(gguf: string, arch: string): string {
  const top: Record<string, string> = { "token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight" };
  if (top[gguf]) return top[gguf];
  const m = /^blk\.(\d+)\.(.+)$/.exec(gguf);
  if (!m) throw new Error(`tiny checkpoint: no checkpoint name for ${gguf}`);
  const gemma = arch === "gemma3";
  const names: Record<string, string> = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight", "attn_k.weight": "self_attn.k_proj.weight", "attn_v.weight": "self_attn.v_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias", "attn_k.bias": "self_attn.k_proj.bias", "attn_v.bias": "self_attn.v_proj.bias",
    "attn_qkv.weight": "self_attn.qkv_proj.weight", "attn_output.weight": "self_attn.o_proj.weight",
    "attn_q_norm.weight": "self_attn.q_norm.weight", "attn_k_norm.weight": "self_attn.k_norm.weight",
    "post_attention_norm.weight": "post_attention_layernorm.weight",
    "ffn_norm.weight": gemma ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight",
    "post_ffw_norm.weight": "post_feedforward_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": arch === "phi3" ? "mlp.gate_up_proj.weight" : "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
  };
  if (!names[m[2]]) throw new Error(`tiny checkpoint: no checkpoint name for ${gguf}`);
  return `model.layers.${m[1]}.${names[m[2]]}`;
}

// The GGUF converter interleaves each llama head's q/k rows (row h*hd + 2i + j
// holds the checkpoint's h*hd + j*hd/2 + i); this undoes it.
function unpermuteHeads(data: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  const hd = rows / heads, half = hd / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < half; i++)
      for (let j = 0; j < 2; j++) {
        const from = h * hd + 2 * i + j, to = h * hd + j * half + i;
        out.set(data.subarray(from * cols, (from + 1) * cols), to * cols);
      }
  return out;
}

/** Writes the tiny model's checkpoint folder; `dtype` for the weights (default F32). */
export function makeTinyCheckpoint(dir: string, opts: TinyModelOptions = {}, dtype: SafetensorsDtype = "F32"): TinyModelInfo {
  const { info, tensors, merges } = tinyModelParts(dir, { ...opts, weightType: "F32", embeddingType: "F32" });
  const arch = info.architecture;
  const named = new Map<string, NamedTensor>();
  for (const t of tensors) {
    let data = t.data;
    const shape = [...t.shape].reverse();  // [rows, cols]: the checkpoint's row-major layout
    if (arch === "llama" && /attn_[qk]\.weight$/.test(t.name)) {
      data = unpermuteHeads(data, shape[0], shape[1], t.name.includes("attn_q") ? info.heads : info.kvHeads);
    }
    if (arch === "gemma3" && /norm\.weight$/.test(t.name)) data = data.map((x) => x - 1);
    named.set(hfName(t.name, arch), { shape, data });
  }
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, "model.safetensors"), named, { format: "pt" }, dtype);

  const config: Record<string, unknown> = {
    architectures: ["TinyForCausalLM"],
    model_type: MODEL_TYPE[arch],
    num_hidden_layers: info.layers,
    hidden_size: info.dim,
    intermediate_size: info.ffn,
    num_attention_heads: info.heads,
    num_key_value_heads: info.kvHeads,
    max_position_embeddings: info.contextLength,
    rms_norm_eps: info.rmsEps,
    rope_theta: info.ropeBase,
    vocab_size: info.vocabSize,
    tie_word_embeddings: info.tiedOutput,
    torch_dtype: dtype === "F32" ? "float32" : dtype === "BF16" ? "bfloat16" : "float16",
    bos_token_id: info.bosId,
    eos_token_id: info.eosId,
  };
  if (opts.headDim !== undefined) config.head_dim = info.headDim;
  if (arch === "gemma3") {
    const period = opts.slidingPattern ?? 2;
    config.sliding_window = opts.slidingWindow ?? 8;
    config.layer_types = Array.from({ length: info.layers }, (_, l) => (l % period < period - 1 ? "sliding_attention" : "full_attention"));
    config.rope_local_base_freq = opts.ropeBaseSliding ?? 10000;
    config.query_pre_attn_scalar = info.headDim;
  }
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2));

  // Byte-level BPE with the same vocabulary, merges and special tokens.
  const special = new Set([0, 1, 2]);
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify({
    version: "1.0",
    added_tokens: [...special].map((id) => ({ id, content: info.tokens[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab: Object.fromEntries(info.tokens.map((t, i) => [t, i])), merges },
  }));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({
    bos_token: info.tokens[info.bosId],
    eos_token: info.tokens[info.eosId],
    add_bos_token: false,
    chat_template: info.chatTemplate,
  }));
  return info;
}
