// AVX2 Q4_0 x Q8_0: nibbles stay unsigned for maddubs and the -8 offset is
// taken off as 8 * sum(a), computed once per activation block.
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

struct Q4_0Kernel {
  static constexpr int kCols = 4;

  template <int R, int C>
  static void run(int64_t nb, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* y, int64_t ldy,
                  bool accumulate) {
    __m256 acc[R][C];
    for (int c = 0; c < C; ++c)
      for (int r = 0; r < R; ++r) acc[r][c] = _mm256_setzero_ps();
    const __m256i eights = _mm256_set1_epi8(8);
    const __m256i ones16 = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ4_0* wb[R];
      for (int r = 0; r < R; ++r) {
        wb[r] = reinterpret_cast<const BlockQ4_0*>(w + r * ws) + b;
        _mm_prefetch(reinterpret_cast<const char*>(wb[r] + kPrefetchBlocks), _MM_HINT_T0);
      }
      __m128i d_half = _mm_cvtsi32_si128(load_u16(&wb[0]->d));
      if (R > 1) d_half = _mm_insert_epi16(d_half, load_u16(&wb[1 % R]->d), 1);
      if (R > 2) d_half = _mm_insert_epi16(d_half, load_u16(&wb[2 % R]->d), 2);
      if (R > 3) d_half = _mm_insert_epi16(d_half, load_u16(&wb[3 % R]->d), 3);
      const __m256 dw = _mm256_cvtph_ps(d_half);
      __m256i q[R];
      for (int r = 0; r < R; ++r) q[r] = unpack_nibbles(wb[r]->qs);
      for (int c = 0; c < C; ++c) {
        const BlockQ8_0* ab = reinterpret_cast<const BlockQ8_0*>(a + c * as) + b;
        const __m256 prod = _mm256_mul_ps(dw, _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(load_u16(&ab->d)))));
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab->qs));
        const __m256i offset = _mm256_maddubs_epi16(eights, av);  // pairs of 8 * a
        for (int r = 0; r < R; ++r) {
          const __m256 scale = _mm256_permutevar8x32_ps(prod, _mm256_set1_epi32(r));
          const __m256i pairs = _mm256_sub_epi16(_mm256_maddubs_epi16(q[r], av), offset);
          const __m256i sumi = _mm256_madd_epi16(pairs, ones16);
          acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), scale, acc[r][c]);
        }
      }
    }
    store_sums<R, C>(acc, y, ldy, accumulate);
  }
};

}  // namespace

float dot_q4_0(int64_t n, const void* w, const void* a) {
  float out;
  Q4_0Kernel::run<1, 1>(n / kQK, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(a), 0, &out, 0, false);
  return out;
}

void tile_q4_0(int64_t n, const uint8_t* w, size_t w_stride, int nr, const uint8_t* a, size_t a_stride, int nc,
               float* y, int64_t ldy, bool accumulate) {
  drive_tile<Q4_0Kernel>(n / kQK, w, w_stride, nr, a, a_stride, nc, y, ldy, accumulate);
}

}  // namespace avx2
}  // namespace quant
}  // namespace first
