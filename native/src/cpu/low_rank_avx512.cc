// AVX-512 expansion of a low-rank (LoRA) term: two 8-output blocks of B (f16,
// laid out as in low_rank.cc) per 16-lane step; the ends of [o0, o1) that are
// not whole pairs of blocks go to the AVX2 kernel.
#include <immintrin.h>

#include <algorithm>

#include "first/low_rank.h"
#include "first/quant.h"

namespace first {
namespace avx512 {

void low_rank_expand(const LowRank& lr, const float* t, float* y, int64_t o0, int64_t o1) {
  const int r = lr.rank;
  // The partial block at the start and whatever is left at the end take the AVX2 kernel.
  const int64_t head = std::min(o1, (o0 + 7) / 8 * 8);
  avx2::low_rank_expand(lr, t, y, o0, head);
  int64_t o = head;
  for (; o + 16 <= o1; o += 16) {
    const uint16_t* b0 = lr.B.data() + (o / 8) * r * 8;  // outputs o..o+7
    const uint16_t* b1 = b0 + r * 8;                      // outputs o+8..o+15
    __m512 acc = _mm512_setzero_ps();
    for (int k = 0; k < r; ++k) {
      const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b0 + k * 8))),
                                                _mm_loadu_si128(reinterpret_cast<const __m128i*>(b1 + k * 8)), 1);
      acc = _mm512_fmadd_ps(_mm512_set1_ps(t[k]), _mm512_cvtph_ps(h), acc);
    }
    _mm512_storeu_ps(y + o, _mm512_add_ps(_mm512_loadu_ps(y + o), acc));
  }
  avx2::low_rank_expand(lr, t, y, o, o1);
}

}  // namespace avx512
}  // namespace first
