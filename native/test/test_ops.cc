// Element-wise ops and attention against plain double-precision references.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "first/kv_cache.h"
#include "first/ops.h"
#include "first/threadpool.h"
#include "first/vec.h"
#include "first/quant.h"
#include "harness.h"
#include "quant_testing.h"

using namespace first;

namespace {
std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Random K and V rows for positions [0, len) of each (sequence, len) at `layer`.
void fill_kv(KvCache& kv, int layer, std::initializer_list<std::pair<int, int>> seqs, uint32_t k_seed, uint32_t v_seed,
             float k_scale = 1.f) {
  for (auto [s, len] : seqs) {
    kv.reserve(s, layer, len, 0);
    for (int p = 0; p < len; ++p) {
      auto k = randn(kv.config().kv_dim, k_seed + s * 50 + p, k_scale), v = randn(kv.config().kv_dim, v_seed + s * 50 + p);
      std::copy(k.begin(), k.end(), kv.k_row(s, layer, p));
      std::copy(v.begin(), v.end(), kv.v_row(s, layer, p));
    }
  }
}

// attention() on 1..max_threads threads equals attention_reference for `b`'s queries.
void check_attention(KvCache& kv, int layer, AttentionBatch& b, int n_heads, int n_kv, int hd, int max_threads) {
  const int64_t n = static_cast<int64_t>(b.seq.size()) * b.ldq;
  std::vector<float> out(n), ref(n);
  b.out = ref.data();
  b.ldo = b.ldq;
  attention_reference(kv, layer, b, n_heads, n_kv, hd);
  for (int threads = 1; threads <= max_threads; ++threads) {
    ThreadPool pool(threads);
    b.out = out.data();
    attention(kv, layer, b, n_heads, n_kv, hd, pool);
    for (int64_t i = 0; i < n; ++i) CHECK_NEAR(out[i], ref[i], 1e-5) << "i=" << i << " threads=" << threads;
  }
}
}  // namespace

TEST(vec_primitives_match_scalar) {
  quant_testing::on_every_kernel_set([] {
  for (int n : {1, 7, 8, 15, 16, 17, 31, 33, 64, 65, 100, 577}) {
    auto a = randn(n, 1 + n), b = randn(n, 2 + n);
    double ref = 0, ss = 0;
    for (int i = 0; i < n; ++i) ref += double(a[i]) * b[i], ss += double(a[i]) * a[i];
    CHECK_NEAR(vec_dot_f32(a.data(), b.data(), n), ref, 1e-4 * (1 + std::fabs(ref)) + 1e-4) << "n=" << n << " isa=" << kernel_isa();
    CHECK_NEAR(vec_sumsq_f32(a.data(), n), ss, 1e-4 * ss + 1e-5) << "n=" << n << " isa=" << kernel_isa();
    auto y = b;
    vec_axpy_f32(0.5f, a.data(), y.data(), n);
    for (int i = 0; i < n; ++i) CHECK_NEAR(y[i], b[i] + 0.5 * a[i], 1e-5) << "isa=" << kernel_isa();
  }
  });
}

