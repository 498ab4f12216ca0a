// out = gelu(g) * u with gelu(g) = 0.5 g (1 + tanh(c (g + 0.044715 g^3))):
//   dg = dout * u * (0.5 (1 + t) + 0.5 g (1 - t^2) c (1 + 3 * 0.044715 g^2)),
//   du = dout * gelu(g),  t = tanh(c (g + 0.044715 g^3)),  c = sqrt(2/pi).
#include <cmath>

#include "first/ops.h"
#include "first/train.h"

namespace first {

void gelu_tanh_mul_backward(const float* gate, const float* up, const float* dout, float* dgate, float* dup, int64_t n,
                            ThreadPool* pool) {
  constexpr double c = 0.7978845608028654, a = 0.044715;
  auto range = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const double g = gate[i];
      const double t = std::tanh(c * (g + a * g * g * g));
      const double slope = 0.5 * (1 + t) + 0.5 * g * (1 - t * t) * c * (1 + 3 * a * g * g);
      const double d = dout[i];
      dup[i] = static_cast<float>(d * 0.5 * g * (1 + t));
      dgate[i] = static_cast<float>(d * up[i] * slope);
    }
  };
  if (pool && n >= (1 << 14))
    pool->parallel_for(n, range, 1024);
  else
    range(0, n);
}

}  // namespace first
