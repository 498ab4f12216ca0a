#include <cmath>

#include "first/ops.h"
#include "first/vec.h"

namespace first {

void rmsnorm(const float* x, const float* w, float* y, int64_t n_rows, int64_t d, float eps) {
  for (int64_t r = 0; r < n_rows; ++r) {
    const float* xr = x + r * d;
    float* yr = y + r * d;
    const float scale = 1.0f / std::sqrt(vec_sumsq_f32(xr, d) / static_cast<float>(d) + eps);
    for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * scale * w[i];
  }
}

}  // namespace first
