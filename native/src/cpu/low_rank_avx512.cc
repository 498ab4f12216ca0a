// AVX-512 VNNI expansion of a low-rank term: per block of 16 outputs, one
// vpdpbusd multiplies 4 ranks of t by the int8 B of all 16 outputs. vpdpbusd
// takes unsigned x signed, so t goes in offset by 128 (q ^ 0x80 as a byte) and
// the block's 128 * sum_k B, computed once per block, starts each token's sum:
// per token and quad that is one broadcast and one vpdpbusd, the rest of the
// work shared by the block's tokens. The block's scales follow its values in
// the same stream (f16, widened and put in the term's unit once per block);
// the tail is masked.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "first/low_rank.h"

namespace first {
namespace avx512 {

void low_rank_expand(const LowRank& lr, const int8_t* q, const float* d, int64_t M, float* Y, int64_t ldy, int64_t o0,
                     int64_t o1) {
  const int kq = lr.kq, nq = kq / kLowRankQuad;
  const __m512i offset = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t o = o0; o < o1; o += kLowRankBlock) {
    const int n = static_cast<int>(std::min<int64_t>(kLowRankBlock, o1 - o));
    const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1);
    const int8_t* b = lr.block(o);
    const __m512 bs = _mm512_mul_ps(
        _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lr.block_scales(o)))),
        _mm512_set1_ps(lr.scale_unit));
    __m512i bias = _mm512_setzero_si512();  // 128 * sum_k B[o][k]
    for (int j = 0; j < nq; ++j) bias = _mm512_dpbusd_epi32(bias, offset, _mm512_loadu_si512(b + j * 64));
    const __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(), bias);
    for (int64_t m = 0; m < M; ++m) {
      const int8_t* qm = q + m * kq;
      __m512i acc = start;
      for (int j = 0; j < nq; ++j) {
        uint32_t quad;
        std::memcpy(&quad, qm + j * kLowRankQuad, 4);
        acc = _mm512_dpbusd_epi32(acc, _mm512_set1_epi32(static_cast<int>(quad ^ 0x80808080u)),
                                  _mm512_loadu_si512(b + j * 64));
      }
      float* y = Y + m * ldy + o;
      const __m512 s = _mm512_mul_ps(_mm512_set1_ps(d[m]), bs);
      _mm512_mask_storeu_ps(y, mask, _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), s, _mm512_maskz_loadu_ps(mask, y)));
    }
  }
}

}  // namespace avx512
}  // namespace first
