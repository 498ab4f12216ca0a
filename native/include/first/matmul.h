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

// Rows [r0, r0 + n) of W as a weight of their own: a fused tensor's parts, a
// chunk of the output head. Its row groups follow where r0 starts a group,
// else the slice has none (its rows then take the GGUF layout).
WeightView row_range(const WeightView& W, int64_t r0, int64_t n);

// Scratch memory reused across calls so the hot path does not allocate.
struct MatmulScratch {
  std::vector<uint8_t> act;  // quantized activations
  std::vector<float> lr_t;   // low-rank terms: A x per token
  std::vector<int8_t> lr_q;  // the same, as int8
  std::vector<float> lr_d;   // and their scales
};

// Y[m][r] (+)= dot(W row r, X[m]) for m < M, r < W.rows.
// X is M x W.cols (row stride ldx floats), Y is M x W.rows (row stride ldy).
// With accumulate, the product is added to Y (fuses a residual add).
// Large M (prefill) tiles weight rows against tokens so each row is read once
// per tile; M = 1 (decode) splits the rows across threads.
// low_rank adds y += scale * B (A x) (first/low_rank.h): A's rows are products
// of the same pass on the same quantized X, B's expansion a second, short pass.
void matmul(const WeightView& W, const float* X, int64_t M, int64_t ldx, float* Y, int64_t ldy,
            bool accumulate, ThreadPool& pool, MatmulScratch& scratch, const LowRank* low_rank = nullptr);

// Same product, computing several weights that share the input X in one pass
// (Q/K/V, or gate/up): X is quantized once. Outputs go to ys[i] with stride ldys[i].
void matmul_multi(const std::vector<const WeightView*>& Ws, const float* X, int64_t M, int64_t ldx,
                  const std::vector<float*>& ys, const std::vector<int64_t>& ldys, ThreadPool& pool,
                  MatmulScratch& scratch, const std::vector<const LowRank*>* low_ranks = nullptr);

// Y (M x lr.out, stride ldy) += scale * B (A X): a low-rank term on its own
// (batches whose rows take different adapters).
void low_rank_add(const LowRank& lr, const float* X, int64_t M, int64_t ldx, float* Y, int64_t ldy, ThreadPool& pool,
                  MatmulScratch& scratch);

// Plain reference: dequantize each row and accumulate in double.
void matmul_reference(const WeightView& W, const float* X, int64_t M, int64_t ldx, float* Y, int64_t ldy);

}  // namespace first
