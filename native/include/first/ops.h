// Element-wise and attention ops of the decoder layers (CPU).
#pragma once
#include <cstdint>
#include <vector>
#include "first/architecture.h"
#include "first/kv_cache.h"
#include "first/threadpool.h"

namespace first {

// y[r] = x[r] / rms(x[r]) * w, for n_rows rows of d floats (x may equal y).
void rmsnorm(const float* x, const float* w, float* y, int64_t n_rows, int64_t d, float eps);

// Rotary embedding on the first rope_dim dims of each of n_heads heads of one
// token; pair i is (2i, 2i+1) (Adjacent) or (i, i + rope_dim/2) (HalfSplit).
struct Rope {
  int head_dim = 0;
  int rope_dim = 0;
  RopeStyle style = RopeStyle::Adjacent;
  std::vector<double> inv_freq;  // rope_dim/2 angular speeds, scaling folded in
  Rope() = default;
  Rope(int head_dim, int rope_dim, float base, float pos_scale, const std::vector<float>& freq_factors,
       RopeStyle style = RopeStyle::Adjacent);
  void apply(float* x, int n_heads, int pos) const;                 // in place
  void apply_to(const float* x, float* out, int n_heads, int pos) const;  // out = rope(x)
  // The two halves of apply_to, for callers that rotate many heads (or many
  // layers) at one position: its rope_dim/2 cosines and sines, then the
  // rotation with them.
  void angles(int pos, float* cs, float* sn) const;
  void rotate(const float* x, float* out, int n_heads, const float* cs, const float* sn) const;
};

// out = silu(gate) * up, n floats.
void silu_mul(const float* gate, const float* up, float* out, int64_t n);
// out = gelu(gate) * up with GELU's tanh form, n floats: gelu_tanh_mul as
// GGUF inference computes it (f16-rounded), the exact form for training,
// whose gradient must be that of the function it runs.
void gelu_tanh_mul(const float* gate, const float* up, float* out, int64_t n);
void gelu_tanh_exact_mul(const float* gate, const float* up, float* out, int64_t n);
float gelu_tanh(float x);
double gelu_tanh_exact(double x);

// Causal grouped-query attention reading K/V straight from the paged cache.
// One query row per token; token t attends to positions [0, n_ctx[t]) of
// layer `layer` of sequence seq[t], or with a window w > 0 to the last w of
// them, [max(0, n_ctx[t] - w), n_ctx[t]).
struct AttentionBatch {
  const float* q = nullptr;  // n_tokens x (n_heads*head_dim), row stride ldq
  int64_t ldq = 0;
  float* out = nullptr;      // n_tokens x (n_heads*head_dim), row stride ldo
  int64_t ldo = 0;
  std::vector<int> seq;      // per token
  std::vector<int> n_ctx;    // per token
  float scale = 0.f;         // score scale; 0: 1/sqrt(head_dim)
  int window = 0;            // 0: all positions
  float score_scale(int head_dim) const;
  int first_position(int t) const { return window > 0 && n_ctx[t] > window ? n_ctx[t] - window : 0; }
};
void attention(const KvCache& kv, int layer, const AttentionBatch& batch, int n_heads, int n_kv_heads, int head_dim,
               ThreadPool& pool);

// Plain reference of the same (gathers K/V through k_row/v_row, double sums).
void attention_reference(KvCache& kv, int layer, const AttentionBatch& batch, int n_heads, int n_kv_heads,
                         int head_dim);

}  // namespace first
