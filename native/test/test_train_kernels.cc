// Backward kernels of the trainer against central finite differences of
// plain double-precision reference forwards, at odd sizes.
#include <cmath>
#include <vector>

#include "first/lora.h"
#include "first/matmul.h"
#include "first/ops.h"
#include "first/quant.h"
#include "first/train.h"
#include "first/vec.h"
#include "harness.h"
#include "train_testing.h"

using namespace first;
using namespace train_testing;

namespace {

// sum(G * Y) for a fixed random G turns a vector output into a scalar loss.
double weighted(const std::vector<double>& y, const std::vector<float>& g) {
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += y[i] * g[i];
  return s;
}

std::vector<double> rmsnorm_ref(const std::vector<double>& x, const std::vector<float>& w, int rows, int d, double eps) {
  std::vector<double> y(x.size());
  for (int r = 0; r < rows; ++r) {
    double ss = 0;
    for (int i = 0; i < d; ++i) ss += x[r * d + i] * x[r * d + i];
    const double s = 1.0 / std::sqrt(ss / d + eps);
    for (int i = 0; i < d; ++i) y[r * d + i] = x[r * d + i] * s * w[i];
  }
  return y;
}

}  // namespace

TEST(train_gemm_matches_double_reference) {
  ThreadPool pool(2);
  const bool has_avx2 = best_kernel_set() >= KernelSet::Avx2, has_avx512 = best_kernel_set() == KernelSet::Avx512;
  for (auto shape : {std::vector<int>{1, 1, 1}, {7, 13, 5}, {13, 40, 33}, {50, 17, 9}, {6, 32, 64}, {200, 8, 3},
                     {17, 100, 13}, {9, 33, 1}, {5, 65, 17}}) {
    const int M = shape[0], N = shape[1], K = shape[2];
    auto A = randn(M * (K + 2), 1), B = randn(K * (N + 3), 2), C0 = randn(M * (N + 1), 3);
    for (int path = 0; path < 4; ++path) {
      if ((path == 1 && !has_avx2) || (path == 3 && !has_avx512)) continue;
      auto C = C0;
      if (path == 0) scalar::gemm_nn(M, N, K, 0.5f, A.data(), K + 2, B.data(), N + 3, C.data(), N + 1);
      if (path == 1) avx2::gemm_nn(M, N, K, 0.5f, A.data(), K + 2, B.data(), N + 3, C.data(), N + 1);
      if (path == 2) gemm_nn(M, N, K, 0.5f, A.data(), K + 2, B.data(), N + 3, C.data(), N + 1, &pool);
      if (path == 3) avx512::gemm_nn(M, N, K, 0.5f, A.data(), K + 2, B.data(), N + 3, C.data(), N + 1);
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) {
          double s = C0[i * (N + 1) + j];
          for (int p = 0; p < K; ++p) s += 0.5 * A[i * (K + 2) + p] * B[p * (N + 3) + j];
          CHECK_NEAR(C[i * (N + 1) + j], s, 1e-4 * (1 + std::fabs(s))) << "path " << path << " M" << M << " N" << N;
        }
    }
  }
}

TEST(train_matmul_input_grad_vs_finite_differences) {
  ThreadPool pool(2);
  const TensorType types[] = {TensorType::F32, TensorType::F16, TensorType::Q4_1, TensorType::Q8_0, TensorType::Q4_K};
  for (TensorType t : types) {
    const int64_t blk = type_info(uint32_t(t))->block_size;
    const int64_t cols = blk == 1 ? 37 : blk * (blk == 256 ? 1 : 3), rows = 131, M = 5;
    auto wf = randn(rows * cols, 7, 0.1f);
    const size_t rb = row_bytes(t, cols);
    std::vector<uint8_t> wq(rb * rows);
    for (int64_t r = 0; r < rows; ++r) quantize_row(t, wf.data() + r * cols, wq.data() + r * rb, cols);
    std::vector<float> wd(rows * cols);
    for (int64_t r = 0; r < rows; ++r) dequantize_row(t, wq.data() + r * rb, wd.data() + r * cols, cols);
    WeightView W{t, rows, cols, wq.data(), rb};
    auto x = randn(M * cols, 8), g = randn(M * rows, 9);
    std::vector<float> dx(M * cols, 3.f);
    matmul_input_grad(W, g.data(), M, rows, dx.data(), cols, false, pool);
    // Forward reference: Y = X W^T with the dequantized weight, in double.
    auto f = [&](const std::vector<double>& xv) {
      double s = 0;
      for (int64_t m = 0; m < M; ++m)
        for (int64_t r = 0; r < rows; ++r) {
          double y = 0;
          for (int64_t i = 0; i < cols; ++i) y += xv[m * cols + i] * wd[r * cols + i];
          s += y * g[m * rows + r];
        }
      return s;
    };
    const std::string label = std::string("matmul_input_grad ") + type_info(uint32_t(t))->name;
    fd_check(label.c_str(), to_double(x), f, [&](size_t i) { return dx[i]; }, some_coords(x.size(), 60, 3), 1e-3, 1e-2,
             1e-4);
    // accumulate adds on top.
    auto dx2 = dx;
    matmul_input_grad(W, g.data(), M, rows, dx2.data(), cols, true, pool);
    for (size_t i = 0; i < dx.size(); ++i) CHECK_NEAR(dx2[i], 2 * dx[i], 1e-5 * (1 + std::fabs(dx[i])));
  }
}

