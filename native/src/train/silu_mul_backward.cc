// out = silu(g) * u, silu(g) = g * sigmoid(g):
//   dg = dout * u * sigmoid(g) * (1 + g * (1 - sigmoid(g))),  du = dout * silu(g).
#include <cmath>

#include "first/train.h"

namespace first {

void silu_mul_backward(const float* gate, const float* up, const float* dout, float* dgate, float* dup, int64_t n,
                       ThreadPool* pool) {
  auto range = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float g = gate[i];
      const float s = 1.0f / (1.0f + std::exp(-g));
      const float d = dout[i];
      dup[i] = d * g * s;
      dgate[i] = d * up[i] * s * (1.0f + g * (1.0f - s));
    }
  };
  if (pool && n >= (1 << 14))
    pool->parallel_for(n, range, 1024);
  else
    range(0, n);
}

}  // namespace first
