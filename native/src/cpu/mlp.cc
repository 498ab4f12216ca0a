#include <cmath>

#include "first/ops.h"
#include "first/quant.h"
#include "first/vec.h"

namespace first {

void silu_mul(const float* gate, const float* up, float* out, int64_t n) { vec_silu_mul_f32(gate, up, out, n); }

// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) with input and output
// rounded to f16 inside (-10, 10), as llama.cpp's CPU GELU table gives it:
// GGUF Gemma models are tuned and checked against that, and full precision
// here would move log-probabilities by ~1e-3 (more once activations are
// quantized for the next matmul). The rounding is below bf16's, the type
// the models are trained in.
double gelu_tanh_exact(double x) { return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

float gelu_tanh(float x) {
  if (x <= -10.f) return 0.f;
  if (x >= 10.f) return x;
  const double g = gelu_tanh_exact(f16_to_f32(f32_to_f16(x)));
  return f16_to_f32(f32_to_f16(static_cast<float>(g)));
}

void gelu_tanh_exact_mul(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(gelu_tanh_exact(gate[i])) * up[i];
}

void gelu_tanh_mul(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gelu_tanh(gate[i]) * up[i];
}

}  // namespace first