TEST(train_rmsnorm_backward_vs_finite_differences) {
  const int rows = 3, d = 37;
  const double eps = 1e-5;
  auto x = randn(rows * d, 11), w = randn(d, 12), g = randn(rows * d, 13);
  std::vector<float> dx(rows * d);
  rmsnorm_backward(x.data(), w.data(), g.data(), dx.data(), rows, d, float(eps), false);
  fd_check("rmsnorm_backward", to_double(x), [&](const std::vector<double>& xv) {
    return weighted(rmsnorm_ref(xv, w, rows, d, eps), g);
  }, [&](size_t i) { return dx[i]; }, all_coords(x.size()), 1e-5, 1e-3, 1e-3);
}

TEST(train_rope_backward_vs_finite_differences) {
  const int head_dim = 10, rope_dim = 6, heads = 3, pos = 23;
  const double base = 1000.0;
  Rope rope(head_dim, rope_dim, float(base), 1.f, {});
  auto x = randn(heads * head_dim, 14), g = randn(heads * head_dim, 15);
  auto dx = g;
  rope_backward(rope, dx.data(), heads, pos);
  auto f = [&](const std::vector<double>& xv) {
    std::vector<double> y = xv;
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < rope_dim / 2; ++i) {
        const double th = pos * std::pow(base, -2.0 * i / rope_dim);
        const double a = xv[h * head_dim + 2 * i], b = xv[h * head_dim + 2 * i + 1];
        y[h * head_dim + 2 * i] = a * std::cos(th) - b * std::sin(th);
        y[h * head_dim + 2 * i + 1] = a * std::sin(th) + b * std::cos(th);
      }
    return weighted(y, g);
  };
  fd_check("rope_backward", to_double(x), f, [&](size_t i) { return dx[i]; }, all_coords(x.size()), 1e-5, 1e-3, 1e-4);
}

TEST(train_silu_mul_backward_vs_finite_differences) {
  const int n = 41;
  auto gate = randn(n, 16, 2.f), up = randn(n, 17), g = randn(n, 18);
  std::vector<float> dgate(n), dup(n);
  silu_mul_backward(gate.data(), up.data(), g.data(), dgate.data(), dup.data(), n);
  std::vector<double> x(2 * n);
  for (int i = 0; i < n; ++i) x[i] = gate[i], x[n + i] = up[i];
  auto f = [&](const std::vector<double>& v) {
    double s = 0;
    for (int i = 0; i < n; ++i) s += v[i] / (1 + std::exp(-v[i])) * v[n + i] * g[i];
    return s;
  };
  fd_check("silu_mul_backward", x, f, [&](size_t i) { return i < size_t(n) ? dgate[i] : dup[i - n]; },
           all_coords(2 * n), 1e-5, 1e-3, 1e-3);
}