// Attention's row kernels (dispatched: the AVX2 path where the CPU has it, the
// scalar one under FIRST_FORCE_SCALAR) against double sums, odd sizes included.
TEST(attention_row_kernels_match_reference) {
  quant_testing::on_every_kernel_set([] {
  for (int n : {1, 7, 8, 15, 16, 17, 31, 33, 64, 65, 100, 130}) {
    const int ld = n + 5;
    auto q = randn(n, 11 + n), k = randn(8 * ld, 12 + n);
    float out[8];
    vec_dot8_f32(q.data(), k.data(), ld, n, out);
    for (int j = 0; j < 8; ++j) {
      double ref = 0;
      for (int i = 0; i < n; ++i) ref += double(q[i]) * k[j * ld + i];
      CHECK_NEAR(out[j], ref, 1e-4 * (1 + std::fabs(ref))) << "n=" << n << " row " << j << " isa=" << kernel_isa();
    }
    for (int rows : {1, 5, 16}) {
      auto w = randn(rows, 13 + n), x = randn(rows * ld, 14 + n), y = randn(n, 15 + n);
      auto z = y;
      vec_weighted_rows_f32(w.data(), x.data(), ld, rows, z.data(), n);
      for (int i = 0; i < n; ++i) {
        double ref = y[i];
        for (int r = 0; r < rows; ++r) ref += double(w[r]) * x[r * ld + i];
        CHECK_NEAR(z[i], ref, 1e-4 * (1 + std::fabs(ref))) << "n=" << n << " rows=" << rows << " col " << i << " isa=" << kernel_isa();
      }
    }
    auto s = randn(n, 16 + n, 4.f);
    float mx = -INFINITY;
    for (float v : s) mx = std::max(mx, v);
    auto e = s;
    const float scale = 0.37f;
    const double sum = vec_exp_scaled_f32(e.data(), n, scale, mx * scale);
    double ref_sum = 0;
    for (int i = 0; i < n; ++i) {
      const double ref = std::exp(double(s[i]) * scale - double(mx) * scale);
      ref_sum += ref;
      CHECK_NEAR(e[i], ref, 1e-6 * ref + 1e-30) << "n=" << n << " i=" << i << " isa=" << kernel_isa();
    }
    CHECK_NEAR(sum, ref_sum, 1e-5 * ref_sum) << "isa=" << kernel_isa();
  }
  });
}

TEST(rmsnorm_matches_reference) {
  const int rows = 3, d = 67;
  auto x = randn(rows * d, 3), w = randn(d, 4);
  std::vector<float> y(rows * d);
  rmsnorm(x.data(), w.data(), y.data(), rows, d, 1e-5f);
  for (int r = 0; r < rows; ++r) {
    double ss = 0;
    for (int i = 0; i < d; ++i) ss += double(x[r * d + i]) * x[r * d + i];
    double s = 1.0 / std::sqrt(ss / d + 1e-5);
    for (int i = 0; i < d; ++i) CHECK_NEAR(y[r * d + i], x[r * d + i] * s * w[i], 1e-5);
  }
}

TEST(rope_rotates_adjacent_pairs) {
  const int head_dim = 16, rope_dim = 12, heads = 3, pos = 37;
  const float base = 10000.f;
  Rope rope(head_dim, rope_dim, base, 1.f, {});
  auto x = randn(heads * head_dim, 5);
  std::vector<float> y(x.size());
  rope.apply_to(x.data(), y.data(), heads, pos);
  for (int h = 0; h < heads; ++h) {
    for (int i = 0; i < rope_dim / 2; ++i) {
      double theta = pos * std::pow(double(base), -2.0 * i / rope_dim);
      double a = x[h * head_dim + 2 * i], b = x[h * head_dim + 2 * i + 1];
      CHECK_NEAR(y[h * head_dim + 2 * i], a * std::cos(theta) - b * std::sin(theta), 1e-5);
      CHECK_NEAR(y[h * head_dim + 2 * i + 1], a * std::sin(theta) + b * std::cos(theta), 1e-5);
    }
    for (int i = rope_dim; i < head_dim; ++i) CHECK(y[h * head_dim + i] == x[h * head_dim + i]);
  }
  // Linear scaling divides the position; frequency factors divide the speed.
  Rope scaled(head_dim, rope_dim, base, 0.5f, std::vector<float>(rope_dim / 2, 2.f));
  std::vector<float> z(x.size());
  scaled.apply_to(x.data(), z.data(), heads, pos * 4);
  for (size_t i = 0; i < z.size(); ++i) CHECK_NEAR(z[i], y[i], 1e-4);
}

TEST(rope_half_split_rotates_dims_half_a_rope_apart) {
  const int head_dim = 16, rope_dim = 12, heads = 3, pos = 29, half = rope_dim / 2;
  const float base = 1e6f;
  Rope rope(head_dim, rope_dim, base, 1.f, {}, RopeStyle::HalfSplit);
  auto x = randn(heads * head_dim, 15);
  std::vector<float> y(x.size());
  rope.apply_to(x.data(), y.data(), heads, pos);
  for (int h = 0; h < heads; ++h) {
    const float* xh = x.data() + h * head_dim;
    const float* yh = y.data() + h * head_dim;
    for (int i = 0; i < half; ++i) {
      double theta = pos * std::pow(double(base), -2.0 * i / rope_dim);
      double a = xh[i], b = xh[i + half];
      CHECK_NEAR(yh[i], a * std::cos(theta) - b * std::sin(theta), 1e-5) << "h=" << h << " i=" << i;
      CHECK_NEAR(yh[i + half], a * std::sin(theta) + b * std::cos(theta), 1e-5) << "h=" << h << " i=" << i;
    }
    for (int i = rope_dim; i < head_dim; ++i) CHECK(yh[i] == xh[i]);
  }
  // Position -pos undoes it (the trainer's backward relies on that).
  std::vector<float> back(x.size());
  rope.apply_to(y.data(), back.data(), heads, -pos);
  for (size_t i = 0; i < x.size(); ++i) CHECK_NEAR(back[i], x[i], 1e-5);
}

