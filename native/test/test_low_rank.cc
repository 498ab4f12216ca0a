// The f16 low-rank term (LoRA's decode form): its kernels against a plain
// double product of the f16-rounded factors, and matmul with the term fused
// against matmul followed by the term, on odd sizes, both kernel sets and
// one and two threads.
#include <cmath>
#include <vector>

#include "first/error.h"
#include "first/low_rank.h"
#include "first/matmul.h"
#include "first/quant.h"
#include "harness.h"
#include "quant_testing.h"

using namespace first;
using namespace quant_testing;

namespace {

struct Factors {
  int rank;
  int64_t in, out;
  float scale;
  std::vector<float> A, B;  // f32, rank x in and out x rank
};

Factors random_factors(int rank, int64_t in, int64_t out, float scale, uint32_t seed) {
  return {rank, in, out, scale, random_floats(rank * in, seed, 0.2f), random_floats(out * rank, seed + 1, 0.2f)};
}

double f16r(float v) { return f16_to_f32(f32_to_f16(v)); }

// y = scale * B (A x) in double over the f16-rounded factors.
std::vector<double> reference(const Factors& f, const float* x) {
  std::vector<double> t(f.rank, 0.0), y(f.out, 0.0);
  for (int k = 0; k < f.rank; ++k)
    for (int64_t i = 0; i < f.in; ++i) t[k] += f16r(f.A[k * f.in + i]) * x[i];
  for (int64_t o = 0; o < f.out; ++o)
    for (int k = 0; k < f.rank; ++k) y[o] += f.scale * f16r(f.B[o * f.rank + k]) * t[k];
  return y;
}

WeightView view_of(TensorType t, int64_t rows, int64_t cols, const std::vector<uint8_t>& data) {
  return WeightView{t, rows, cols, data.data(), row_bytes(t, cols)};
}

}  // namespace

TEST(low_rank_kernels_match_double_reference) {
  for (KernelSet set : kernel_sets_here()) {
    set_kernel_limit(set);
    for (int rank : {1, 3, 16}) {
      for (int64_t out : {int64_t{1}, int64_t{7}, int64_t{8}, int64_t{29}, int64_t{192}}) {
        const int64_t in = 37 + rank;
        Factors f = random_factors(rank, in, out, 1.7f, 10 + rank + static_cast<uint32_t>(out));
        LowRank lr = make_low_rank(rank, in, out, f.scale, f.A.data(), f.B.data());
        auto x = random_floats(in, 99);
        const auto want = reference(f, x.data());
        std::vector<float> t(rank), ts(rank);
        low_rank_project(lr, x.data(), t.data());
        scalar::low_rank_project(lr, x.data(), ts.data());
        // Expand over two ranges that split at an odd place, onto a non-zero y.
        auto y0 = random_floats(out, 5);
        std::vector<float> y = y0, ys = y0;
        const int64_t cut = out / 3 + 1 > out ? out : out / 3 + 1;
        low_rank_expand(lr, t.data(), y.data(), 0, cut);
        low_rank_expand(lr, t.data(), y.data(), cut, out);
        scalar::low_rank_expand(lr, ts.data(), ys.data(), 0, out);
        for (int64_t o = 0; o < out; ++o) {
          CHECK_NEAR(y[o] - y0[o], want[o], 1e-4 * (1 + std::fabs(want[o]))) << "rank=" << rank << " out=" << out << " o=" << o
                                                                              << " isa=" << kernel_isa();
          CHECK_NEAR(y[o], ys[o], 1e-5 * (1 + std::fabs(ys[o]))) << "fast vs scalar rank=" << rank << " out=" << out;
        }
      }
    }
  }
  set_kernel_limit(KernelSet::Avx512);
}

