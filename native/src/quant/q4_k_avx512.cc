// AVX-512 VNNI Q4_K x Q8_K: each 32 bytes of nibbles hold two sub-blocks (low
// and high nibbles) whose 64 activations lie side by side, so one vpdpbusd
// and one multiply by the two 6-bit scales cover both; the mins use the
// activation's 16-element sums.
#include "quant/avx512_util.h"
#include "quant/blocks.h"
#include "quant/kernels.h"

namespace first {
namespace quant {
namespace avx512 {

float dot_q4_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m512 acc = _mm512_setzero_ps();
  float mins_total = 0;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    int sc[8], m[8];
    for (int j = 0; j < 8; ++j) q4_k_scale_min(j, x[b].scales, &sc[j], &m[j]);
    __m512i sumi = _mm512_setzero_si512();
    int mins = 0;
    for (int c = 0; c < 4; ++c) {
      const __m256i qv = load256(x[b].qs + 32 * c);
      const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(qv, low4)),
                                           _mm256_and_si256(_mm256_srli_epi16(qv, 4), low4), 1);
      const __m512i av = _mm512_loadu_si512(y[b].qs + 64 * c);
      // Sum lanes 0-7 belong to sub-block 2c, 8-15 to 2c + 1.
      const __m512i scales = _mm512_inserti64x4(_mm512_set1_epi32(sc[2 * c]), _mm256_set1_epi32(sc[2 * c + 1]), 1);
      sumi = _mm512_add_epi32(sumi, _mm512_mullo_epi32(dot_u8s8(_mm512_setzero_si512(), q, av), scales));
      mins += m[2 * c] * (y[b].bsums[4 * c] + y[b].bsums[4 * c + 1]) +
              m[2 * c + 1] * (y[b].bsums[4 * c + 2] + y[b].bsums[4 * c + 3]);
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(y[b].d * _cvtsh_ss(x[b].d)), _mm512_cvtepi32_ps(sumi), acc);
    mins_total += y[b].d * _cvtsh_ss(x[b].dmin) * static_cast<float>(mins);
  }
  return _mm512_reduce_add_ps(acc) - mins_total;
}

}  // namespace avx512
}  // namespace quant
}  // namespace first
