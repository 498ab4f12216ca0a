// Backward of y = x * r * w with r = 1 / sqrt(mean(x^2) + eps):
//   dx = r * (w * dy) - x * r^3 / d * sum(x * w * dy).
#include <cmath>

#include "first/train.h"
#include "first/vec.h"

namespace first {

void rmsnorm_backward(const float* x, const float* w, const float* dy, float* dx, int64_t n_rows, int64_t d, float eps,
                      bool accumulate, ThreadPool* pool) {
  auto rows = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * d;
      const float* gr = dy + r * d;
      float* o = dx + r * d;
      const float inv = 1.0f / std::sqrt(vec_sumsq_f32(xr, d) / static_cast<float>(d) + eps);
      double dot = 0;
      for (int64_t i = 0; i < d; ++i) dot += static_cast<double>(xr[i]) * w[i] * gr[i];
      const float k = static_cast<float>(dot) * inv * inv * inv / static_cast<float>(d);
      for (int64_t i = 0; i < d; ++i) {
        const float g = inv * w[i] * gr[i] - xr[i] * k;
        o[i] = accumulate ? o[i] + g : g;
      }
    }
  };
  if (pool && n_rows >= 32)
    pool->parallel_for(n_rows, rows, 8);
  else
    rows(0, n_rows);
}

}  // namespace first
