// The int8 low-rank term (a LoRA adapter's inference form): the expansion
// kernels against the scalar one and a plain integer reference, the whole
// term against the f32 product it approximates, and matmul with the term fused
// against matmul followed by the term, on odd sizes, every kernel set and one
// to three threads.
#include <cmath>
#include <cstring>
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

// y = scale * B (A x) in double over the f32 factors: what the int8 form approximates.
std::vector<double> f32_term(const Factors& f, const float* x) {
  std::vector<double> t(f.rank, 0.0), y(f.out, 0.0);
  for (int k = 0; k < f.rank; ++k)
    for (int64_t i = 0; i < f.in; ++i) t[k] += static_cast<double>(f.A[k * f.in + i]) * x[i];
  for (int64_t o = 0; o < f.out; ++o)
    for (int k = 0; k < f.rank; ++k) y[o] += f.scale * static_cast<double>(f.B[o * f.rank + k]) * t[k];
  return y;
}

WeightView view_of(TensorType t, int64_t rows, int64_t cols, const std::vector<uint8_t>& data) {
  return WeightView{t, rows, cols, data.data(), row_bytes(t, cols)};
}

// B's int8 value and scale for output o, read back from the documented layout
// (blocks of 16 outputs: kq * 16 values, then 16 f16 scales in scale_unit).
int b_at(const LowRank& lr, int64_t o, int k) {
  return lr.B[(o / 16) * (lr.kq * 16 + 32) + (k / 4) * 64 + (o % 16) * 4 + k % 4];
}
double scale_at(const LowRank& lr, int64_t o) {
  uint16_t s;
  std::memcpy(&s, lr.B.data() + (o / 16) * (lr.kq * 16 + 32) + lr.kq * 16 + (o % 16) * 2, 2);
  return static_cast<double>(f16_to_f32(s)) * lr.scale_unit;
}

}  // namespace

TEST(low_rank_quantize_t_rounds_to_the_largest_magnitude) {
  const float t[5] = {0.5f, -1.27f, 0.f, 0.635f, 1.f};
  int8_t q[5];
  const float d = low_rank_quantize_t(t, 5, q);
  CHECK_NEAR(d, 0.01f, 1e-7);
  const int want[5] = {50, -127, 0, 64 /* 63.5 ties to even */, 100};
  for (int k = 0; k < 5; ++k) CHECK(q[k] == want[k]) << "k=" << k << " q=" << int(q[k]);
  const float zero[3] = {0.f, 0.f, 0.f};
  int8_t qz[3];
  CHECK(low_rank_quantize_t(zero, 3, qz) == 0.f);
  CHECK(qz[0] == 0 && qz[1] == 0 && qz[2] == 0);
}

TEST(low_rank_expand_kernels_match_integer_reference) {
  for (KernelSet set : kernel_sets_here()) {
    set_kernel_limit(set);
    for (int rank : {1, 3, 8, 16, 20}) {
      for (int64_t out : {int64_t{1}, int64_t{7}, int64_t{8}, int64_t{16}, int64_t{29}, int64_t{192}}) {
        const int64_t in = 64;
        Factors f = random_factors(rank, in, out, 1.7f, 10 + rank + static_cast<uint32_t>(out));
        const LowRank lr = make_low_rank(rank, in, out, f.scale, f.A.data(), f.B.data());
        CHECK(lr.kq % 4 == 0 && lr.kq >= rank && lr.kq < rank + 4) << "kq=" << lr.kq;
        const int64_t M = 3;
        std::vector<int8_t> u(M * lr.kq);
        std::vector<float> d(M);
        for (int64_t m = 0; m < M; ++m) {
          auto t = random_floats(lr.kq, 50 + static_cast<uint32_t>(m), m == 2 ? 1e-3f : 3.f);
          d[m] = low_rank_quantize_t(t.data(), lr.kq, u.data() + m * lr.kq);
        }
        // A t that hits -127 and 127 exactly: the largest products the kernels must hold.
        if (rank >= 4) u[0] = 127, u[1] = -127, u[2] = -127;
        const int64_t ldy = out + 3;
        auto y0 = random_floats(M * ldy, 5);
        std::vector<float> y = y0, ys = y0;
        // Two calls that split at a block edge, onto a non-zero y.
        const int64_t cut = out > 16 ? 16 : out;
        low_rank_expand(lr, u.data(), d.data(), M, y.data(), ldy, 0, cut);
        low_rank_expand(lr, u.data(), d.data(), M, y.data(), ldy, cut, out);
        scalar::low_rank_expand(lr, u.data(), d.data(), M, ys.data(), ldy, 0, out);
        for (int64_t m = 0; m < M; ++m)
          for (int64_t o = 0; o < ldy; ++o) {
            double want = y0[m * ldy + o];
            if (o < out) {
              long s = 0;
              for (int k = 0; k < lr.kq; ++k) s += static_cast<long>(u[m * lr.kq + k]) * b_at(lr, o, k);
              want += static_cast<double>(d[m]) * scale_at(lr, o) * static_cast<double>(s);
            }
            const double tol = 1e-5 * (1 + std::fabs(want));
            CHECK_NEAR(y[m * ldy + o], want, tol) << "rank=" << rank << " out=" << out << " m=" << m << " o=" << o
                                                  << " isa=" << kernel_isa();
            CHECK_NEAR(ys[m * ldy + o], want, tol) << "scalar rank=" << rank << " out=" << out << " o=" << o;
          }
      }
    }
  }
  set_kernel_limit(KernelSet::Avx512);
}

