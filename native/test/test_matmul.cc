// matmul / matmul_multi against the dequantize-then-double reference, on odd
// shapes, both kernel sets, one and two threads.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "first/error.h"
#include "first/matmul.h"
#include "first/quant.h"
#include "first/row_groups.h"
#include "harness.h"
#include "quant_testing.h"

using namespace first;
using namespace quant_testing;

namespace {

WeightView view_of(TensorType t, int64_t rows, int64_t cols, const std::vector<uint8_t>& data) {
  WeightView w;
  w.type = t;
  w.rows = rows;
  w.cols = cols;
  w.data = data.data();
  w.row_bytes = row_bytes(t, cols);
  return w;
}

// Checks Y (M x rows, stride ldy) against the reference within the activation-quantization bound.
void check_against_reference(const WeightView& W, const std::vector<float>& X, int64_t M, int64_t ldx,
                             const float* Y, int64_t ldy, const float* base, const char* what) {
  std::vector<float> wd(W.cols);
  int bad = 0;
  for (int64_t r = 0; r < W.rows && bad < 3; ++r) {
    scalar::dequantize_row(W.type, W.data + r * W.row_bytes, wd.data(), W.cols);
    for (int64_t m = 0; m < M; ++m) {
      const float* x = X.data() + m * ldx;
      const double want = dot_double(wd.data(), x, W.cols) + (base ? base[m * ldy + r] : 0.0);
      const double tol = partner_error_bound(W.type, wd.data(), x, W.cols) + (base ? 1e-6 * std::fabs(base[m * ldy + r]) : 0);
      if (std::fabs(Y[m * ldy + r] - want) > tol) {
        CHECK(false) << what << " " << name_of(W.type) << " rows=" << W.rows << " cols=" << W.cols << " M=" << M << " at ("
                     << m << "," << r << "): " << Y[m * ldy + r] << " vs " << want << " tol " << tol
                     << " isa=" << kernel_isa();
        ++bad;
      }
    }
  }
}

}  // namespace

TEST(matmul_matches_reference_for_every_format_and_shape) {
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    MatmulScratch scratch;
    for (KernelSet set : kernel_sets_here()) {
      set_kernel_limit(set);
      for (TensorType t : kWeightTypes) {
        const int64_t blk = block_of(t) == 256 ? 256 : 32;
        for (int64_t cols : {blk, 3 * blk}) {
          for (int64_t rows : {1, 3, 6, 37}) {
            auto wdata = make_weights(t, rows, cols, static_cast<uint32_t>(rows * 31 + cols));
            const WeightView W = view_of(t, rows, cols, wdata);
            for (int64_t M : {1, 3, 37, 70}) {
              const int64_t ldx = cols + 3, ldy = rows + 2;
              auto X = random_floats(static_cast<size_t>(M * ldx), static_cast<uint32_t>(M + cols), 1.0f);
              std::vector<float> Y(static_cast<size_t>(M * ldy), -7.0f);
              matmul(W, X.data(), M, ldx, Y.data(), ldy, false, pool, scratch);
              check_against_reference(W, X, M, ldx, Y.data(), ldy, nullptr, "matmul");
              // Padding past each output row is left alone.
              CHECK(Y[ldy - 1] == -7.0f) << "wrote past the row end";
            }
          }
        }
      }
    }
    set_kernel_limit(KernelSet::Avx512);
  }
}

