// Element-wise and attention ops of the llama decoder (CPU).
#pragma once
#include <cstdint>
#include <vector>
#include "first/kv_cache.h"
#include "first/threadpool.h"

namespace first {

// y[r] = x[r] / rms(x[r]) * w, for n_rows rows of d floats (x may equal y).
void rmsnorm(const float* x, const float* w, float* y, int64_t n_rows, int64_t d, float eps);

// Rotary embedding for the llama layout (adjacent pairs (2i, 2i+1) rotate),
// applied to the first rope_dim dims of each of n_heads heads of one token.
struct Rope {
  int head_dim = 0;
  int rope_dim = 0;
  std::vector<double> inv_freq;  // rope_dim/2 angular speeds, scaling folded in
  Rope() = default;
  Rope(int head_dim, int rope_dim, float base, float pos_scale, const std::vector<float>& freq_factors);
  void apply(float* x, int n_heads, int pos) const;                 // in place
  void apply_to(const float* x, float* out, int n_heads, int pos) const;  // out = rope(x)
};

// out = silu(gate) * up, n floats.
void silu_mul(const float* gate, const float* up, float* out, int64_t n);

// Causal grouped-query attention reading K/V straight from the paged cache.
// One query row per token; token t attends to positions [0, n_ctx[t]) of
// layer `layer` of sequence seq[t].
struct AttentionBatch {
  const float* q = nullptr;  // n_tokens x (n_heads*head_dim), row stride ldq
  int64_t ldq = 0;
  float* out = nullptr;      // n_tokens x (n_heads*head_dim), row stride ldo
  int64_t ldo = 0;
  std::vector<int> seq;      // per token
  std::vector<int> n_ctx;    // per token
};
void attention(const KvCache& kv, int layer, const AttentionBatch& batch, int n_heads, int n_kv_heads, int head_dim,
               ThreadPool& pool);

// Plain reference of the same (gathers K/V through k_row/v_row, double sums).
void attention_reference(KvCache& kv, int layer, const AttentionBatch& batch, int n_heads, int n_kv_heads,
                         int head_dim);

}  // namespace first