TEST(train_dense_attention_vs_reference_and_finite_differences) {
  ThreadPool pool(2);
  const DenseAttentionShape sh{6, 2, 6};
  const int qd = 36, kvd = 12;
  const std::vector<SeqRows> seqs = {{0, 5}, {5, 1}, {6, 7}};
  const int rows = 13;
  auto q = randn(rows * qd, 19), k = randn(rows * kvd, 20), v = randn(rows * kvd, 21), g = randn(rows * qd, 22);
  // Reference forward over x = [q | k | v] in double.
  auto forward = [&](const std::vector<double>& x) {
    const double* Q = x.data();
    const double* K = Q + rows * qd;
    const double* Vv = K + rows * kvd;
    std::vector<double> out(rows * qd, 0.0);
    const double scale = 1 / std::sqrt(double(sh.head_dim));
    for (const SeqRows& s : seqs)
      for (int h = 0; h < sh.n_heads; ++h) {
        const int kh = h / (sh.n_heads / sh.n_kv_heads);
        for (int i = 0; i < s.n; ++i) {
          std::vector<double> p(i + 1);
          double mx = -1e300, sum = 0;
          for (int j = 0; j <= i; ++j) {
            double d = 0;
            for (int e = 0; e < sh.head_dim; ++e)
              d += Q[(s.row0 + i) * qd + h * sh.head_dim + e] * K[(s.row0 + j) * kvd + kh * sh.head_dim + e];
            p[j] = d * scale;
            mx = std::max(mx, p[j]);
          }
          for (auto& e : p) sum += (e = std::exp(e - mx));
          for (int j = 0; j <= i; ++j)
            for (int e = 0; e < sh.head_dim; ++e)
              out[(s.row0 + i) * qd + h * sh.head_dim + e] += p[j] / sum * Vv[(s.row0 + j) * kvd + kh * sh.head_dim + e];
        }
      }
    return out;
  };
  std::vector<double> x;
  for (auto* part : {&q, &k, &v}) x.insert(x.end(), part->begin(), part->end());
  std::vector<float> out(rows * qd);
  dense_attention_forward(sh, seqs, q.data(), k.data(), v.data(), out.data(), pool);
  auto ref = forward(x);
  double worst = 0;
  for (size_t i = 0; i < out.size(); ++i) worst = std::fmax(worst, std::fabs(out[i] - ref[i]));
  CHECK(worst < 1e-5) << "forward differs from the reference by " << worst;

  std::vector<float> dq(rows * qd), dk(rows * kvd, 9.f), dv(rows * kvd, 9.f);
  dense_attention_backward(sh, seqs, q.data(), k.data(), v.data(), g.data(), dq.data(), dk.data(), dv.data(), pool);
  auto analytic = [&](size_t i) -> double {
    if (i < dq.size()) return dq[i];
    i -= dq.size();
    if (i < dk.size()) return dk[i];
    return dv[i - dk.size()];
  };
  fd_check("dense_attention_backward", x, [&](const std::vector<double>& xv) { return weighted(forward(xv), g); },
           analytic, all_coords(x.size()), 1e-5, 1e-3, 1e-3);
}

// An adapter with random A [rank x in] and B [out x rank] (seeds seed, seed + 1).
static LoraAdapter random_adapter(int rank, int in, int out, float scale, uint32_t seed) {
  LoraAdapter a;
  a.rank = rank;
  a.in = in;
  a.out = out;
  a.scale = scale;
  a.A = randn(rank * in, seed);
  a.B = randn(out * rank, seed + 1);
  return a;
}

TEST(train_lora_backward_vs_finite_differences) {
  ThreadPool pool(2);
  LoraAdapter a = random_adapter(3, 19, 11, 0.7f, 23);
  const int M = 9;
  auto X = randn(M * a.in, 25), G = randn(M * a.out, 26), Y0 = randn(M * a.out, 27);
  std::vector<float> Y = Y0, t(M * a.rank);
  lora_forward(a, X.data(), M, a.in, Y.data(), a.out, t.data(), pool);
  std::vector<float> dA(a.A.size(), 0.f), dB(a.B.size(), 0.f), dX(X.size(), 0.f);
  lora_backward(a, X.data(), a.in, t.data(), G.data(), a.out, M, dA.data(), dB.data(), dX.data(), a.in, pool);
  // x = [A | B | X]; forward y = scale * B A x in double.
  const size_t nA = a.A.size(), nB = a.B.size();
  auto forward = [&](const std::vector<double>& v) {
    std::vector<double> y(M * a.out, 0.0);
    for (int m = 0; m < M; ++m)
      for (int r = 0; r < a.rank; ++r) {
        double tr = 0;
        for (int i = 0; i < a.in; ++i) tr += v[r * a.in + i] * v[nA + nB + m * a.in + i];
        for (int o = 0; o < a.out; ++o) y[m * a.out + o] += a.scale * v[nA + o * a.rank + r] * tr;
      }
    return y;
  };
  std::vector<double> x;
  for (auto* part : {&a.A, &a.B, &X}) x.insert(x.end(), part->begin(), part->end());
  auto ref = forward(x);
  for (size_t i = 0; i < Y.size(); ++i) CHECK_NEAR(Y[i] - Y0[i], ref[i], 1e-4);
  fd_check("lora_backward (A, B, X)", x, [&](const std::vector<double>& v) { return weighted(forward(v), G); },
           [&](size_t i) -> double { return i < nA ? dA[i] : i < nA + nB ? dB[i - nA] : dX[i - nA - nB]; },
           all_coords(x.size()), 1e-5, 1e-3, 1e-3);
}

