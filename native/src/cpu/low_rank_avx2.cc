#include <immintrin.h>

#include "first/low_rank.h"
#include "first/quant.h"

namespace first {
namespace avx2 {

// Whole 8-output blocks inside [o0, o1) go 8 lanes at a time (one f16 load and
// one FMA per rank step); the partial blocks at either end go one by one.
void low_rank_expand(const LowRank& lr, const float* t, float* y, int64_t o0, int64_t o1) {
  const int r = lr.rank;
  auto one = [&](int64_t o) {
    const uint16_t* b = lr.B.data() + (o / 8) * r * 8 + o % 8;
    float s = 0.f;
    for (int k = 0; k < r; ++k) s += f16_to_f32(b[k * 8]) * t[k];
    y[o] += s;
  };
  int64_t o = o0;
  for (; o < o1 && o % 8 != 0; ++o) one(o);
  for (; o + 8 <= o1; o += 8) {
    const uint16_t* b = lr.B.data() + (o / 8) * r * 8;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int k = 0;
    for (; k + 2 <= r; k += 2) {
      acc0 = _mm256_fmadd_ps(_mm256_set1_ps(t[k]), _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + k * 8))), acc0);
      acc1 = _mm256_fmadd_ps(_mm256_set1_ps(t[k + 1]),
                             _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + (k + 1) * 8))), acc1);
    }
    if (k < r)
      acc0 = _mm256_fmadd_ps(_mm256_set1_ps(t[k]), _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + k * 8))), acc0);
    _mm256_storeu_ps(y + o, _mm256_add_ps(_mm256_loadu_ps(y + o), _mm256_add_ps(acc0, acc1)));
  }
  for (; o < o1; ++o) one(o);
}

}  // namespace avx2
}  // namespace first
