// The per-row AVX-512 micro-kernel shared by the formats whose value is
// d * (q - offset) against Q8_0 activations (Q4_0: nibbles, offset 8; Q8_0:
// w + 128 as bytes, offset 128). Two blocks per 512-bit step: vpdpbusd takes
// the unsigned quants times the signed activations, each sum starting at
// -offset * sum(a), computed once per activation pair for all rows.
// Include only from files compiled with the AVX-512 flags.
#pragma once
#include "quant/avx512_util.h"
#include "quant/blocks.h"

namespace first {
namespace quant {
namespace avx512 {

// F: Block (the weight block type), kOffset, kPrefetchLines (cache lines per
// block ahead), weights(block, next or null) and activations(block, next or
// null) giving matching 64-byte lanes, and kLanes(r) (the index vector that
// spreads row r's two block scales over the sum lanes of each block).
template <class F>
struct OffsetPairKernel {
  static constexpr int kCols = 4;
  static constexpr int kPrefetchBlocks = 8;

  template <int R, int C, bool Pair>
  static inline void step(int64_t b, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, __m512 (&acc)[R][C]) {
    const typename F::Block* wb[R];
    for (int r = 0; r < R; ++r) {
      wb[r] = reinterpret_cast<const typename F::Block*>(w + r * ws) + b;
      prefetch_ahead(reinterpret_cast<const uint8_t*>(wb[r] + kPrefetchBlocks), 64 * F::kPrefetchLines);
    }
    // d of both blocks of each row: lanes 2r, 2r + 1.
    auto d_of = [&](int r) -> int {
      const uint32_t lo = load_u16(&wb[r % R]->d), hi = Pair ? load_u16(&wb[r % R][1].d) : 0;
      return static_cast<int>(lo | hi << 16);
    };
    const __m256 dw = _mm256_cvtph_ps(_mm_setr_epi32(d_of(0), d_of(1), d_of(2), d_of(3)));
    __m512i q[R];
    for (int r = 0; r < R; ++r) q[r] = F::weights(wb[r], Pair ? wb[r] + 1 : nullptr);
    const __m512i offset_bytes = _mm512_set1_epi8(static_cast<char>(F::kOffset));
    for (int c = 0; c < C; ++c) {
      const BlockQ8_0* ab = reinterpret_cast<const BlockQ8_0*>(a + c * as) + b;
      const uint32_t da_lo = load_u16(&ab->d), da_hi = Pair ? load_u16(&ab[1].d) : 0;
      const __m256 da = _mm256_cvtph_ps(_mm_set1_epi32(static_cast<int>(da_lo | da_hi << 16)));
      const __m512 prod = _mm512_castps256_ps512(_mm256_mul_ps(dw, da));
      const __m512i av = F::activations(ab, Pair ? ab + 1 : nullptr);
      const __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(), dot_u8s8(_mm512_setzero_si512(), offset_bytes, av));
      for (int r = 0; r < R; ++r) {
        const __m512 scale = _mm512_permutexvar_ps(F::lanes(r), prod);
        acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot_u8s8(start, q[r], av)), scale, acc[r][c]);
      }
    }
  }

  template <int R, int C>
  static void run(int64_t nb, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* y, int64_t ldy,
                  bool accumulate) {
    __m512 acc[R][C];
    for (int c = 0; c < C; ++c)
      for (int r = 0; r < R; ++r) acc[r][c] = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) step<R, C, true>(b, w, ws, a, as, acc);
    if (b < nb) step<R, C, false>(b, w, ws, a, as, acc);
    for (int c = 0; c < C; ++c)
      for (int r = 0; r < R; ++r) put(&y[c * ldy + r], _mm512_reduce_add_ps(acc[r][c]), accumulate);
  }
};

}  // namespace avx512
}  // namespace quant
}  // namespace first