// The row-group layout (Q4_0, Q4_1, Q8_0 on AVX-512) against the reference
// and against the GGUF-layout kernels: whole groups and leftover rows, decode
// and prefill, accumulate, one and two threads. On other kernel sets the
// groups are ignored and the GGUF layout runs.
TEST(matmul_on_row_groups_matches_reference) {
  int ran = 0;
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    MatmulScratch scratch;
    for (KernelSet set : kernel_sets_here()) {
      set_kernel_limit(set);
      for (TensorType t : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0}) {
        CHECK(row_groups_supported(t));
        for (int64_t cols : {32, 96, 576}) {
          for (int64_t rows : {16, 37, 64, 100}) {
            auto wdata = make_weights(t, rows, cols, static_cast<uint32_t>(rows * 7 + cols));
            WeightView W = view_of(t, rows, cols, wdata);
            const RowGroups groups = make_row_groups(W);
            CHECK(groups.groups == rows / 16);
            W.row_groups = groups.data.get();
            for (int64_t M : {1, 2, 5, 70}) {
              const int64_t ldx = cols + 1, ldy = rows + 3;
              auto X = random_floats(static_cast<size_t>(M * ldx), static_cast<uint32_t>(M * 3 + cols), 1.0f);
              std::vector<float> Y(static_cast<size_t>(M * ldy), -7.0f), plain(Y.size(), -7.0f);
              matmul(W, X.data(), M, ldx, Y.data(), ldy, false, pool, scratch);
              check_against_reference(W, X, M, ldx, Y.data(), ldy, nullptr, "row groups");
              WeightView G = W;
              G.row_groups = nullptr;
              matmul(G, X.data(), M, ldx, plain.data(), ldy, false, pool, scratch);
              double mag = 0;
              for (size_t i = 0; i < Y.size(); ++i) mag = std::max(mag, std::fabs(double(plain[i])));
              for (size_t i = 0; i < Y.size(); ++i)
                CHECK_NEAR(Y[i], plain[i], 1e-5 * mag + 1e-6) << name_of(t) << " rows=" << rows << " M=" << M << " i=" << i;
              CHECK(Y[ldy - 1] == -7.0f) << "wrote past the row end";
              // Accumulate adds to what is there.
              std::vector<float> acc(Y.size(), 0.5f);
              matmul(W, X.data(), M, ldx, acc.data(), ldy, true, pool, scratch);
              for (int64_t m = 0; m < M; ++m)
                for (int64_t r = 0; r < rows; ++r)
                  CHECK_NEAR(acc[m * ldy + r], Y[m * ldy + r] + 0.5f, 1e-5 * mag + 1e-5) << name_of(t) << " accumulate";
              ++ran;
            }
          }
        }
      }
    }
    set_kernel_limit(KernelSet::Avx512);
  }
  CHECK(ran > 0);
}

// A slice of rows (a chunk of the output head, a fused tensor's part) takes
// the rows it names, with or without its weight's row groups.
TEST(row_range_slices_take_their_own_rows) {
  ThreadPool pool(2);
  MatmulScratch scratch;
  const int64_t rows = 100, cols = 64, M = 3;
  auto wdata = make_weights(TensorType::Q8_0, rows, cols, 41);
  WeightView W = view_of(TensorType::Q8_0, rows, cols, wdata);
  const RowGroups groups = make_row_groups(W);
  W.row_groups = groups.data.get();
  auto X = random_floats(static_cast<size_t>(M * cols), 42, 1.0f);
  std::vector<float> whole(static_cast<size_t>(M * rows));
  matmul(W, X.data(), M, cols, whole.data(), rows, false, pool, scratch);
  on_every_kernel_set([&] {
    for (int64_t r0 : {int64_t{0}, int64_t{16}, int64_t{32}, int64_t{5}, int64_t{81}}) {
      const int64_t n = std::min<int64_t>(40, rows - r0);
      const WeightView S = row_range(W, r0, n);
      CHECK((S.row_groups != nullptr) == (r0 % 16 == 0)) << "r0=" << r0;
      std::vector<float> part(static_cast<size_t>(M * n));
      matmul(S, X.data(), M, cols, part.data(), n, false, pool, scratch);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t r = 0; r < n; ++r)
          CHECK_NEAR(part[m * n + r], whole[m * rows + r0 + r], 1e-4 * (1 + std::fabs(whole[m * rows + r0 + r])))
              << "r0=" << r0 << " r=" << r << " isa=" << kernel_isa();
    }
  });
  int threw = 0;
  try { row_range(W, 90, 20); } catch (const Error&) { ++threw; }
  CHECK(threw == 1);
}

TEST(matmul_accumulate_adds_to_y) {
  ThreadPool pool(2);
  MatmulScratch scratch;
  for (KernelSet set : kernel_sets_here()) {
    set_kernel_limit(set);
    for (TensorType t : {TensorType::Q4_1, TensorType::Q8_0, TensorType::F16}) {
      const int64_t rows = 13, cols = 96, M = 5;
      auto wdata = make_weights(t, rows, cols, 5);
      const WeightView W = view_of(t, rows, cols, wdata);
      auto X = random_floats(M * cols, 9);
      auto base = random_floats(M * rows, 10, 3.0f);
      std::vector<float> Y = base;
      matmul(W, X.data(), M, cols, Y.data(), rows, true, pool, scratch);
      check_against_reference(W, X, M, cols, Y.data(), rows, base.data(), "accumulate");
    }
  }
  set_kernel_limit(KernelSet::Avx512);
}