TEST(gelu_tanh_mul_matches_formula_within_f16_rounding) {
  const int n = 101;
  auto g = randn(n, 16, 4.f), u = randn(n, 17);
  g[0] = -12.f, g[1] = 11.f, g[2] = 0.f;  // the ends, where it is 0 and the identity
  std::vector<float> o(n);
  gelu_tanh_mul(g.data(), u.data(), o.data(), n);
  for (int i = 0; i < n; ++i) {
    const double x = g[i];
    const double ref = 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))) * u[i];
    // f16 keeps 11 significant bits: up to 5e-4 relative on the output, and
    // on the input, which moves gelu by at most its slope (< 1.13) times that.
    CHECK_NEAR(o[i], ref, 1e-3 * std::fabs(ref) + 1e-3 * std::fabs(u[i] * x) + 1e-6) << "x=" << x;
  }
  CHECK(o[0] == 0.f);
  CHECK(o[1] == 11.f * u[1]);
}

TEST(silu_mul_matches_formula) {
  // Every kernel set against the formula in double, odd lengths for the tails,
  // and gates far out on both sides (exp(-g) overflows a float below -88).
  quant_testing::on_every_kernel_set([] {
    for (int n : {1, 7, 8, 15, 16, 17, 33, 100}) {
      auto g = randn(n, 6 + n, 3.f), u = randn(n, 7 + n);
      if (n >= 7) g[1] = 0.f, g[2] = -95.f, g[3] = 95.f, g[4] = -30.f, g[5] = 1e-6f, g[6] = -1e-6f;
      std::vector<float> o(n);
      silu_mul(g.data(), u.data(), o.data(), n);
      for (int i = 0; i < n; ++i) {
        const double ref = g[i] / (1 + std::exp(-double(g[i]))) * u[i];
        CHECK_NEAR(o[i], ref, 1e-6 * std::fabs(ref) + 1e-30) << "n=" << n << " g=" << g[i] << " isa=" << kernel_isa();
      }
    }
  });
}

TEST(attention_over_paged_blocks_matches_reference) {
  // Two sequences with different lengths, GQA 6 heads over 2 KV heads,
  // block size 4 so contexts span several blocks (and a partial one).
  const int n_heads = 6, n_kv = 2, hd = 8, layer = 1;
  KvCacheConfig cfg;
  cfg.n_layers = 2;
  cfg.kv_dim = n_kv * hd;
  cfg.block_tokens = 4;
  cfg.max_blocks = 64;
  KvCache kv(cfg);
  const int s0 = kv.create_sequence(), s1 = kv.create_sequence();
  const int len0 = 11, len1 = 5;
  fill_kv(kv, layer, {{s0, len0}, {s1, len1}}, 100, 900);
  // Queries: the last 3 positions of s0 (causal: n_ctx 9, 10, 11) and 1 of s1.
  const int n_tok = 4, qd = n_heads * hd;
  auto q = randn(n_tok * qd, 42);
  AttentionBatch b;
  b.q = q.data();
  b.ldq = qd;
  b.seq = {s0, s0, s0, s1};
  b.n_ctx = {9, 10, 11, 5};
  check_attention(kv, layer, b, n_heads, n_kv, hd, 3);
}

