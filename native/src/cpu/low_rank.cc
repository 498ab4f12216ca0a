#include "first/low_rank.h"

#include "first/error.h"
#include "first/quant.h"
#include "first/vec.h"

namespace first {

LowRank make_low_rank(int rank, int64_t in, int64_t out, float scale, const float* A, const float* B) {
  if (rank <= 0 || in <= 0 || out <= 0) throw Error("low-rank term: rank and sizes must be positive");
  LowRank lr;
  lr.rank = rank;
  lr.in = in;
  lr.out = out;
  lr.scale = scale;
  lr.A.resize(static_cast<size_t>(rank) * in);
  for (size_t i = 0; i < lr.A.size(); ++i) lr.A[i] = f32_to_f16(A[i]);
  const int64_t blocks = (out + 7) / 8;
  lr.B.assign(static_cast<size_t>(blocks) * rank * 8, 0);
  for (int64_t o = 0; o < out; ++o)
    for (int k = 0; k < rank; ++k) lr.B[(o / 8) * rank * 8 + k * 8 + o % 8] = f32_to_f16(B[o * rank + k]);
  return lr;
}

namespace scalar {
void low_rank_project(const LowRank& lr, const float* x, float* t) {
  for (int k = 0; k < lr.rank; ++k) t[k] = lr.scale * scalar::vec_dot(TensorType::F16, lr.in, lr.A.data() + k * lr.in, x);
}

void low_rank_expand(const LowRank& lr, const float* t, float* y, int64_t o0, int64_t o1) {
  for (int64_t o = o0; o < o1; ++o) {
    const uint16_t* b = lr.B.data() + (o / 8) * lr.rank * 8 + o % 8;
    float s = 0.f;
    for (int k = 0; k < lr.rank; ++k) s += f16_to_f32(b[k * 8]) * t[k];
    y[o] += s;
  }
}
}  // namespace scalar

// The projection is rank dots of length in: the F16 dot kernel of the active set.
void low_rank_project(const LowRank& lr, const float* x, float* t) {
  for (int k = 0; k < lr.rank; ++k) t[k] = lr.scale * vec_dot(TensorType::F16, lr.in, lr.A.data() + k * lr.in, x);
}

void low_rank_expand(const LowRank& lr, const float* t, float* y, int64_t o0, int64_t o1) {
  if (use_avx512())
    avx512::low_rank_expand(lr, t, y, o0, o1);
  else if (use_avx2())
    avx2::low_rank_expand(lr, t, y, o0, o1);
  else
    scalar::low_rank_expand(lr, t, y, o0, o1);
}

}  // namespace first
