// AVX-512 VNNI expansion of a low-rank term: per block of 16 outputs, one
// vpdpbusd multiplies 4 ranks of |t| by the int8 B of all 16 outputs, B's
// signs flipped where t is negative (vpdpbusd takes unsigned x signed); the
// block's scales follow its values in the same stream; the tail is masked.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "first/low_rank.h"

namespace first {
namespace avx512 {

void low_rank_expand(const LowRank& lr, const int8_t* q, const float* d, int64_t M, float* Y, int64_t ldy, int64_t o0,
                     int64_t o1) {
  const int kq = lr.kq, nq = kq / kLowRankQuad;
  const __m512i zero = _mm512_setzero_si512();
  for (int64_t o = o0; o < o1; o += kLowRankBlock) {
    const int n = static_cast<int>(std::min<int64_t>(kLowRankBlock, o1 - o));
    const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1);
    const int8_t* b = lr.block(o);
    const __m512 bs = _mm512_loadu_ps(lr.block_scales(o));
    for (int64_t m = 0; m < M; ++m) {
      const int8_t* qm = q + m * kq;
      __m512i acc = _mm512_setzero_si512();
      for (int j = 0; j < nq; ++j) {
        int32_t quad;
        std::memcpy(&quad, qm + j * kLowRankQuad, 4);
        const __m512i t = _mm512_set1_epi32(quad);
        const __m512i bq = _mm512_loadu_si512(b + j * 64);
        const __m512i bsigned = _mm512_mask_sub_epi8(bq, _mm512_movepi8_mask(t), zero, bq);
        acc = _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(t), bsigned);
      }
      float* y = Y + m * ldy + o;
      const __m512 s = _mm512_mul_ps(_mm512_set1_ps(d[m]), bs);
      const __m512 sum = _mm512_cvtepi32_ps(acc);
      _mm512_mask_storeu_ps(y, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, y), _mm512_mul_ps(sum, s)));
    }
  }
}

}  // namespace avx512
}  // namespace first
