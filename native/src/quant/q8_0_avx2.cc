// AVX2 Q8_0 x Q8_0 (the tied output head of small models). maddubs needs one
// unsigned operand, so each product is |w| * (a with w's sign).
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

struct Q8_0Kernel {
  static constexpr int kCols = 2;

  template <int R, int C>
  static void run(int64_t nb, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* y, int64_t ldy,
                  bool accumulate) {
    __m256 acc[R][C];
    for (int c = 0; c < C; ++c)
      for (int r = 0; r < R; ++r) acc[r][c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ8_0* wb[R];
      for (int r = 0; r < R; ++r) {
        wb[r] = reinterpret_cast<const BlockQ8_0*>(w + r * ws) + b;
        _mm_prefetch(reinterpret_cast<const char*>(wb[r] + kPrefetchBlocks), _MM_HINT_T0);
      }
      __m128i d_half = _mm_cvtsi32_si128(load_u16(&wb[0]->d));
      if (R > 1) d_half = _mm_insert_epi16(d_half, load_u16(&wb[1 % R]->d), 1);
      if (R > 2) d_half = _mm_insert_epi16(d_half, load_u16(&wb[2 % R]->d), 2);
      if (R > 3) d_half = _mm_insert_epi16(d_half, load_u16(&wb[3 % R]->d), 3);
      const __m256 dw = _mm256_cvtph_ps(d_half);
      __m256i qw[R], qw_abs[R];
      for (int r = 0; r < R; ++r) {
        qw[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb[r]->qs));
        qw_abs[r] = _mm256_sign_epi8(qw[r], qw[r]);
      }
      for (int c = 0; c < C; ++c) {
        const BlockQ8_0* ab = reinterpret_cast<const BlockQ8_0*>(a + c * as) + b;
        const __m256 prod = _mm256_mul_ps(dw, _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(load_u16(&ab->d)))));
        const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ab->qs));
        for (int r = 0; r < R; ++r) {
          const __m256 scale = _mm256_permutevar8x32_ps(prod, _mm256_set1_epi32(r));
          const __m256i sumi = dot_u8s8(qw_abs[r], _mm256_sign_epi8(av, qw[r]));
          acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), scale, acc[r][c]);
        }
      }
    }
    store_sums<R, C>(acc, y, ldy, accumulate);
  }
};

}  // namespace

float dot_q8_0(int64_t n, const void* w, const void* a) {
  float out;
  Q8_0Kernel::run<1, 1>(n / kQK, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(a), 0, &out, 0, false);
  return out;
}

void tile_q8_0(int64_t n, const uint8_t* w, size_t w_stride, int nr, const uint8_t* a, size_t a_stride, int nc,
               float* y, int64_t ldy, bool accumulate) {
  drive_tile<Q8_0Kernel>(n / kQK, w, w_stride, nr, a, a_stride, nc, y, ldy, accumulate);
}

}  // namespace avx2
}  // namespace quant
}  // namespace first