TEST(low_rank_term_is_close_to_the_f32_product) {
  // int8 A, x, t and B: the term keeps within 2% of the f32 product (RMS over
  // the outputs), on a LoRA-sized case and on an F32-A case (in not whole
  // blocks), and with a B so small that its scales are below f16's normal
  // range (they are kept relative to the largest).
  ThreadPool pool(2);
  MatmulScratch scratch;
  for (KernelSet set : kernel_sets_here()) {
    set_kernel_limit(set);
    for (int64_t in : {int64_t{576}, int64_t{40}}) {
      for (int rank : {8, 16}) {
        for (float b_size : {1.f, 1e-5f}) {
          const int64_t out = 192, M = 5;
          Factors f = random_factors(rank, in, out, 2.f, 300 + rank);
          for (float& b : f.B) b *= b_size;
          const LowRank lr = make_low_rank(rank, in, out, f.scale, f.A.data(), f.B.data());
          CHECK(lr.a_type == (in % 32 == 0 ? TensorType::Q8_0 : TensorType::F32));
          auto X = random_floats(M * in, 400);
          std::vector<float> Y(M * out, 0.f);
          low_rank_add(lr, X.data(), M, in, Y.data(), out, pool, scratch);
          for (int64_t m = 0; m < M; ++m) {
            const auto want = f32_term(f, X.data() + m * in);
            double err = 0, norm = 0;
            for (int64_t o = 0; o < out; ++o) {
              err += (Y[m * out + o] - want[o]) * (Y[m * out + o] - want[o]);
              norm += want[o] * want[o];
            }
            CHECK(std::sqrt(err / norm) < 0.02) << "relative RMS error " << std::sqrt(err / norm) << " in=" << in
                                                << " rank=" << rank << " B size " << b_size << " isa=" << kernel_isa();
          }
        }
      }
    }
  }
  set_kernel_limit(KernelSet::Avx512);
}

TEST(matmul_with_fused_low_rank_equals_matmul_then_term) {
  // The fused term adds what low_rank_add adds after a plain matmul, for
  // decode and prefill row counts and every thread split.
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    MatmulScratch scratch;
    for (KernelSet set : kernel_sets_here()) {
      set_kernel_limit(set);
      const int64_t cols = 96;
      const TensorType types[] = {TensorType::Q4_1, TensorType::Q8_0, TensorType::F16};
      const int64_t rows[] = {37, 100, 13};
      std::vector<std::vector<uint8_t>> data;
      std::vector<WeightView> views;
      std::vector<LowRank> terms;
      for (int i = 0; i < 3; ++i) {
        data.push_back(make_weights(types[i], rows[i], cols, 700 + i));
        views.push_back(view_of(types[i], rows[i], cols, data[i]));
        Factors f = random_factors(i == 0 ? 16 : 4 + i, cols, rows[i], 0.5f, 800 + i);
        terms.push_back(make_low_rank(f.rank, cols, rows[i], f.scale, f.A.data(), f.B.data()));
      }
      for (int64_t M : {int64_t{1}, int64_t{2}, int64_t{17}, int64_t{70}}) {
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
          if (lrs[i]) low_rank_add(terms[i], X.data(), M, cols, plain[i].data(), rows[i], pool, scratch);
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
  Factors g = random_factors(2, 32, 8, 1.f, 5);  // 32 inputs, the weight has 64
  LowRank narrow = make_low_rank(2, 32, 8, 1.f, g.A.data(), g.B.data());
  std::vector<float> X(64 * 4), Y(8 * 4);
  int threw = 0;
  try { matmul(W, X.data(), 1, 64, Y.data(), 8, false, pool, scratch, &bad); } catch (const Error&) { ++threw; }
  try { matmul(W, X.data(), 4, 64, Y.data(), 8, false, pool, scratch, &narrow); } catch (const Error&) { ++threw; }
  try { make_low_rank(0, 64, 8, 1.f, g.A.data(), g.B.data()); } catch (const Error&) { ++threw; }
  try { low_rank_expand(bad, nullptr, nullptr, 0, Y.data(), 8, 3, 7); } catch (const Error&) { ++threw; }
  CHECK(threw == 4) << threw << " of 4 bad calls threw";
}