TEST(lora_forward_row_and_gemm_paths_vs_reference) {
  // Few rows take the dot path, many rows the GEMM.
  ThreadPool pool(2);
  LoraAdapter a = random_adapter(5, 37, 29, 1.3f, 31);
  for (int64_t M : {int64_t{1}, int64_t{3}, kLoraFewRows - 1, kLoraFewRows, int64_t{40}}) {
    auto X = randn(M * a.in, 33 + M), Y0 = randn(M * a.out, 34 + M);
    std::vector<float> Y = Y0, t(M * a.rank);
    lora_forward(a, X.data(), M, a.in, Y.data(), a.out, t.data(), pool);
    for (int64_t m = 0; m < M; ++m)
      for (int64_t o = 0; o < a.out; ++o) {
        double y = 0;
        for (int k = 0; k < a.rank; ++k) {
          double tk = 0;
          for (int64_t i = 0; i < a.in; ++i) tk += double(a.A[k * a.in + i]) * X[m * a.in + i];
          if (o == 0) CHECK_NEAR(t[m * a.rank + k], tk, 1e-4);
          y += a.scale * double(a.B[o * a.rank + k]) * tk;
        }
        CHECK_NEAR(Y[m * a.out + o] - Y0[m * a.out + o], y, 1e-4);
      }
  }
}

TEST(train_chunked_cross_entropy_vs_full_vocab) {
  ThreadPool pool(2);
  const int d = 32, V = 101, rows = 6;
  for (TensorType t : {TensorType::F32, TensorType::Q8_0}) {
    const size_t rb = row_bytes(t, d);
    auto wf = randn(V * d, 30, 0.5f);
    std::vector<uint8_t> wq(rb * V);
    for (int r = 0; r < V; ++r) quantize_row(t, wf.data() + r * d, wq.data() + r * rb, d);
    WeightView W{t, V, d, wq.data(), rb};
    auto h = randn(rows * d, 31), wn = randn(d, 32, 0.3f);
    for (auto& e : wn) e += 1.f;
    std::vector<int32_t> tgt = {0, 100, 50, 7, 7, 99};
    // Unequal row weights, as per-sequence averaging gives (two sequences of 2 and 4 target rows).
    const std::vector<float> wt = {0.25f, 0.25f, 0.125f, 0.125f, 0.125f, 0.125f};
    const float eps = 1e-5f;
    // Plain full-vocabulary CE on the same quantized matmul's logits.
    std::vector<float> xn(rows * d), logits(rows * V);
    rmsnorm(h.data(), wn.data(), xn.data(), rows, d, eps);
    MatmulScratch mm;
    matmul(W, xn.data(), rows, d, logits.data(), V, false, pool, mm);
    double full = 0;
    for (int r = 0; r < rows; ++r) {
      double mx = -1e300, s = 0;
      for (int j = 0; j < V; ++j) mx = std::max(mx, double(logits[r * V + j]));
      for (int j = 0; j < V; ++j) s += std::exp(logits[r * V + j] - mx);
      full += wt[r] * (mx + std::log(s) - logits[r * V + tgt[r]]);
    }
    std::vector<float> dh_full;
    for (int chunk : {7, 32, V, 4096}) {
      CrossEntropyScratch sc;
      std::vector<float> dh(rows * d);
      const double loss = chunked_cross_entropy(W, wn.data(), eps, h.data(), rows, tgt.data(), wt.data(), dh.data(),
                                                chunk, pool, sc);
      CHECK_NEAR(loss, full, 1e-4 * std::fabs(full)) << "chunk " << chunk;
      if (dh_full.empty()) dh_full = dh;
      for (size_t i = 0; i < dh.size(); ++i) CHECK_NEAR(dh[i], dh_full[i], 1e-5) << "chunk " << chunk;
    }
    if (t != TensorType::F32) continue;
    // With f32 weights the forward is smooth: difference a double reference.
    auto f = [&](const std::vector<double>& hv) {
      auto x = rmsnorm_ref(hv, wn, rows, d, eps);
      double loss = 0;
      for (int r = 0; r < rows; ++r) {
        std::vector<double> l(V);
        double mx = -1e300, s = 0;
        for (int j = 0; j < V; ++j) {
          double z = 0;
          for (int i = 0; i < d; ++i) z += x[r * d + i] * wf[j * d + i];
          l[j] = z;
          mx = std::max(mx, z);
        }
        for (int j = 0; j < V; ++j) s += std::exp(l[j] - mx);
        loss += wt[r] * (mx + std::log(s) - l[tgt[r]]);
      }
      return loss;
    };
    fd_check("chunked_cross_entropy dh", to_double(h), f, [&](size_t i) { return dh_full[i]; }, all_coords(h.size()),
             1e-5, 1e-3, 1e-3);
  }
}
