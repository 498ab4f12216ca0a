// AVX2 Q6_K x Q8_K: the 6-bit quants stay unsigned (0..63) for maddubs; the
// -32 offset comes off afterwards as 32 * sum(scale * bsum).
#include "quant/avx2_util.h"
#include "quant/blocks.h"
#include "quant/kernels.h"

namespace first {
namespace quant {
namespace avx2 {

float dot_q6_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i bits45 = _mm256_set1_epi8(0x30);
  float sum = 0;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    __m256i sumi = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = x[b].ql + 64 * half;
      const int8_t* sc = x[b].scales + 8 * half;
      const int8_t* aq = y[b].qs + 128 * half;
      const __m256i ql_a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i ql_b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qh + 32 * half));
      // Run k of 32 elements: low nibble source and the qh bits 2k..2k+1 moved to bits 4..5.
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(ql_a, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), bits45)),
          _mm256_or_si256(_mm256_and_si256(ql_b, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), bits45)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_a, 4), low4), _mm256_and_si256(qh, bits45)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql_b, 4), low4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), bits45)),
      };
      for (int k = 0; k < 4; ++k) {
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(aq + 32 * k));
        // Elements 0..15 of the run belong to scale 2k, 16..31 to scale 2k+1.
        const __m256i scales = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], av), scales));
      }
    }
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(sumi), _mm256_extracti128_si256(sumi, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    int offset = 0;
    for (int g = 0; g < 16; ++g) offset += x[b].scales[g] * y[b].bsums[g];
    sum += half_to_float(x[b].d) * y[b].d * static_cast<float>(_mm_cvtsi128_si32(s) - 32 * offset);
  }
  return sum;
}

}  // namespace avx2
}  // namespace quant
}  // namespace first
