// A low-rank correction y += scale * B (A x): the inference form of a LoRA
// adapter, in int8. A is kept as Q8_0 rows, so its projection t = A x runs on
// the same quantized x and tile kernels as the base weight. t is then
// quantized to int8 per token, and B, int8 with one f16 scale per output,
// expands it with integer dot products (vpdpbusd / maddubs). Decoding reads every
// adapter byte once per token, so int8 halves what f16 cost, and prefill runs
// the term at the int8 rate of the base weights instead of an f32 GEMM's.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "first/tensor_type.h"

namespace first {

struct WeightView;

// Outputs per block of B, and the rank step of one integer dot (4 bytes a lane).
constexpr int kLowRankBlock = 16;
constexpr int kLowRankQuad = 4;
// Up to this many tokens, each thread projects with A itself (no extra pass
// over the threads); beyond, A's products run in a pass before the base
// product. Either way each thread expands its own output rows in that pass.
constexpr int64_t kLowRankFusedRows = 16;

struct LowRank {
  int rank = 0;   // as given
  int kq = 0;     // rank rounded up to a multiple of kLowRankQuad (extra rows of A are zero)
  int64_t in = 0, out = 0;
  // A: kq rows of `in` elements, Q8_0 when `in` is whole Q8_0 blocks, else F32.
  TensorType a_type = TensorType::Q8_0;
  std::vector<uint8_t> A;
  std::shared_ptr<uint8_t> a_groups;  // A in row groups where the kernel set has them
  // B in blocks of kLowRankBlock outputs (out padded with zero rows), each one
  // contiguous run that decoding streams: first the int8 values, element (o, k)
  // at (k / 4) * 64 + (o % 16) * 4 + k % 4 (one 64-byte load holds 4 ranks of
  // 16 outputs), then the 16 outputs' scales as f16 in units of scale_unit:
  // output o's scale, scale * max |B row o| / 127, is f16 * scale_unit. The
  // unit is the term's largest scale, so every scale that matters is a normal
  // f16 (rounded by at most 2^-11), and the scales take 2 bytes an output, not 4.
  std::vector<int8_t> B;
  float scale_unit = 0.f;

  size_t block_bytes() const { return static_cast<size_t>(kq) * kLowRankBlock + kLowRankBlock * sizeof(uint16_t); }
  const int8_t* block(int64_t o) const { return B.data() + static_cast<size_t>(o / kLowRankBlock) * block_bytes(); }
  const uint16_t* block_scales(int64_t o) const {
    return reinterpret_cast<const uint16_t*>(block(o) + static_cast<size_t>(kq) * kLowRankBlock);
  }
  float output_scale(int64_t o) const;  // output o's scale in f32
  // A as a weight of kq rows (the projection's output is kq wide).
  WeightView a_view() const;
};

// Builds the int8 form from f32 A (rank x in) and B (out x rank).
LowRank make_low_rank(int rank, int64_t in, int64_t out, float scale, const float* A, const float* B);

// t (kq floats) as int8: q = round(t / d), d = max |t| / 127 (d = 0 and q = 0
// when t is zero); |q| <= 127. The same rounding on every kernel set.
float low_rank_quantize_t(const float* t, int kq, int8_t* q);

// Y[m][o] += d[m] * scale[o] * sum_k q[m][k] B[o][k] for m < M and o in
// [o0, o1); q is M x kq, o0 a multiple of kLowRankBlock.
void low_rank_expand(const LowRank& lr, const int8_t* q, const float* d, int64_t M, float* Y, int64_t ldy, int64_t o0,
                     int64_t o1);

namespace scalar {
void low_rank_expand(const LowRank& lr, const int8_t* q, const float* d, int64_t M, float* Y, int64_t ldy, int64_t o0,
                     int64_t o1);
}  // namespace scalar
namespace avx2 {
void low_rank_expand(const LowRank& lr, const int8_t* q, const float* d, int64_t M, float* Y, int64_t ldy, int64_t o0,
                     int64_t o1);
}  // namespace avx2
namespace avx512 {
void low_rank_expand(const LowRank& lr, const int8_t* q, const float* d, int64_t M, float* Y, int64_t ldy, int64_t o0,
                     int64_t o1);
}  // namespace avx512

}  // namespace first