TEST(matmul_fast_path_tracks_vec_dot) {
  // Tiles and single dots use the same quantized activations: results agree to float rounding.
  ThreadPool pool(2);
  MatmulScratch scratch;
  for (TensorType t : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0}) {
    const int64_t rows = 23, cols = 576, M = 9;
    auto wdata = make_weights(t, rows, cols, 77);
    const WeightView W = view_of(t, rows, cols, wdata);
    auto X = random_floats(M * cols, 78);
    std::vector<float> Y(M * rows);
    matmul(W, X.data(), M, cols, Y.data(), rows, false, pool, scratch);
    std::vector<uint8_t> act(partner_row_bytes(t, cols));
    for (int64_t m = 0; m < M; ++m) {
      quantize_activations(t, X.data() + m * cols, act.data(), cols);
      for (int64_t r = 0; r < rows; ++r) {
        const float d = vec_dot(t, cols, W.data + r * W.row_bytes, act.data());
        CHECK_NEAR(Y[m * rows + r], d, 1e-4 * (std::fabs(d) + 1.0)) << name_of(t) << " m=" << m << " r=" << r;
      }
    }
  }
}

TEST(matmul_multi_equals_separate_matmuls) {
  ThreadPool pool(2);
  MatmulScratch scratch;
  for (KernelSet set : kernel_sets_here()) {
    set_kernel_limit(set);
    const int64_t cols = 256;
    const TensorType types[] = {TensorType::Q4_1, TensorType::Q8_0, TensorType::F16, TensorType::Q4_K};
    const int64_t rows[] = {37, 11, 5, 20};
    std::vector<std::vector<uint8_t>> data;
    std::vector<WeightView> views;
    for (int i = 0; i < 4; ++i) data.push_back(make_weights(types[i], rows[i], cols, 300 + i));
    for (int i = 0; i < 4; ++i) views.push_back(view_of(types[i], rows[i], cols, data[i]));
    for (int64_t M : {1, 3, 37}) {
      auto X = random_floats(M * cols, 400 + static_cast<uint32_t>(M));
      std::vector<std::vector<float>> outs(4), separate(4);
      std::vector<const WeightView*> ws;
      std::vector<float*> ys;
      std::vector<int64_t> ldys;
      for (int i = 0; i < 4; ++i) {
        outs[i].assign(M * (rows[i] + 1), 0.0f);
        separate[i].assign(M * (rows[i] + 1), 0.0f);
        ws.push_back(&views[i]);
        ys.push_back(outs[i].data());
        ldys.push_back(rows[i] + 1);
      }
      matmul_multi(ws, X.data(), M, cols, ys, ldys, pool, scratch);
      for (int i = 0; i < 4; ++i) {
        matmul(views[i], X.data(), M, cols, separate[i].data(), rows[i] + 1, false, pool, scratch);
        CHECK(outs[i] == separate[i]) << name_of(types[i]) << " M=" << M << " isa=" << kernel_isa();
      }
    }
  }
  set_kernel_limit(KernelSet::Avx512);
}

TEST(matmul_reference_is_a_plain_product) {
  std::vector<float> w = {1, 2, 3, 4, 5, 6};  // 2 rows x 3 cols
  std::vector<uint8_t> bytes(w.size() * 4);
  std::memcpy(bytes.data(), w.data(), bytes.size());
  const WeightView W = view_of(TensorType::F32, 2, 3, bytes);
  std::vector<float> X = {1, 0, -1};
  std::vector<float> Y(2);
  matmul_reference(W, X.data(), 1, 3, Y.data(), 2);
  CHECK(Y[0] == -2.0f && Y[1] == -2.0f) << Y[0] << " " << Y[1];
}

TEST(matmul_rejects_bad_shapes) {
  ThreadPool pool(1);
  MatmulScratch scratch;
  auto wdata = make_weights(TensorType::Q4_1, 4, 64, 1);
  WeightView W = view_of(TensorType::Q4_1, 4, 64, wdata);
  std::vector<float> X(64 * 2), Y(8);
  int threw = 0;
  try { matmul(W, X.data(), 1, 32, Y.data(), 4, false, pool, scratch); } catch (const Error&) { ++threw; }  // ldx < cols
  try { matmul(W, X.data(), 1, 64, Y.data(), 3, false, pool, scratch); } catch (const Error&) { ++threw; }  // ldy < rows
  WeightView odd = W;
  odd.cols = 48;
  try { matmul(odd, X.data(), 1, 64, Y.data(), 4, false, pool, scratch); } catch (const Error&) { ++threw; }
  WeightView bad_type = W;
  bad_type.type = TensorType::Q8_1;
  try { matmul(bad_type, X.data(), 1, 64, Y.data(), 4, false, pool, scratch); } catch (const Error&) { ++threw; }
  CHECK(threw == 4) << threw << " of 4 bad calls threw";
}