TEST(attention_prefill_shape_matches_reference) {
  // The model's shape (head_dim 64, 16-position blocks): a prompt of 45
  // tokens attending causally (tiles of 8 queries, 8 keys per reduction and
  // the remainders), plus a decode-like row of another sequence.
  const int n_heads = 6, n_kv = 2, hd = 64, layer = 0;
  KvCacheConfig cfg;
  cfg.n_layers = 1;
  cfg.kv_dim = n_kv * hd;
  cfg.block_tokens = 16;
  cfg.max_blocks = 16;
  KvCache kv(cfg);
  const int s0 = kv.create_sequence(), s1 = kv.create_sequence();
  const int len0 = 45, len1 = 19;
  fill_kv(kv, layer, {{s0, len0}, {s1, len1}}, 300, 700, 2.f);
  const int qd = n_heads * hd;
  AttentionBatch b;
  for (int p = 0; p < len0; ++p) b.seq.push_back(s0), b.n_ctx.push_back(p + 1);
  b.seq.push_back(s1), b.n_ctx.push_back(len1);
  const int n_tok = static_cast<int>(b.seq.size());
  auto q = randn(n_tok * qd, 43);
  b.q = q.data();
  b.ldq = qd;
  check_attention(kv, layer, b, n_heads, n_kv, hd, 2);
}

TEST(attention_sliding_window_and_scale_match_reference) {
  // Windows shorter than, equal to and longer than the context, over 4-token
  // blocks (the window's start falls inside blocks), prefill and decode rows,
  // with a query scale other than 1/sqrt(head_dim).
  const int n_heads = 4, n_kv = 2, hd = 16, layer = 0;
  KvCacheConfig cfg;
  cfg.n_layers = 1;
  cfg.kv_dim = n_kv * hd;
  cfg.block_tokens = 4;
  cfg.max_blocks = 32;
  KvCache kv(cfg);
  const int s0 = kv.create_sequence(), s1 = kv.create_sequence();
  const int len0 = 23, len1 = 9;
  fill_kv(kv, layer, {{s0, len0}, {s1, len1}}, 500, 600, 1.5f);
  const int qd = n_heads * hd;
  for (int window : {1, 5, 8, 23, 40}) {
    AttentionBatch b;
    for (int p = 0; p < len0; ++p) b.seq.push_back(s0), b.n_ctx.push_back(p + 1);
    b.seq.push_back(s1), b.n_ctx.push_back(len1);
    auto q = randn(b.seq.size() * qd, 44 + window);
    b.q = q.data();
    b.ldq = qd;
    b.window = window;
    b.scale = 0.3f;
    check_attention(kv, layer, b, n_heads, n_kv, hd, 2);
  }
  // A window of w equals full attention over a cache holding only the last w positions.
  const int w = 6;
  KvCache last(cfg);
  const int t0 = last.create_sequence();
  last.reserve(t0, layer, w, 0);
  for (int p = 0; p < w; ++p) {
    std::copy(kv.k_row(s0, layer, len0 - w + p), kv.k_row(s0, layer, len0 - w + p) + cfg.kv_dim, last.k_row(t0, layer, p));
    std::copy(kv.v_row(s0, layer, len0 - w + p), kv.v_row(s0, layer, len0 - w + p) + cfg.kv_dim, last.v_row(t0, layer, p));
  }
  auto q = randn(qd, 77);
  std::vector<float> windowed(qd), plain(qd);
  ThreadPool pool(2);
  AttentionBatch a;
  a.q = q.data(), a.ldq = qd, a.out = windowed.data(), a.ldo = qd, a.seq = {s0}, a.n_ctx = {len0}, a.window = w;
  attention(kv, layer, a, n_heads, n_kv, hd, pool);
  AttentionBatch f = a;
  f.out = plain.data(), f.seq = {t0}, f.n_ctx = {w}, f.window = 0;
  attention(last, layer, f, n_heads, n_kv, hd, pool);
  for (int i = 0; i < qd; ++i) CHECK_NEAR(windowed[i], plain[i], 1e-5) << "i=" << i;
}

TEST(threadpool_covers_range_once) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int n : {0, 1, 5, 64, 1001}) {
      std::vector<int> hits(n, 0);
      for (int rep = 0; rep < 50; ++rep)
        pool.parallel_for(n, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) hits[i]++;
        }, 4);
      for (int i = 0; i < n; ++i) CHECK(hits[i] == 50) << "n=" << n << " i=" << i;
    }
  }
}
