// A pretrained decoder loaded from GGUF: hyper-parameters and weight views
// into the file mapping (weights are never copied or dequantized). The
// architecture (include/first/architecture.h) says how its layer is composed.
#pragma once
#include <memory>
#include <string>
#include <vector>
#include "first/architecture.h"
#include "first/gguf.h"
#include "first/matmul.h"
#include "first/row_groups.h"

namespace first {

// Field names follow the GGUF keys they come from (<architecture>.* keys).
struct ModelConfig {
  std::string architecture;   // general.architecture
  int n_layers = 0;           // block_count
  int d_model = 0;            // embedding_length
  int n_heads = 0;            // attention.head_count
  int n_kv_heads = 0;         // attention.head_count_kv
  int head_dim = 0;           // embedding_length / head_count (or key_length)
  int ffn_dim = 0;            // feed_forward_length
  int vocab_size = 0;
  int context_length = 0;
  float rms_eps = 1e-5f;      // attention.layer_norm_rms_epsilon
  float rope_base = 10000.f;  // rope.freq_base
  int rope_dim = 0;           // rope.dimension_count
  float rope_scale = 1.f;     // rope.scaling.factor when scaling.type == linear
  bool tied_output = false;   // output head shares token_embd
  LayerRecipe recipe;         // the architecture's layer
  float embed_scale = 1.f;    // embeddings are multiplied by this (Gemma: sqrt(d_model))
  float attn_scale = 0.f;     // query scale in attention; 0: 1/sqrt(head_dim)
  float logit_softcap = 0.f;  // > 0: logits = cap * tanh(logits / cap)
  int sliding_window = 0;     // > 0: sliding layers attend to the last this many positions
  std::vector<char> layer_sliding;  // per layer (empty: none slides)
  float rope_base_sliding = 10000.f;  // RoPE base of sliding layers (no scaling there)
  int rope_original_context = 0;      // beyond it Phi-3 wants its long RoPE factors
  bool sliding(int layer) const { return !layer_sliding.empty() && layer_sliding[layer]; }
  float query_scale() const;
  int kv_dim() const { return n_kv_heads * head_dim; }
  int q_dim() const { return n_heads * head_dim; }
};

// A fused attn_qkv (or gate-up) tensor is seen as row slices of it.
struct LayerWeights {
  std::vector<float> attn_norm;  // d_model
  WeightView wq, wk, wv, wo;
  std::vector<float> bq, bk, bv;             // biases (empty: none)
  std::vector<float> q_norm, k_norm;         // head_dim each (recipe.qk_norm)
  std::vector<float> attn_post_norm;         // d_model (recipe.post_norms)
  std::vector<float> ffn_norm;   // d_model
  WeightView w_gate, w_up, w_down;
  std::vector<float> ffn_post_norm;          // d_model (recipe.post_norms)
};

// A GGUF file, or a Hugging Face checkpoint folder (config.json and
// safetensors) seen with GGUF's keys and tensor names.
std::unique_ptr<GgufFile> open_model_file(const std::string& path);

class Model {
 public:
  // Opens and validates a GGUF model; throws first::Error explaining what is
  // wrong (unsupported architecture, missing or unused tensor, shape
  // mismatch, a hyper-parameter the file cannot hold...). Nothing is sized by
  // a hyper-parameter before it is checked against the tensors present.
  static std::unique_ptr<Model> load(const std::string& path);

  const ModelConfig& config() const { return cfg_; }
  const GgufFile& gguf() const { return *file_; }
  const LayerWeights& layer(int l) const { return layers_[l]; }
  const WeightView& token_embd() const { return token_embd_; }
  const WeightView& output() const { return output_; }
  const std::vector<float>& output_norm() const { return output_norm_; }
  const std::vector<float>& rope_freq_factors() const { return rope_freqs_; }  // empty if none
  const std::vector<float>& rope_freq_factors_long() const { return rope_freqs_long_; }  // Phi-3's; empty if none
  size_t weight_bytes() const;

  // Copies the embedding rows of `tokens` into out (n x d_model); throws on an
  // id outside the vocabulary.
  void embed(const int32_t* tokens, int n, float* out) const;

 private:
  Model() = default;
  void make_row_groups();
  std::unique_ptr<GgufFile> file_;
  ModelConfig cfg_;
  std::vector<LayerWeights> layers_;
  WeightView token_embd_, output_;
  std::vector<float> output_norm_;
  std::vector<float> rope_freqs_;
  std::vector<float> rope_freqs_long_;
  std::vector<RowGroups> row_groups_;  // owned copies the views' row_groups point into
};

}  // namespace first
