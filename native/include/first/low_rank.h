// A low-rank correction y += scale * B (A x) computed inside a matmul's pass
// (the decode form of a LoRA adapter). A and B are held in f16: decoding reads
// every adapter weight once per token, so their bytes are what it costs.
#pragma once
#include <cstdint>
#include <vector>

namespace first {

// Rows up to this many take the fused path (decoding and small batches).
constexpr int64_t kLowRankMaxRows = 16;

struct LowRank {
  int rank = 0;
  int64_t in = 0, out = 0;
  float scale = 0.f;
  std::vector<uint16_t> A;  // rank x in, f16
  // B (out x rank) in f16, packed by blocks of 8 outputs: element (o, k) at
  // (o / 8) * rank * 8 + k * 8 + o % 8, out padded to a multiple of 8 with zeros,
  // so one output block is one contiguous run of rank x 8 values.
  std::vector<uint16_t> B;
};

// Builds the f16 form from f32 A (rank x in) and B (out x rank).
LowRank make_low_rank(int rank, int64_t in, int64_t out, float scale, const float* A, const float* B);

// t[k] = scale * dot(A row k, x) for k < rank.
void low_rank_project(const LowRank& lr, const float* x, float* t);
// y[o] += sum_k B[o][k] * t[k] for o in [o0, o1).
void low_rank_expand(const LowRank& lr, const float* t, float* y, int64_t o0, int64_t o1);

namespace scalar {
void low_rank_project(const LowRank& lr, const float* x, float* t);
void low_rank_expand(const LowRank& lr, const float* t, float* y, int64_t o0, int64_t o1);
}  // namespace scalar
namespace avx2 {
void low_rank_expand(const LowRank& lr, const float* t, float* y, int64_t o0, int64_t o1);
}  // namespace avx2

namespace avx512 {
void low_rank_expand(const LowRank& lr, const float* t, float* y, int64_t o0, int64_t o1);
}  // namespace avx512

}  // namespace first
