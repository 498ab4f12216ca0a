// Causal grouped-query attention over each training sequence's own rows
// (row i sees rows [first(i), i], first(i) = max(0, i + 1 - window) with a window).
// The forward pass follows the inference kernel (src/cpu/attention.cc) step
// for step, so a training forward gives the numbers inference gives. The
// backward pass recomputes each query row's attention weights instead of
// storing them (memory stays linear in the sequence length):
//   dP = dO V^T,  dS = P * (dP - sum(P * dP)),  dQ = scale dS K,
//   dK = scale dS^T Q,  dV = P^T dO.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "first/train.h"
#include "first/vec.h"

namespace first {

namespace {

// Softmax weights of query q over keys [0, n) (rows kv_dim apart), into p.
void attention_weights(const float* q, const float* k, int64_t kv_dim, int n, int head_dim, float scale, float* p) {
  float mx = -INFINITY;
  for (int j = 0; j < n; ++j) {
    const float s = vec_dot_f32(q, k + j * kv_dim, head_dim) * scale;
    p[j] = s;
    mx = std::max(mx, s);
  }
  float sum = 0.f;
  for (int j = 0; j < n; ++j) {
    const float e = std::exp(p[j] - mx);
    p[j] = e;
    sum += e;
  }
  const float inv = 1.f / sum;
  for (int j = 0; j < n; ++j) p[j] *= inv;
}

// Runs fn(unit) for units [0, n) on all threads, handing them out one by one
// (sequences differ in length, so a static split would be uneven).
template <typename F>
void for_each_unit(ThreadPool& pool, int64_t n, const F& fn) {
  std::atomic<int64_t> next{0};
  pool.run([&](int, int) {
    for (int64_t u = next.fetch_add(1); u < n; u = next.fetch_add(1)) fn(u);
  });
}

float score_scale(const DenseAttentionShape& s) {
  return s.scale > 0 ? s.scale : 1.0f / std::sqrt(static_cast<float>(s.head_dim));
}
int first_row(const DenseAttentionShape& s, int i) { return s.window > 0 && i + 1 > s.window ? i + 1 - s.window : 0; }

}  // namespace

void dense_attention_forward(const DenseAttentionShape& s, const std::vector<SeqRows>& seqs, const float* q,
                             const float* k, const float* v, float* out, ThreadPool& pool) {
  const int hd = s.head_dim, group = s.n_heads / s.n_kv_heads;
  const int64_t qd = int64_t(s.n_heads) * hd, kvd = int64_t(s.n_kv_heads) * hd;
  const float scale = score_scale(s);
  for_each_unit(pool, int64_t(seqs.size()) * s.n_heads, [&](int64_t unit) {
    thread_local std::vector<float> p;
    const SeqRows& sq = seqs[unit / s.n_heads];
    const int h = static_cast<int>(unit % s.n_heads), kvh = h / group;
    if (static_cast<int>(p.size()) < sq.n) p.resize(sq.n);
    const float* kb = k + sq.row0 * kvd + kvh * hd;
    const float* vb = v + sq.row0 * kvd + kvh * hd;
    for (int i = 0; i < sq.n; ++i) {
      const int64_t row = sq.row0 + i;
      const int j0 = first_row(s, i);
      attention_weights(q + row * qd + h * hd, kb + j0 * kvd, kvd, i + 1 - j0, hd, scale, p.data());
      float* o = out + row * qd + h * hd;
      std::fill(o, o + hd, 0.f);
      for (int j = j0; j <= i; ++j) vec_axpy_f32(p[j - j0], vb + j * kvd, o, hd);
    }
  });
}

void dense_attention_backward(const DenseAttentionShape& s, const std::vector<SeqRows>& seqs, const float* q,
                              const float* k, const float* v, const float* dout, float* dq, float* dk, float* dv,
                              ThreadPool& pool) {
  const int hd = s.head_dim, group = s.n_heads / s.n_kv_heads;
  const int64_t qd = int64_t(s.n_heads) * hd, kvd = int64_t(s.n_kv_heads) * hd;
  const float scale = score_scale(s);
  // One unit per (sequence, kv head): it owns that slice of dk and dv.
  for_each_unit(pool, int64_t(seqs.size()) * s.n_kv_heads, [&](int64_t unit) {
    thread_local std::vector<float> p, ds;
    const SeqRows& sq = seqs[unit / s.n_kv_heads];
    const int kvh = static_cast<int>(unit % s.n_kv_heads);
    if (static_cast<int>(p.size()) < sq.n) p.resize(sq.n), ds.resize(sq.n);
    const float* kb = k + sq.row0 * kvd + kvh * hd;
    const float* vb = v + sq.row0 * kvd + kvh * hd;
    float* dkb = dk + sq.row0 * kvd + kvh * hd;
    float* dvb = dv + sq.row0 * kvd + kvh * hd;
    for (int j = 0; j < sq.n; ++j) {
      std::fill(dkb + j * kvd, dkb + j * kvd + hd, 0.f);
      std::fill(dvb + j * kvd, dvb + j * kvd + hd, 0.f);
    }
    for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
      for (int i = 0; i < sq.n; ++i) {
        const int64_t row = sq.row0 + i;
        const float* qi = q + row * qd + h * hd;
        const float* doi = dout + row * qd + h * hd;
        const int j0 = first_row(s, i);
        attention_weights(qi, kb + j0 * kvd, kvd, i + 1 - j0, hd, scale, p.data());
        float dsum = 0.f;
        for (int j = j0; j <= i; ++j) {
          ds[j - j0] = vec_dot_f32(doi, vb + j * kvd, hd);
          dsum += p[j - j0] * ds[j - j0];
        }
        float* dqi = dq + row * qd + h * hd;
        std::fill(dqi, dqi + hd, 0.f);
        for (int j = j0; j <= i; ++j) {
          const float pj = p[j - j0];
          const float g = pj * (ds[j - j0] - dsum) * scale;
          vec_axpy_f32(g, kb + j * kvd, dqi, hd);
          vec_axpy_f32(g, qi, dkb + j * kvd, hd);
          vec_axpy_f32(pj, doi, dvb + j * kvd, hd);
        }
      }
    }
  });
}

}  // namespace first
