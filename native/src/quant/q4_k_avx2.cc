// AVX2 Q4_K x Q8_K: per sub-block, maddubs then madd with the 6-bit scale gives
// scaled int32 sums directly; the mins use the activation's 16-element sums.
#include "quant/avx2_util.h"
#include "quant/blocks.h"
#include "quant/kernels.h"

namespace first {
namespace quant {
namespace avx2 {

float dot_q4_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc = _mm256_setzero_ps();
  float mins_total = 0;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    int sc[8], m[8];
    for (int j = 0; j < 8; ++j) q4_k_scale_min(j, x[b].scales, &sc[j], &m[j]);
    __m256i sumi = _mm256_setzero_si256();
    int mins = 0;
    for (int c = 0; c < 4; ++c) {
      const __m256i qv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs + 32 * c));
      const __m256i lo = _mm256_and_si256(qv, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), low4);
      const __m256i a0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs + 64 * c));
      const __m256i a1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs + 64 * c + 32));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(lo, a0), _mm256_set1_epi16(static_cast<short>(sc[2 * c]))));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(hi, a1), _mm256_set1_epi16(static_cast<short>(sc[2 * c + 1]))));
      mins += m[2 * c] * (y[b].bsums[4 * c] + y[b].bsums[4 * c + 1]) + m[2 * c + 1] * (y[b].bsums[4 * c + 2] + y[b].bsums[4 * c + 3]);
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(y[b].d * half_to_float(x[b].d)), _mm256_cvtepi32_ps(sumi), acc);
    mins_total += y[b].d * half_to_float(x[b].dmin) * static_cast<float>(mins);
  }
  return hsum(acc) - mins_total;
}

}  // namespace avx2
}  // namespace quant
}  // namespace first
