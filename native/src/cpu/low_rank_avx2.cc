// AVX2 expansion of a low-rank term: maddubs of |t| with B signed by t, 8
// outputs per 32-byte half of a block. The products stay below int16's limit
// (2 * 127 * 127), so the sums equal the other sets' exactly.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "first/low_rank.h"

namespace first {
namespace avx2 {

void low_rank_expand(const LowRank& lr, const int8_t* q, const float* d, int64_t M, float* Y, int64_t ldy, int64_t o0,
                     int64_t o1) {
  const int kq = lr.kq, nq = kq / kLowRankQuad;
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t o = o0; o < o1; o += 8) {
    const int n = static_cast<int>(std::min<int64_t>(8, o1 - o));
    // Outputs o..o+7 are one half of their block: bytes [0, 32) or [32, 64) of each 64-byte quad.
    const int half = static_cast<int>(o % kLowRankBlock);
    const int8_t* b = lr.block(o) + half * kLowRankQuad;
    const __m256 bs = _mm256_mul_ps(
        _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(lr.block_scales(o) + half))),
        _mm256_set1_ps(lr.scale_unit));
    for (int64_t m = 0; m < M; ++m) {
      const int8_t* qm = q + m * kq;
      __m256i acc = _mm256_setzero_si256();
      for (int j = 0; j < nq; ++j) {
        int32_t quad;
        std::memcpy(&quad, qm + j * kLowRankQuad, 4);
        const __m256i t = _mm256_set1_epi32(quad);
        const __m256i bq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + j * 64));
        const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(t), _mm256_sign_epi8(bq, t));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
      }
      const __m256 s = _mm256_mul_ps(_mm256_set1_ps(d[m]), bs);
      const __m256 add = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), s);
      float* y = Y + m * ldy + o;
      if (n == 8) {
        _mm256_storeu_ps(y, _mm256_add_ps(_mm256_loadu_ps(y), add));
      } else {
        alignas(32) float tmp[8];
        _mm256_store_ps(tmp, add);
        for (int i = 0; i < n; ++i) y[i] += tmp[i];
      }
    }
  }
}

}  // namespace avx2
}  // namespace first
