#include "first/low_rank.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "first/error.h"
#include "first/matmul.h"
#include "first/quant.h"
#include "first/row_groups.h"
#include "first/vec.h"
#include "quant/round.h"

namespace first {

namespace {
// Offset of B's value (o, k) inside its output block.
int64_t in_block(int64_t o, int k) {
  return (k / kLowRankQuad) * kLowRankQuad * kLowRankBlock + (o % kLowRankBlock) * kLowRankQuad + k % kLowRankQuad;
}
}  // namespace

WeightView LowRank::a_view() const {
  WeightView w{a_type, kq, in, A.data(), row_bytes(a_type, in)};
  w.row_groups = a_groups.get();
  return w;
}

LowRank make_low_rank(int rank, int64_t in, int64_t out, float scale, const float* A, const float* B) {
  if (rank <= 0 || in <= 0 || out <= 0) throw Error("low-rank term: rank and sizes must be positive");
  LowRank lr;
  lr.rank = rank;
  lr.kq = (rank + kLowRankQuad - 1) / kLowRankQuad * kLowRankQuad;
  lr.in = in;
  lr.out = out;
  // A: the padded rows are zero, so their t is zero and adds nothing.
  lr.a_type = in % 32 == 0 ? TensorType::Q8_0 : TensorType::F32;
  const size_t rb = row_bytes(lr.a_type, in);
  lr.A.assign(rb * static_cast<size_t>(lr.kq), 0);
  std::vector<float> row(static_cast<size_t>(in));
  for (int k = 0; k < lr.kq; ++k) {
    if (k < rank) std::copy(A + static_cast<int64_t>(k) * in, A + static_cast<int64_t>(k + 1) * in, row.begin());
    else std::fill(row.begin(), row.end(), 0.f);
    quantize_row(lr.a_type, row.data(), lr.A.data() + k * rb, in);
  }
  if (active_kernel_set() == KernelSet::Avx512 && row_groups_supported(lr.a_type) && lr.kq >= kRowGroup) {
    RowGroups g = make_row_groups(lr.a_view());
    lr.a_groups = std::shared_ptr<uint8_t>(g.data.release(), RowGroups::Free{});
  }
  // B: one scale per output row (its largest |value| maps to 127), stored as
  // f16 relative to the largest scale of all rows.
  const int64_t blocks = (out + kLowRankBlock - 1) / kLowRankBlock;
  lr.B.assign(static_cast<size_t>(blocks) * lr.block_bytes(), 0);
  std::vector<float> d(static_cast<size_t>(out));
  float d_max = 0.f;
  for (int64_t o = 0; o < out; ++o) {
    float amax = 0.f;
    for (int k = 0; k < rank; ++k) amax = std::max(amax, std::fabs(B[o * rank + k]));
    d[o] = amax / 127.f;
    d_max = std::max(d_max, d[o]);
  }
  lr.scale_unit = scale * d_max;
  for (int64_t o = 0; o < out; ++o) {
    const float* b = B + o * rank;
    const float id = d[o] != 0.f ? 1.f / d[o] : 0.f;
    int8_t* blk = lr.B.data() + static_cast<size_t>(o / kLowRankBlock) * lr.block_bytes();
    for (int k = 0; k < rank; ++k) blk[in_block(o, k)] = static_cast<int8_t>(quant::round_even(b[k] * id));
    const uint16_t s = f32_to_f16(d_max != 0.f ? d[o] / d_max : 0.f);
    std::memcpy(blk + static_cast<size_t>(lr.kq) * kLowRankBlock + (o % kLowRankBlock) * sizeof s, &s, sizeof s);
  }
  return lr;
}

float LowRank::output_scale(int64_t o) const {
  uint16_t s;
  std::memcpy(&s, block_scales(o) + o % kLowRankBlock, sizeof s);
  return f16_to_f32(s) * scale_unit;
}

float low_rank_quantize_t(const float* t, int kq, int8_t* q) {
  float amax = 0.f;
  for (int k = 0; k < kq; ++k) amax = std::max(amax, std::fabs(t[k]));
  const float d = amax / 127.f;
  const float id = d != 0.f ? 1.f / d : 0.f;
  for (int k = 0; k < kq; ++k) q[k] = static_cast<int8_t>(quant::round_even(t[k] * id));
  return d;
}

namespace scalar {
void low_rank_expand(const LowRank& lr, const int8_t* q, const float* d, int64_t M, float* Y, int64_t ldy, int64_t o0,
                     int64_t o1) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t o = o0; o < o1; ++o) {
      const int8_t* blk = lr.block(o);
      int32_t s = 0;
      for (int k = 0; k < lr.kq; ++k) s += static_cast<int32_t>(q[m * lr.kq + k]) * blk[in_block(o, k)];
      Y[m * ldy + o] += static_cast<float>(s) * (d[m] * lr.output_scale(o));
    }
}
}  // namespace scalar

void low_rank_expand(const LowRank& lr, const int8_t* q, const float* d, int64_t M, float* Y, int64_t ldy, int64_t o0,
                     int64_t o1) {
  if (o0 >= o1) return;
  if (o0 % kLowRankBlock != 0) throw Error("low_rank_expand: o0 must be a multiple of 16");
  if (use_avx512())
    avx512::low_rank_expand(lr, q, d, M, Y, ldy, o0, o1);
  else if (use_avx2())
    avx2::low_rank_expand(lr, q, d, M, Y, ldy, o0, o1);
  else
    scalar::low_rank_expand(lr, q, d, M, Y, ldy, o0, o1);
}

}  // namespace first