TEST(matmul_with_fused_low_rank_equals_matmul_then_term) {
  // The fused term adds exactly what low_rank_project + low_rank_expand add
  // after a plain matmul, for every thread split of the output rows.
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    MatmulScratch scratch;
    for (KernelSet set : kernel_sets_here()) {
      set_kernel_limit(set);
      const int64_t cols = 96;
      const TensorType types[] = {TensorType::Q4_1, TensorType::Q8_0, TensorType::F16};
      const int64_t rows[] = {37, 64, 13};
      std::vector<std::vector<uint8_t>> data;
      std::vector<WeightView> views;
      std::vector<LowRank> terms;
      for (int i = 0; i < 3; ++i) {
        data.push_back(make_weights(types[i], rows[i], cols, 700 + i));
        views.push_back(view_of(types[i], rows[i], cols, data[i]));
        Factors f = random_factors(4 + i, cols, rows[i], 0.5f, 800 + i);
        terms.push_back(make_low_rank(f.rank, cols, rows[i], f.scale, f.A.data(), f.B.data()));
      }
      for (int64_t M : {int64_t{1}, int64_t{2}, kLowRankMaxRows}) {
        auto X = random_floats(M * cols, 900 + static_cast<uint32_t>(M));
        std::vector<const WeightView*> ws;
        std::vector<float*> ys;
        std::vector<int64_t> ldys;
        std::vector<const LowRank*> lrs;
        std::vector<std::vector<float>> fused(3), plain(3);
        for (int i = 0; i < 3; ++i) {
          fused[i].assign(M * rows[i], 0.f);
          plain[i].assign(M * rows[i], 0.f);
          ws.push_back(&views[i]);
          ys.push_back(fused[i].data());
          ldys.push_back(rows[i]);
          lrs.push_back(i == 1 ? nullptr : &terms[i]);  // a weight without a term in the same call
        }
        matmul_multi(ws, X.data(), M, cols, ys, ldys, pool, scratch, &lrs);
        for (int i = 0; i < 3; ++i) {
          matmul(views[i], X.data(), M, cols, plain[i].data(), rows[i], false, pool, scratch);
          if (lrs[i]) {
            std::vector<float> t(terms[i].rank);
            for (int64_t m = 0; m < M; ++m) {
              low_rank_project(terms[i], X.data() + m * cols, t.data());
              low_rank_expand(terms[i], t.data(), plain[i].data() + m * rows[i], 0, rows[i]);
            }
          }
          for (size_t j = 0; j < plain[i].size(); ++j)
            CHECK_NEAR(fused[i][j], plain[i][j], 1e-5 * (1 + std::fabs(plain[i][j])))
                << name_of(types[i]) << " M=" << M << " threads=" << threads << " isa=" << kernel_isa();
        }
        // matmul with accumulate: the term lands on top of the residual.
        auto res = random_floats(M * rows[0], 77);
        std::vector<float> acc = res, want = res;
        matmul(views[0], X.data(), M, cols, acc.data(), rows[0], true, pool, scratch, &terms[0]);
        for (size_t j = 0; j < want.size(); ++j) want[j] += plain[0][j];
        for (size_t j = 0; j < want.size(); ++j) CHECK_NEAR(acc[j], want[j], 1e-5 * (1 + std::fabs(want[j]))) << "accumulate M=" << M;
      }
    }
  }
  set_kernel_limit(KernelSet::Avx512);
}

TEST(matmul_rejects_mismatched_low_rank) {
  ThreadPool pool(1);
  MatmulScratch scratch;
  auto wdata = make_weights(TensorType::Q4_1, 8, 64, 3);
  WeightView W = view_of(TensorType::Q4_1, 8, 64, wdata);
  Factors f = random_factors(2, 64, 7, 1.f, 4);  // 7 outputs, the weight has 8
  LowRank bad = make_low_rank(2, 64, 7, 1.f, f.A.data(), f.B.data());
  Factors g = random_factors(2, 64, 8, 1.f, 5);
  LowRank good = make_low_rank(2, 64, 8, 1.f, g.A.data(), g.B.data());
  std::vector<float> X(64 * (kLowRankMaxRows + 1)), Y(8 * (kLowRankMaxRows + 1));
  int threw = 0;
  try { matmul(W, X.data(), 1, 64, Y.data(), 8, false, pool, scratch, &bad); } catch (const Error&) { ++threw; }
  try { matmul(W, X.data(), kLowRankMaxRows + 1, 64, Y.data(), 8, false, pool, scratch, &good); } catch (const Error&) { ++threw; }
  try { make_low_rank(0, 64, 8, 1.f, g.A.data(), g.B.data()); } catch (const Error&) { ++threw; }
  CHECK(threw == 3) << threw << " of 3 bad calls threw";
}
