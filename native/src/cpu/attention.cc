#include <algorithm>
#include <cmath>
#include <vector>

#include "first/ops.h"
#include "first/vec.h"

namespace first {

namespace {

// One (token, head) pair: scores over the cached positions, softmax, then a
// weighted sum of V rows, all read block by block from the cache.
void attend_one(const KvCache& kv, int layer, int seq, int n_ctx, const float* q, float* out, int kv_head,
                int head_dim, float scale, std::vector<float>& scores) {
  const std::vector<int32_t>& table = kv.block_table(seq, layer);
  const int bt = kv.config().block_tokens;
  const int kv_dim = kv.config().kv_dim;
  if (static_cast<int>(scores.size()) < n_ctx) scores.resize(n_ctx);
  float mx = -INFINITY;
  for (int p0 = 0; p0 < n_ctx; p0 += bt) {
    const float* k = kv.block_k(table[p0 / bt]) + kv_head * head_dim;
    const int n = std::min(bt, n_ctx - p0);
    for (int i = 0; i < n; ++i, k += kv_dim) {
      float s = vec_dot_f32(q, k, head_dim) * scale;
      scores[p0 + i] = s;
      mx = std::max(mx, s);
    }
  }
  float sum = 0.f;
  for (int p = 0; p < n_ctx; ++p) {
    float e = std::exp(scores[p] - mx);
    scores[p] = e;
    sum += e;
  }
  const float inv = 1.f / sum;
  std::fill(out, out + head_dim, 0.f);
  for (int p0 = 0; p0 < n_ctx; p0 += bt) {
    const float* v = kv.block_v(table[p0 / bt]) + kv_head * head_dim;
    const int n = std::min(bt, n_ctx - p0);
    for (int i = 0; i < n; ++i, v += kv_dim) vec_axpy_f32(scores[p0 + i] * inv, v, out, head_dim);
  }
}

}  // namespace

void attention(const KvCache& kv, int layer, const AttentionBatch& b, int n_heads, int n_kv_heads, int head_dim,
               ThreadPool& pool) {
  const int n_tokens = static_cast<int>(b.seq.size());
  const int group = n_heads / n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const int64_t items = static_cast<int64_t>(n_tokens) * n_heads;
  pool.run([&](int ti, int nt) {
    thread_local std::vector<float> scores;
    const int64_t begin = items * ti / nt, end = items * (ti + 1) / nt;
    for (int64_t it = begin; it < end; ++it) {
      const int t = static_cast<int>(it / n_heads), h = static_cast<int>(it % n_heads);
      attend_one(kv, layer, b.seq[t], b.n_ctx[t], b.q + t * b.ldq + h * head_dim, b.out + t * b.ldo + h * head_dim,
                 h / group, head_dim, scale, scores);
    }
  });
}

void attention_reference(KvCache& kv, int layer, const AttentionBatch& b, int n_heads, int n_kv_heads, int head_dim) {
  const int group = n_heads / n_kv_heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  for (size_t t = 0; t < b.seq.size(); ++t) {
    for (int h = 0; h < n_heads; ++h) {
      const float* q = b.q + t * b.ldq + h * head_dim;
      const int kvh = h / group, n = b.n_ctx[t];
      std::vector<double> s(n);
      double mx = -INFINITY;
      for (int p = 0; p < n; ++p) {
        const float* k = kv.k_row(b.seq[t], layer, p) + kvh * head_dim;
        double acc = 0;
        for (int i = 0; i < head_dim; ++i) acc += double(q[i]) * k[i];
        s[p] = acc * scale;
        mx = std::max(mx, s[p]);
      }
      double sum = 0;
      for (auto& x : s) sum += (x = std::exp(x - mx));
      for (int i = 0; i < head_dim; ++i) {
        double acc = 0;
        for (int p = 0; p < n; ++p) acc += s[p] / sum * kv.v_row(b.seq[t], layer, p)[kvh * head_dim + i];
        b.out[t * b.ldo + h * head_dim + i] = static_cast<float>(acc);
      }
    }
  }
}

}  // namespace first
