#include <algorithm>
#include <cmath>
#include <vector>

#include "first/ops.h"
#include "first/vec.h"

namespace first {

namespace {

constexpr int kTileTokens = 8;

// A tile: up to kTileTokens consecutive query tokens of one sequence and one
// query head. Each K and V row is read once per tile instead of once per token,
// which is what makes prefill attention cheap; decode tiles hold one token.
struct Tile {
  int t0, n;  // first token, token count
  int head;
};

void attend_tile(const KvCache& kv, int layer, const AttentionBatch& b, const Tile& tile, int kv_head, int head_dim,
                 float scale, std::vector<float>& scores) {
  const int seq = b.seq[tile.t0];
  const std::vector<int32_t>& table = kv.block_table(seq, layer);
  const int bt = kv.config().block_tokens;
  const int kv_dim = kv.config().kv_dim;
  int max_ctx = 0;
  for (int i = 0; i < tile.n; ++i) max_ctx = std::max(max_ctx, b.n_ctx[tile.t0 + i]);
  // With a window, the tile's earliest visible position; blocks before it are never read.
  int lo = max_ctx;
  for (int i = 0; i < tile.n; ++i) lo = std::min(lo, b.first_position(tile.t0 + i));
  const int p_start = lo / bt * bt;
  if (static_cast<int>(scores.size()) < tile.n * max_ctx) scores.resize(static_cast<size_t>(tile.n) * max_ctx);
  const float* q[kTileTokens];
  float* out[kTileTokens];
  int ctx[kTileTokens], first[kTileTokens];
  for (int i = 0; i < tile.n; ++i) {
    const int t = tile.t0 + i;
    q[i] = b.q + t * b.ldq + tile.head * head_dim;
    out[i] = b.out + t * b.ldo + tile.head * head_dim;
    ctx[i] = b.n_ctx[t];
    first[i] = b.first_position(t);
  }
  // Scores block by block: a K block stays in cache while every query of the
  // tile reads it, 8 rows per reduction.
  // Positions before a token's window get a score of -inf (weight 0) where
  // its tile reads them; a token without a window reads from position 0.
  for (int p0 = p_start; p0 < max_ctx; p0 += bt) {
    const float* k = kv.block_k(table[p0 / bt]) + kv_head * head_dim;
    for (int i = 0; i < tile.n; ++i) {
      const int m = std::min(bt, ctx[i] - p0);
      float* row = scores.data() + static_cast<size_t>(i) * max_ctx + p0;
      int r = 0;
      for (; r + 8 <= m; r += 8) vec_dot8_f32(q[i], k + static_cast<int64_t>(r) * kv_dim, kv_dim, head_dim, row + r);
      for (; r < m; ++r) row[r] = vec_dot_f32(q[i], k + static_cast<int64_t>(r) * kv_dim, head_dim);
      for (int p = p0; p < std::min(p0 + m, first[i]); ++p) row[p - p0] = -INFINITY;
    }
  }
  float inv[kTileTokens];
  for (int i = 0; i < tile.n; ++i) {
    float* row = scores.data() + static_cast<size_t>(i) * max_ctx + p_start;
    const int n = ctx[i] - p_start;
    float mx = -INFINITY;
    for (int p = 0; p < n; ++p) mx = std::max(mx, row[p]);
    inv[i] = 1.f / vec_exp_scaled_f32(row, n, scale, mx * scale);
    std::fill(out[i], out[i] + head_dim, 0.f);
  }
  for (int p0 = p_start; p0 < max_ctx; p0 += bt) {
    const float* v = kv.block_v(table[p0 / bt]) + kv_head * head_dim;
    for (int i = 0; i < tile.n; ++i) {
      const int m = std::min(bt, ctx[i] - p0);
      if (m > 0) vec_weighted_rows_f32(scores.data() + static_cast<size_t>(i) * max_ctx + p0, v, kv_dim, m, out[i], head_dim);
    }
  }
  for (int i = 0; i < tile.n; ++i)
    for (int c = 0; c < head_dim; ++c) out[i][c] *= inv[i];
}

}  // namespace

void attention(const KvCache& kv, int layer, const AttentionBatch& b, int n_heads, int n_kv_heads, int head_dim,
               ThreadPool& pool) {
  const int n_tokens = static_cast<int>(b.seq.size());
  const int group = n_heads / n_kv_heads;
  const float scale = b.score_scale(head_dim);
  // Tiles of consecutive tokens of the same sequence, times every head.
  thread_local std::vector<Tile> tiles;
  tiles.clear();
  for (int t = 0; t < n_tokens;) {
    int n = 1;
    while (n < kTileTokens && t + n < n_tokens && b.seq[t + n] == b.seq[t]) ++n;
    for (int h = 0; h < n_heads; ++h) tiles.push_back({t, n, h});
    t += n;
  }
  const int64_t items = static_cast<int64_t>(tiles.size());
  const std::vector<Tile>& all = tiles;
  pool.run([&](int ti, int nt) {
    thread_local std::vector<float> scores;
    const int64_t begin = items * ti / nt, end = items * (ti + 1) / nt;
    for (int64_t it = begin; it < end; ++it)
      attend_tile(kv, layer, b, all[it], all[it].head / group, head_dim, scale, scores);
  });
}

float AttentionBatch::score_scale(int head_dim) const {
  return scale > 0 ? scale : 1.0f / std::sqrt(static_cast<float>(head_dim));
}

void attention_reference(KvCache& kv, int layer, const AttentionBatch& b, int n_heads, int n_kv_heads, int head_dim) {
  const int group = n_heads / n_kv_heads;
  const double scale = b.score_scale(head_dim);
  for (size_t t = 0; t < b.seq.size(); ++t) {
    for (int h = 0; h < n_heads; ++h) {
      const float* q = b.q + t * b.ldq + h * head_dim;
      const int kvh = h / group, n = b.n_ctx[t], p0 = b.first_position(static_cast<int>(t));
      std::vector<double> s(n);
      double mx = -INFINITY;
      for (int p = 0; p < p0; ++p) s[p] = -INFINITY;
      for (int p = p0; p < n; ++p) {
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
