// AVX2/FMA f32 GEMM: C += alpha * A * B with a 6 x 16 register tile (12
// accumulators), B panels of 16 columns reused over a block of A's rows that
// stays in L2.
#include <immintrin.h>

#include <algorithm>

#include "first/gemm.h"

namespace first {
namespace avx2 {

namespace {

constexpr int kMr = 6;           // rows per register tile
constexpr int64_t kRowBlock = 192;  // rows of A per L2 block

template <int MR>
void tile16(int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
  __m256 acc0[MR], acc1[MR];
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
  for (int64_t p = 0; p < K; ++p) {
    const __m256 b0 = _mm256_loadu_ps(B + p * ldb), b1 = _mm256_loadu_ps(B + p * ldb + 8);
    for (int r = 0; r < MR; ++r) {
      const __m256 a = _mm256_broadcast_ss(A + r * lda + p);
      acc0[r] = _mm256_fmadd_ps(a, b0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(a, b1, acc1[r]);
    }
  }
  const __m256 va = _mm256_set1_ps(alpha);
  for (int r = 0; r < MR; ++r) {
    float* c = C + r * ldc;
    _mm256_storeu_ps(c, _mm256_fmadd_ps(va, acc0[r], _mm256_loadu_ps(c)));
    _mm256_storeu_ps(c + 8, _mm256_fmadd_ps(va, acc1[r], _mm256_loadu_ps(c + 8)));
  }
}

template <int MR>
void tile8(int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
  __m256 acc[MR];
  for (int r = 0; r < MR; ++r) acc[r] = _mm256_setzero_ps();
  for (int64_t p = 0; p < K; ++p) {
    const __m256 b = _mm256_loadu_ps(B + p * ldb);
    for (int r = 0; r < MR; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(A + r * lda + p), b, acc[r]);
  }
  const __m256 va = _mm256_set1_ps(alpha);
  for (int r = 0; r < MR; ++r) {
    float* c = C + r * ldc;
    _mm256_storeu_ps(c, _mm256_fmadd_ps(va, acc[r], _mm256_loadu_ps(c)));
  }
}

// Columns left over after the 8-wide panels (fewer than 8).
void tail(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
          float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float s = 0.f;
      for (int64_t p = 0; p < K; ++p) s += A[i * lda + p] * B[p * ldb + j];
      C[i * ldc + j] += alpha * s;
    }
}

using TileFn = void (*)(int64_t, float, const float*, int64_t, const float*, int64_t, float*, int64_t);
constexpr TileFn kTile16[kMr + 1] = {nullptr, tile16<1>, tile16<2>, tile16<3>, tile16<4>, tile16<5>, tile16<6>};
constexpr TileFn kTile8[kMr + 1] = {nullptr, tile8<1>, tile8<2>, tile8<3>, tile8<4>, tile8<5>, tile8<6>};

}  // namespace

void gemm_nn(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
             float* C, int64_t ldc) {
  const int64_t n16 = N / 16 * 16, n8 = N / 8 * 8;
  for (int64_t i0 = 0; i0 < M; i0 += kRowBlock) {
    const int64_t i1 = std::min(M, i0 + kRowBlock);
    for (int64_t j = 0; j < n16; j += 16)
      for (int64_t i = i0; i < i1; i += kMr) {
        const int mr = static_cast<int>(std::min<int64_t>(kMr, i1 - i));
        kTile16[mr](K, alpha, A + i * lda, lda, B + j, ldb, C + i * ldc + j, ldc);
      }
    if (n8 > n16)
      for (int64_t i = i0; i < i1; i += kMr) {
        const int mr = static_cast<int>(std::min<int64_t>(kMr, i1 - i));
        kTile8[mr](K, alpha, A + i * lda, lda, B + n16, ldb, C + i * ldc + n16, ldc);
      }
    if (N > n8) tail(i1 - i0, N - n8, K, alpha, A + i0 * lda, lda, B + n8, ldb, C + i0 * ldc + n8, ldc);
  }
}

}  // namespace avx2
}  // namespace first
