// The f32 GEMM that LoRA at inference and the trainer's backward pass use.
#pragma once
#include <cstdint>

#include "first/threadpool.h"

namespace first {

// C (M x N, stride ldc) += alpha * A (M x K, stride lda) * B (K x N, stride ldb).
// With a pool, the rows (or, for few rows, the columns) are split over threads.
void gemm_nn(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
             float* C, int64_t ldc, ThreadPool* pool = nullptr);
// out (cols x rows) = in (rows x cols, stride ld) transposed.
void transpose(const float* in, int64_t rows, int64_t cols, int64_t ld, float* out);

namespace scalar {
void gemm_nn(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
             float* C, int64_t ldc);
}
namespace avx2 {
void gemm_nn(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
             float* C, int64_t ldc);
}

namespace avx512 {
void gemm_nn(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
             float* C, int64_t ldc);
}  // namespace avx512

}  // namespace first
