// Matrix products against weights kept in their GGUF block format.
#pragma once
#include <cstdint>
#include <vector>
#include "first/low_rank.h"
#include "first/tensor_type.h"
#include "first/threadpool.h"

namespace first {

// A 2-D weight: `rows` output features, each a row of `cols` elements of `type`,
// rows stored contiguously `row_bytes` apart (a view into the GGUF mapping).
struct WeightView {
  TensorType type = TensorType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
  // The first rows / 16 * 16 rows again in row groups (first/row_groups.h),
  // for kernel sets that have kernels for them; null where none was made.
  const uint8_t* row_groups = nullptr;
};

// Scratch memory reused across calls so the hot path does not allocate.
struct MatmulScratch {
  std::vector<uint8_t> act;  // quantized activations
};

// Y[m][r] (+)= dot(W row r, X[m]) for m < M, r < W.rows.
// X is M x W.cols (row stride ldx floats), Y is M x W.rows (row stride ldy).
// With accumulate, the product is added to Y (fuses a residual add).
// Large M (prefill) tiles weight rows against tokens so each row is read once
// per tile; M = 1 (decode) splits the rows across threads.
// low_rank (M <= kLowRankMaxRows) adds y += scale * B (A x) in the same pass:
// each thread projects x itself and expands into its own output rows, so the
// correction costs no extra synchronisation.
void matmul(const WeightView& W, const float* X, int64_t M, int64_t ldx, float* Y, int64_t ldy,
            bool accumulate, ThreadPool& pool, MatmulScratch& scratch, const LowRank* low_rank = nullptr);

// Same product, computing several weights that share the input X in one pass
// (Q/K/V, or gate/up): X is quantized once. Outputs go to ys[i] with stride ldys[i].
void matmul_multi(const std::vector<const WeightView*>& Ws, const float* X, int64_t M, int64_t ldx,
                  const std::vector<float*>& ys, const std::vector<int64_t>& ldys, ThreadPool& pool,
                  MatmulScratch& scratch, const std::vector<const LowRank*>* low_ranks = nullptr);

// Plain reference: dequantize each row and accumulate in double.
void matmul_reference(const WeightView& W, const float* X, int64_t M, int64_t ldx, float* Y, int64_t ldy);

}  // namespace first
