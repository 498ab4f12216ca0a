// AVX2 Q4_1 x Q8_1: the hot path of Q4_1 models. Nibbles are u8 and the
// activations s8, so maddubs applies directly; a micro-kernel takes up to 4
// weight rows x C activation rows so every load feeds several products.
#include "quant/avx2_util.h"
#include "quant/blocks.h"
#include "quant/kernels.h"

namespace first {
namespace quant {
namespace avx2 {

namespace {

// Weight rows stream from memory at decode; fetching a few blocks ahead keeps
// more lines in flight than the hardware prefetcher does on its own.
constexpr int kPrefetchBlocks = 8;

struct Q4_1Kernel {
  static constexpr int kCols = 4;

  template <int R, int C>
  static void run(int64_t nb, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* y, int64_t ldy,
                  bool accumulate) {
    __m256 acc[R][C];
    __m256 acc_min[C];  // odd lanes 2r+1: sum over blocks of m_r * s_c
    for (int c = 0; c < C; ++c) {
      acc_min[c] = _mm256_setzero_ps();
      for (int r = 0; r < R; ++r) acc[r][c] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ4_1* wb[R];
      for (int r = 0; r < R; ++r) {
        wb[r] = reinterpret_cast<const BlockQ4_1*>(w + r * ws) + b;
        _mm_prefetch(reinterpret_cast<const char*>(wb[r] + kPrefetchBlocks), _MM_HINT_T0);
      }
      // (d, m) of the R rows, converted together: [d0 m0 d1 m1 ...].
      __m128i dm_half = _mm_cvtsi32_si128(static_cast<int>(load_u32(wb[0])));
      if (R > 1) dm_half = _mm_insert_epi32(dm_half, static_cast<int>(load_u32(wb[1 % R])), 1);
      if (R > 2) dm_half = _mm_insert_epi32(dm_half, static_cast<int>(load_u32(wb[2 % R])), 2);
      if (R > 3) dm_half = _mm_insert_epi32(dm_half, static_cast<int>(load_u32(wb[3 % R])), 3);
      const __m256 dm = _mm256_cvtph_ps(dm_half);
      __m256i q[R];
      for (int r = 0; r < R; ++r) q[r] = unpack_nibbles(wb[r]->qs);
      for (int c = 0; c < C; ++c) {
        const BlockQ8_1* ab = reinterpret_cast<const BlockQ8_1*>(a + c * as) + b;
        const __m256 ds = _mm256_cvtph_ps(_mm_set1_epi32(static_cast<int>(load_u32(ab))));  // [d s d s ...]
        const __m256 prod = _mm256_mul_ps(dm, ds);  // [d_r*d_a, m_r*s_a] per row
        acc_min[c] = _mm256_add_ps(acc_min[c], prod);
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab->qs));
        for (int r = 0; r < R; ++r) {
          const __m256 scale = _mm256_permutevar8x32_ps(prod, _mm256_set1_epi32(2 * r));
          acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_u8s8(q[r], av)), scale, acc[r][c]);
        }
      }
    }
    float mins[C][4];
    for (int c = 0; c < C; ++c) {
      float lanes[8];
      _mm256_storeu_ps(lanes, acc_min[c]);
      for (int r = 0; r < 4; ++r) mins[c][r] = lanes[2 * r + 1];
    }
    store_sums<R, C>(acc, y, ldy, accumulate, mins);
  }
};

}  // namespace

float dot_q4_1(int64_t n, const void* w, const void* a) {
  float out;
  Q4_1Kernel::run<1, 1>(n / kQK, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(a), 0, &out, 0, false);
  return out;
}

void tile_q4_1(int64_t n, const uint8_t* w, size_t w_stride, int nr, const uint8_t* a, size_t a_stride, int nc,
               float* y, int64_t ldy, bool accumulate) {
  drive_tile<Q4_1Kernel>(n / kQK, w, w_stride, nr, a, a_stride, nc, y, ldy, accumulate);
}

}  // namespace avx2
}  // namespace quant
}  // namespace first
