// Decoder architectures: how each family's GGUF names its hyper-parameters
// and composes its layer from the shared pieces (src/layer/decoder_layer.cc).
// One file per architecture in src/arch/ fills in an Architecture; the
// common keys (block_count, embedding_length, attention.head_count, ...) and
// the standard tensor names (blk.N.attn_q.weight, ...) are read for all of
// them by Model::load.
#pragma once
#include <string>
#include <vector>

namespace first {

class GgufFile;
struct ModelConfig;

// Which dims RoPE rotates together: adjacent pairs (2i, 2i+1) as in the
// llama GGUF layout, or (i, i + rope_dim/2) as in the GPT-NeoX layout that
// Qwen, Gemma and Phi GGUFs use.
enum class RopeStyle { Adjacent, HalfSplit };

enum class MlpActivation { Silu, GeluTanh };

// What a layer does beyond the llama layer
//   x += Wo attn(rope(q), rope(k), v), q,k,v = W{q,k,v} norm(x)
//   x += Wdown (act(Wgate norm(x)) * Wup norm(x)).
// Optional tensors every family may carry (Q/K/V biases, a fused attn_qkv)
// are found by name and need no flag here.
struct LayerRecipe {
  RopeStyle rope = RopeStyle::Adjacent;
  MlpActivation activation = MlpActivation::Silu;
  bool qk_norm = false;        // RMSNorm over each head of q and k before RoPE (attn_q_norm, attn_k_norm)
  bool post_norms = false;     // RMSNorm of the attention and MLP outputs before each residual add
  bool fused_gate_up = false;  // ffn_up holds gate then up (2 x ffn rows); no ffn_gate
};

struct Architecture {
  const char* name;  // general.architecture
  LayerRecipe recipe;
  // Reads what this family adds to the common keys (window, scales, ...).
  // `prefix` is "<name>.". May be null.
  void (*read_hyper_parameters)(const GgufFile& f, const std::string& prefix, ModelConfig& c);
};

// The registered architecture of that name, or null.
const Architecture* find_architecture(const std::string& name);
// "llama, qwen2, ..." for error messages.
std::string architecture_names();

// One per file in src/arch/.
const Architecture& llama_architecture();
const Architecture& qwen2_architecture();
const Architecture& qwen3_architecture();
const Architecture& gemma3_architecture();
const Architecture& phi3_architecture();

}  // namespace first
