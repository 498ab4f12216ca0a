// AVX-512 VNNI Q4_1 x Q8_1: two blocks per 512-bit step. vpdpbusd takes the
// unsigned nibbles times the signed activations straight into int32 sums
// (AVX2 needs maddubs + madd); each block's sum is then scaled by d_w * d_a
// and the min term m_w * s_a is summed on the side.
#include "first/row_groups.h"
#include "quant/avx512_util.h"
#include "quant/blocks.h"
#include "quant/kernels.h"

namespace first {
namespace quant {
namespace avx512 {

namespace {

constexpr int kPrefetchBlocks = 8;

struct Q4_1Kernel {
  static constexpr int kCols = 4;

  // Blocks b and b + 1 (Pair) or block b alone, for R weight rows x C activation rows.
  template <int R, int C, bool Pair>
  static inline void step(int64_t b, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, __m512 (&acc)[R][C],
                          __m512 (&acc_min)[C]) {
    const BlockQ4_1* wb[R];
    for (int r = 0; r < R; ++r) {
      wb[r] = reinterpret_cast<const BlockQ4_1*>(w + r * ws) + b;
      _mm_prefetch(reinterpret_cast<const char*>(wb[r] + kPrefetchBlocks), _MM_HINT_T0);
    }
    // (d, m) of both blocks of each row as halves: lanes 4r..4r+3 = [d_b, m_b, d_b1, m_b1].
    auto dm_of = [&](int r) -> long long {
      const uint64_t lo = load_u32(wb[r % R]), hi = Pair ? load_u32(wb[r % R] + 1) : 0;
      return static_cast<long long>(lo | hi << 32);
    };
    const __m512 dm = _mm512_cvtph_ps(_mm256_set_epi64x(dm_of(3), dm_of(2), dm_of(1), dm_of(0)));
    __m512i q[R];
    for (int r = 0; r < R; ++r) q[r] = unpack_nibble_pair(wb[r]->qs, Pair ? wb[r][1].qs : nullptr);
    for (int c = 0; c < C; ++c) {
      const BlockQ8_1* ab = reinterpret_cast<const BlockQ8_1*>(a + c * as) + b;
      const uint64_t ds_lo = load_u32(ab), ds_hi = Pair ? load_u32(ab + 1) : 0;
      const __m512 ds = _mm512_cvtph_ps(_mm256_set1_epi64x(static_cast<long long>(ds_lo | ds_hi << 32)));
      const __m512 prod = _mm512_mul_ps(dm, ds);  // per row: [d*d_a, m*s_a] of each block
      acc_min[c] = _mm512_add_ps(acc_min[c], prod);
      const __m512i av = nibble_order(load_block_pair(reinterpret_cast<const uint8_t*>(ab->qs),
                                                      Pair ? reinterpret_cast<const uint8_t*>(ab[1].qs) : nullptr));
      for (int r = 0; r < R; ++r) {
        // Sum lanes 0-3 and 8-11 belong to block b, 4-7 and 12-15 to block b + 1.
        const __m512i idx = _mm512_setr_epi32(4 * r, 4 * r, 4 * r, 4 * r, 4 * r + 2, 4 * r + 2, 4 * r + 2, 4 * r + 2,
                                              4 * r, 4 * r, 4 * r, 4 * r, 4 * r + 2, 4 * r + 2, 4 * r + 2, 4 * r + 2);
        const __m512 scale = _mm512_permutexvar_ps(idx, prod);
        const __m512i sumi = dot_u8s8(_mm512_setzero_si512(), q[r], av);
        acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), scale, acc[r][c]);
      }
    }
  }

