// Small AVX2 helpers shared by the *_avx2.cc kernels (include only from files
// compiled with -mavx2 -mfma -mf16c).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "quant/tile_driver.h"

namespace first {
namespace quant {
namespace avx2 {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Lane i = horizontal sum of v[i].
inline __m128 hsum4(__m256 v0, __m256 v1, __m256 v2, __m256 v3) {
  __m256 s01 = _mm256_hadd_ps(v0, v1);
  __m256 s23 = _mm256_hadd_ps(v2, v3);
  __m256 s = _mm256_hadd_ps(s01, s23);
  return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

inline uint32_t load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint16_t load_u16(const void* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline float half_to_float(uint16_t h) { return _cvtsh_ss(h); }

// 16 bytes of packed nibbles -> 32 bytes: low nibbles in the low lane
// (elements 0..15), high nibbles in the high lane (elements 16..31).
inline __m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Sum of u8 x s8 products, 8 int32 lanes (each lane sums 4 adjacent products).
inline __m256i dot_u8s8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

}  // namespace avx2
}  // namespace quant
}  // namespace first

namespace first {
namespace quant {
namespace avx2 {

// Writes the R x C horizontal sums of acc (plus extra[c][r], if given) to y.
template <int R, int C>
inline void store_sums(__m256 (&acc)[R][C], float* y, int64_t ldy, bool accumulate, const float (*extra)[4] = nullptr) {
  for (int c = 0; c < C; ++c) {
    float s[4];
    if (R == 4) {
      _mm_storeu_ps(s, hsum4(acc[0][c], acc[1 % R][c], acc[2 % R][c], acc[3 % R][c]));
    } else {
      for (int r = 0; r < R; ++r) s[r] = hsum(acc[r][c]);
    }
    for (int r = 0; r < R; ++r) put(&y[c * ldy + r], extra ? s[r] + extra[c][r] : s[r], accumulate);
  }
}

}  // namespace avx2
}  // namespace quant
}  // namespace first
