// AVX-512 VNNI Q4_0 x Q8_0: the per-row kernel (offset_pairs_avx512.h, the
// -8 offset folded into the sums' start) and the row-group kernel.
#include "first/row_groups.h"
#include "quant/avx512_util.h"
#include "quant/offset_pairs_avx512.h"
#include "quant/blocks.h"
#include "quant/kernels.h"

namespace first {
namespace quant {
namespace avx512 {

namespace {

constexpr int kPrefetchBlocks = 8;

// Nibbles as unpack_nibble_pair lays them out, activations reordered to match;
// sum lanes 0-3 and 8-11 belong to the first block, 4-7 and 12-15 to the second.
struct Q4_0Pairs {
  using Block = BlockQ4_0;
  static constexpr int kOffset = 8;
  static constexpr int kPrefetchLines = 1;
  static __m512i weights(const Block* b, const Block* next) { return unpack_nibble_pair(b->qs, next ? next->qs : nullptr); }
  static __m512i activations(const BlockQ8_0* a, const BlockQ8_0* next) {
    return nibble_order(load_block_pair(reinterpret_cast<const uint8_t*>(a->qs), next ? reinterpret_cast<const uint8_t*>(next->qs) : nullptr));
  }
  static __m512i lanes(int r) {
    const int x = 2 * r, y = 2 * r + 1;
    return _mm512_setr_epi32(x, x, x, x, y, y, y, y, x, x, x, x, y, y, y, y);
  }
};
using Q4_0Kernel = OffsetPairKernel<Q4_0Pairs>;

// Row groups (first/row_groups.h): per block the 16 rows' d, then 4 columns of
// 64 bytes as for Q4_1; the -8 offset comes off as 8 * sum(a) per block.
struct Q4_0Groups {
  static constexpr int kCols = 4;
  static constexpr size_t kBlock = 2 * kRowGroup + 4 * 64;

  template <int C>
  static void run(int64_t n, const uint8_t* grp, const uint8_t* a, size_t as, float* y, int64_t ldy, bool accumulate) {
    __m512 acc[C];
    for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    for (int64_t b = 0; b < n / kQK; ++b) {
      const uint8_t* blk = grp + b * kBlock;
      prefetch_ahead(blk + kPrefetchBlocks * kBlock, kBlock);
      const __m512 d = _mm512_cvtph_ps(load256(blk));
      __m512i lo[4], hi[4];
      for (int j = 0; j < 4; ++j) {
        const __m512i v = _mm512_loadu_si512(blk + 32 + 64 * j);
        lo[j] = _mm512_and_si512(v, low4);
        hi[j] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
      }
      for (int c = 0; c < C; ++c) {
        const BlockQ8_0* ab = reinterpret_cast<const BlockQ8_0*>(a + c * as) + b;
        __m512i s0 = _mm512_set1_epi32(-8 * sum_i8x32(ab->qs)), s1 = _mm512_setzero_si512();
        for (int j = 0; j < 4; ++j) {
          s0 = dot_u8s8(s0, lo[j], bcast4(ab->qs + 4 * j));
          s1 = dot_u8s8(s1, hi[j], bcast4(ab->qs + 16 + 4 * j));
        }
        const __m512 scale = _mm512_mul_ps(d, _mm512_set1_ps(_cvtsh_ss(ab->d)));
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), scale, acc[c]);
      }
    }
    for (int c = 0; c < C; ++c) put16(y + c * ldy, acc[c], accumulate);
  }
};

}  // namespace

void group_tile_q4_0(int64_t n, const uint8_t* groups, size_t group_bytes, int ngroups, const uint8_t* a,
                     size_t a_stride, int nc, float* y, int64_t ldy, bool accumulate) {
  drive_groups<Q4_0Groups>(n, groups, group_bytes, ngroups, a, a_stride, nc, y, ldy, accumulate);
}

float dot_q4_0(int64_t n, const void* w, const void* a) {
  float out;
  Q4_0Kernel::run<1, 1>(n / kQK, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(a), 0, &out, 0, false);
  return out;
}

void tile_q4_0(int64_t n, const uint8_t* w, size_t w_stride, int nr, const uint8_t* a, size_t a_stride, int nc,
               float* y, int64_t ldy, bool accumulate) {
  drive_tile<Q4_0Kernel>(n / kQK, w, w_stride, nr, a, a_stride, nc, y, ldy, accumulate);
}

}  // namespace avx512
}  // namespace quant
}  // namespace first