  template <int R, int C>
  static void run(int64_t nb, const uint8_t* w, size_t ws, const uint8_t* a, size_t as, float* y, int64_t ldy,
                  bool accumulate) {
    __m512 acc[R][C], acc_min[C];
    for (int c = 0; c < C; ++c) {
      acc_min[c] = _mm512_setzero_ps();
      for (int r = 0; r < R; ++r) acc[r][c] = _mm512_setzero_ps();
    }
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) step<R, C, true>(b, w, ws, a, as, acc, acc_min);
    if (b < nb) step<R, C, false>(b, w, ws, a, as, acc, acc_min);
    for (int c = 0; c < C; ++c) {
      alignas(64) float mins[16];
      _mm512_store_ps(mins, acc_min[c]);
      for (int r = 0; r < R; ++r)
        put(&y[c * ldy + r], _mm512_reduce_add_ps(acc[r][c]) + mins[4 * r + 1] + mins[4 * r + 3], accumulate);
    }
  }
};

// Row groups (first/row_groups.h): per block the 16 rows' d and m, then 4
// columns of 64 bytes whose low nibbles hold elements 4j..4j+3 and high
// nibbles elements 16+4j..16+4j+3 of every row.
struct Q4_1Groups {
  static constexpr int kCols = 4;
  static constexpr size_t kBlock = 4 * kRowGroup + 4 * 64;

  template <int C>
  static void run(int64_t n, const uint8_t* grp, const uint8_t* a, size_t as, float* y, int64_t ldy, bool accumulate) {
    __m512 acc[C];
    for (int c = 0; c < C; ++c) acc[c] = _mm512_setzero_ps();
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    for (int64_t b = 0; b < n / kQK; ++b) {
      const uint8_t* blk = grp + b * kBlock;
      prefetch_ahead(blk + kPrefetchBlocks * kBlock, kBlock);
      const __m512 d = _mm512_cvtph_ps(load256(blk)), m = _mm512_cvtph_ps(load256(blk + 32));
      __m512i lo[4], hi[4];
      for (int j = 0; j < 4; ++j) {
        const __m512i v = _mm512_loadu_si512(blk + 64 + 64 * j);
        lo[j] = _mm512_and_si512(v, low4);
        hi[j] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
      }
      for (int c = 0; c < C; ++c) {
        const BlockQ8_1* ab = reinterpret_cast<const BlockQ8_1*>(a + c * as) + b;
        __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();  // two chains: half the latency
        for (int j = 0; j < 4; ++j) {
          s0 = dot_u8s8(s0, lo[j], bcast4(ab->qs + 4 * j));
          s1 = dot_u8s8(s1, hi[j], bcast4(ab->qs + 16 + 4 * j));
        }
        const __m512 scale = _mm512_mul_ps(d, _mm512_set1_ps(_cvtsh_ss(ab->d)));
        acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), scale, acc[c]);
        acc[c] = _mm512_fmadd_ps(m, _mm512_set1_ps(_cvtsh_ss(ab->s)), acc[c]);
      }
    }
    for (int c = 0; c < C; ++c) put16(y + c * ldy, acc[c], accumulate);
  }
};

}  // namespace

void group_tile_q4_1(int64_t n, const uint8_t* groups, size_t group_bytes, int ngroups, const uint8_t* a,
                     size_t a_stride, int nc, float* y, int64_t ldy, bool accumulate) {
  drive_groups<Q4_1Groups>(n, groups, group_bytes, ngroups, a, a_stride, nc, y, ldy, accumulate);
}

float dot_q4_1(int64_t n, const void* w, const void* a) {
  float out;
  Q4_1Kernel::run<1, 1>(n / kQK, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(a), 0, &out, 0, false);
  return out;
}

void tile_q4_1(int64_t n, const uint8_t* w, size_t w_stride, int nr, const uint8_t* a, size_t a_stride, int nc,
               float* y, int64_t ldy, bool accumulate) {
  drive_tile<Q4_1Kernel>(n / kQK, w, w_stride, nr, a, a_stride, nc, y, ldy, accumulate);
}

}  // namespace avx512
}  // namespace quant
}  // namespace first
