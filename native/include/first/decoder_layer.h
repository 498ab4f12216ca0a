// The decoder layer's pieces, composed per architecture from the model's
// LayerRecipe, and the RoPE each layer uses.
#pragma once
#include <cstdint>
#include <vector>

#include "first/lora.h"
#include "first/matmul.h"
#include "first/model.h"
#include "first/ops.h"
#include "first/threadpool.h"

namespace first {

// Rows [row0, row0 + n) of a layer's batch and the adapter they take (null: none).
struct LoraRun {
  int64_t row0 = 0, n = 0;
  const LayerLora* lora = nullptr;
};

// Pieces of the decoder layer, shared by the engine and the trainer so both
// compute the same numbers; the model's LayerRecipe says which optional steps
// (biases, per-head q/k norms, post-norms, the MLP activation) run. x: n rows of d_model. Intermediates go where
// `acts` points (row-major, n rows); lora_t[m] (n x rank) receives X A^T of
// module m when the layer has an adapter there.
struct LayerActs {
  float* xn = nullptr;                    // n x d: the normed input of the block
  float *q = nullptr, *k = nullptr, *v = nullptr;  // n x q_dim, kv_dim, kv_dim (before RoPE)
  float* att = nullptr;                   // n x q_dim: attention output (input of Wo)
  float *gate = nullptr, *up = nullptr;   // n x ffn_dim
  float* act = nullptr;                   // n x ffn_dim: act(gate) * up (may equal gate)
  float* proj = nullptr;                  // n x d: an output before its post-norm (recipe.post_norms only)
  // For the trainer's backward pass (null at inference): copies of q and k
  // before their per-head norms (n x q_dim, kv_dim), and of the output
  // before its post-norm (n x d).
  float *q_pre = nullptr, *k_pre = nullptr, *proj_pre = nullptr;
  bool exact_activation = false;          // GELU in its exact form (training)
  float* lora_t[kLoraModules] = {};
};
// `runs`, when given, replaces `lora`: rows take different adapters (the base
// matmuls still run once over all rows; each run adds its own low-rank terms,
// lora_t[m] then holding n x the largest rank).
// xn = rmsnorm(x) * attn_norm; q, k, v = projections of xn (+ biases; then
// each head of q and k RMS-normed where the recipe says).
void layer_qkv(const ModelConfig& c, const LayerWeights& L, const LayerLora* lora, const float* x, int64_t n,
               const LayerActs& a, ThreadPool& pool, MatmulScratch& mm, const std::vector<LoraRun>* runs = nullptr);
// x += Wo * att (post-normed where the recipe says).
void layer_attn_out(const ModelConfig& c, const LayerWeights& L, const LayerLora* lora, float* x, int64_t n,
                    const LayerActs& a, ThreadPool& pool, MatmulScratch& mm, const std::vector<LoraRun>* runs = nullptr);
// x += Wdown * (act(Wgate xn) * Wup xn), xn = rmsnorm(x) * ffn_norm.
void layer_mlp(const ModelConfig& c, const LayerWeights& L, const LayerLora* lora, float* x, int64_t n,
               const LayerActs& a, ThreadPool& pool, MatmulScratch& mm, const std::vector<LoraRun>* runs = nullptr);

// The rotary embedding of the model's full-attention layers, and of its
// sliding-window layers (their own base, no scaling).
Rope model_rope(const Model& m, bool sliding_layer = false);

}  // namespace first
