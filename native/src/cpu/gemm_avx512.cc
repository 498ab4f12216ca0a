// AVX-512 f32 GEMM: C += alpha * A * B with an 8 x 32 register tile (16
// accumulators), B panels of 32 columns reused over a block of A's rows that
// stays in L2; columns past the last full panel take 16-wide masked tiles,
// so there is no scalar tail.
#include <immintrin.h>

#include <algorithm>

#include "first/gemm.h"

namespace first {
namespace avx512 {

namespace {

constexpr int kMr = 8;              // rows per register tile
constexpr int64_t kRowBlock = 192;  // rows of A per L2 block

template <int MR>
void tile32(int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
  __m512 acc0[MR], acc1[MR];
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (int64_t p = 0; p < K; ++p) {
    const __m512 b0 = _mm512_loadu_ps(B + p * ldb), b1 = _mm512_loadu_ps(B + p * ldb + 16);
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(A[r * lda + p]);
      acc0[r] = _mm512_fmadd_ps(a, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(a, b1, acc1[r]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha);
  for (int r = 0; r < MR; ++r) {
    float* c = C + r * ldc;
    _mm512_storeu_ps(c, _mm512_fmadd_ps(va, acc0[r], _mm512_loadu_ps(c)));
    _mm512_storeu_ps(c + 16, _mm512_fmadd_ps(va, acc1[r], _mm512_loadu_ps(c + 16)));
  }
}

// Up to 16 columns, the lanes past them masked off.
template <int MR>
void tile16(int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc,
            __mmask16 m) {
  __m512 acc[MR];
  for (int r = 0; r < MR; ++r) acc[r] = _mm512_setzero_ps();
  for (int64_t p = 0; p < K; ++p) {
    const __m512 b = _mm512_maskz_loadu_ps(m, B + p * ldb);
    for (int r = 0; r < MR; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(A[r * lda + p]), b, acc[r]);
  }
  const __m512 va = _mm512_set1_ps(alpha);
  for (int r = 0; r < MR; ++r) {
    float* c = C + r * ldc;
    _mm512_mask_storeu_ps(c, m, _mm512_fmadd_ps(va, acc[r], _mm512_maskz_loadu_ps(m, c)));
  }
}

using Tile32Fn = void (*)(int64_t, float, const float*, int64_t, const float*, int64_t, float*, int64_t);
using Tile16Fn = void (*)(int64_t, float, const float*, int64_t, const float*, int64_t, float*, int64_t, __mmask16);
constexpr Tile32Fn kTile32[kMr + 1] = {nullptr,    tile32<1>, tile32<2>, tile32<3>, tile32<4>,
                                       tile32<5>, tile32<6>, tile32<7>, tile32<8>};
constexpr Tile16Fn kTile16[kMr + 1] = {nullptr,    tile16<1>, tile16<2>, tile16<3>, tile16<4>,
                                       tile16<5>, tile16<6>, tile16<7>, tile16<8>};

}  // namespace

void gemm_nn(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
             float* C, int64_t ldc) {
  const int64_t n32 = N / 32 * 32;
  for (int64_t i0 = 0; i0 < M; i0 += kRowBlock) {
    const int64_t i1 = std::min(M, i0 + kRowBlock);
    for (int64_t j = 0; j < n32; j += 32)
      for (int64_t i = i0; i < i1; i += kMr) {
        const int mr = static_cast<int>(std::min<int64_t>(kMr, i1 - i));
        kTile32[mr](K, alpha, A + i * lda, lda, B + j, ldb, C + i * ldc + j, ldc);
      }
    for (int64_t j = n32; j < N; j += 16) {
      const int64_t cols = std::min<int64_t>(16, N - j);
      const __mmask16 m = static_cast<__mmask16>((1u << cols) - 1);
      for (int64_t i = i0; i < i1; i += kMr) {
        const int mr = static_cast<int>(std::min<int64_t>(kMr, i1 - i));
        kTile16[mr](K, alpha, A + i * lda, lda, B + j, ldb, C + i * ldc + j, ldc, m);
      }
    }
  }
}

}  // namespace avx512
}  // namespace first
