// f32 GEMM for LoRA at inference and the trainer's backward pass. The AVX2/FMA
// and AVX-512 kernels live in gemm_avx2.cc and gemm_avx512.cc; this file holds the portable kernel, the
// run-time choice and the split over threads.
#include <algorithm>

#include "first/gemm.h"
#include "first/vec.h"

namespace first {

namespace scalar {
void gemm_nn(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
             float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    float* c = C + i * ldc;
    for (int64_t p = 0; p < K; ++p) {
      const float a = alpha * A[i * lda + p];
      const float* b = B + p * ldb;
      for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
    }
  }
}
}  // namespace scalar

namespace {
void gemm_one(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
              float* C, int64_t ldc) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  if (use_avx512())
    avx512::gemm_nn(M, N, K, alpha, A, lda, B, ldb, C, ldc);
  else if (use_avx2())
    avx2::gemm_nn(M, N, K, alpha, A, lda, B, ldb, C, ldc);
  else
    scalar::gemm_nn(M, N, K, alpha, A, lda, B, ldb, C, ldc);
}
}  // namespace

void gemm_nn(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
             float* C, int64_t ldc, ThreadPool* pool) {
  const int nt = pool ? pool->size() : 1;
  if (nt == 1 || M * N * K < (1 << 15)) {
    gemm_one(M, N, K, alpha, A, lda, B, ldb, C, ldc);
    return;
  }
  if (M >= 6 * nt) {
    // Rows in multiples of 6 (the micro-kernel height).
    pool->parallel_for(M, [&](int64_t m0, int64_t m1) {
      gemm_one(m1 - m0, N, K, alpha, A + m0 * lda, lda, B, ldb, C + m0 * ldc, ldc);
    }, 6);
  } else {
    pool->parallel_for(N, [&](int64_t n0, int64_t n1) {
      gemm_one(M, n1 - n0, K, alpha, A, lda, B + n0, ldb, C + n0, ldc);
    }, 16);
  }
}

void transpose(const float* in, int64_t rows, int64_t cols, int64_t ld, float* out) {
  constexpr int64_t kTile = 32;  // keeps both sides of a tile in cache
  for (int64_t r0 = 0; r0 < rows; r0 += kTile)
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) out[c * rows + r] = in[r * ld + c];
    }
}

}  // namespace first
