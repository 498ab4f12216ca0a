// Small AVX-512 helpers shared by the *_avx512.cc kernels (include only from
// files compiled with the AVX-512 flags, see native/CMakeLists.txt).
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "quant/tile_driver.h"

namespace first {
namespace quant {
namespace avx512 {

inline uint16_t load_u16(const void* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Two blocks' 32 bytes side by side: [p | q], or [p | 0] when q is null.
inline __m512i load_block_pair(const uint8_t* p, const uint8_t* q) {
  const __m512i lo = _mm512_castsi256_si512(load256(p));
  return q ? _mm512_inserti64x4(lo, load256(q), 1) : _mm512_zextsi256_si512(load256(p));
}

// Two Q4 blocks' 16 bytes of nibbles -> 64 bytes in 128-bit lanes
// [low nibbles p, low nibbles q, high nibbles p, high nibbles q] (q null: zeros).
inline __m512i unpack_nibble_pair(const uint8_t* p, const uint8_t* q) {
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i raw = q ? _mm256_inserti128_si256(_mm256_castsi128_si256(lo), _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)), 1)
                        : _mm256_zextsi128_si256(lo);
  const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(raw), _mm256_srli_epi16(raw, 4), 1);
  return _mm512_and_si512(both, _mm512_set1_epi8(0x0F));
}

// Activation pair [a(32) | b(32)] reordered to match unpack_nibble_pair:
// [a 0..15, b 0..15, a 16..31, b 16..31].
inline __m512i nibble_order(__m512i v) { return _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0)); }

// Sums of u8 x s8 products, 16 int32 lanes of 4 adjacent products each, added to acc.
inline __m512i dot_u8s8(__m512i acc, __m512i u, __m512i s) { return _mm512_dpbusd_epi32(acc, u, s); }

}  // namespace avx512
}  // namespace quant
}  // namespace first

namespace first {
namespace quant {
namespace avx512 {

// Runs K::run<C>(n, group, a, as, y, ldy, accumulate) over ngroups row groups
// and nc activation rows, K::kCols columns at a time, then one by one.
template <class K>
void drive_groups(int64_t n, const uint8_t* groups, size_t group_bytes, int ngroups, const uint8_t* a, size_t as, int nc,
                  float* y, int64_t ldy, bool accumulate) {
  for (int g = 0; g < ngroups; ++g) {
    const uint8_t* grp = groups + static_cast<size_t>(g) * group_bytes;
    float* yg = y + 16 * g;
    int c = 0;
    for (; c + K::kCols <= nc; c += K::kCols) K::template run<K::kCols>(n, grp, a + c * as, as, yg + c * ldy, ldy, accumulate);
    for (; c < nc; ++c) K::template run<1>(n, grp, a + c * as, as, yg + c * ldy, ldy, accumulate);
  }
}

// Stores or adds 16 outputs.
inline void put16(float* y, __m512 v, bool accumulate) {
  _mm512_storeu_ps(y, accumulate ? _mm512_add_ps(_mm512_loadu_ps(y), v) : v);
}

// 4 activation bytes at p, broadcast to all 16 lanes (one row each).
inline __m512i bcast4(const int8_t* p) { return _mm512_set1_epi32(static_cast<int>(load_u32(p))); }

}  // namespace avx512
}  // namespace quant
}  // namespace first

namespace first {
namespace quant {
namespace avx512 {

// Sum of 32 signed bytes.
inline int sum_i8x32(const int8_t* p) {
  const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), load256(p));
  __m128i x = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(1, 0, 3, 2)));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(x);
}

// Prefetches the `bytes` of a block `ahead` bytes on, a cache line at a time.
inline void prefetch_ahead(const uint8_t* p, size_t bytes) {
  for (size_t off = 0; off < bytes; off += 64) _mm_prefetch(reinterpret_cast<const char*>(p + off), _MM_HINT_T0);
}

}  // namespace avx512
}  // namespace quant
}  // namespace first
