// AVX-512 VNNI Q6_K x Q8_K: the 6-bit quants stay unsigned (0..63) for
// vpdpbusd, two runs of 32 (contiguous activations) per 512-bit step, each
// 4-element sum then multiplied by its 16-element group's scale; the -32
// offset comes off afterwards as 32 * sum(scale * bsum).
#include "quant/avx512_util.h"
#include "quant/blocks.h"
#include "quant/kernels.h"

namespace first {
namespace quant {
namespace avx512 {

float dot_q6_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i bits45 = _mm256_set1_epi8(0x30);
  // int32 lane i of a 64-element step belongs to scale i / 4 (16 elements per scale).
  const __m512i scale_idx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  float sum = 0;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    __m512i sumi = _mm512_setzero_si512();
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = x[b].ql + 64 * half;
      const int8_t* aq = y[b].qs + 128 * half;
      const __m256i ql_a = load256(ql), ql_b = load256(ql + 32), qh = load256(x[b].qh + 32 * half);
      // Runs 0..3 of 32: low nibble source and the qh bits 2k..2k+1 moved to bits 4..5.
      const __m256i q0 = _mm256_or_si256(_mm256_and_si256(ql_a, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45));
      const __m256i q1 = _mm256_or_si256(_mm256_and_si256(ql_b, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45));
      const __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_a, 4), low4), _mm256_and_si256(qh, bits45));
      const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_b, 4), low4),
                                         _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45));
      // The 8 scales of this half as int32: runs 0-1 use scales 0..3, runs 2-3 scales 4..7.
      const __m512i sc32 = _mm512_castsi256_si512(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(x[b].scales + 8 * half))));
      const __m512i s01 = _mm512_permutexvar_epi32(scale_idx, sc32);
      const __m512i s23 = _mm512_permutexvar_epi32(_mm512_add_epi32(scale_idx, _mm512_set1_epi32(4)), sc32);
      const __m512i qa = _mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1);
      const __m512i qb = _mm512_inserti64x4(_mm512_castsi256_si512(q2), q3, 1);
      sumi = _mm512_add_epi32(sumi, _mm512_mullo_epi32(dot_u8s8(_mm512_setzero_si512(), qa, _mm512_loadu_si512(aq)), s01));
      sumi = _mm512_add_epi32(sumi, _mm512_mullo_epi32(dot_u8s8(_mm512_setzero_si512(), qb, _mm512_loadu_si512(aq + 64)), s23));
    }
    // 32 * sum(scale * bsum): 16 int16 products summed in pairs by madd.
    const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].bsums));
    const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].scales)));
    const int offset = _mm512_reduce_add_epi32(_mm512_zextsi256_si512(_mm256_madd_epi16(bs, sc)));
    sum += _cvtsh_ss(x[b].d) * y[b].d * static_cast<float>(_mm512_reduce_add_epi32(sumi) - 32 * offset);
  }
  return sum;
}

}  // namespace avx512
}  // namespace quant
}  // namespace first
