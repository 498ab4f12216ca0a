// Q4_0 weights (32 per block, value = (q - 8) * d), dotted with Q8_0 activations.
#include <cmath>

#include "first/quant.h"
#include "quant/blocks.h"
#include "quant/kernels.h"

namespace first {
namespace quant {

void quantize_q4_0(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    // The extreme value maps to q = 0 (-8), which has no positive twin.
    float amax = 0, max = 0;
    for (int j = 0; j < kQK; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8;
    const float id = d != 0 ? 1 / d : 0;
    y[b].d = f32_to_f16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      int lo = static_cast<int>(x[j] * id + 8.5f);
      int hi = static_cast<int>(x[j + kQK / 2] * id + 8.5f);
      lo = lo > 15 ? 15 : lo;
      hi = hi > 15 ? 15 : hi;
      y[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void dequantize_q4_0(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ4_0*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, dst += kQK) {
    const float d = f16_to_f32(x[b].d);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = static_cast<float>((x[b].qs[j] & 0xF) - 8) * d;
      dst[j + kQK / 2] = static_cast<float>((x[b].qs[j] >> 4) - 8) * d;
    }
  }
}

float dot_q4_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  float sum = 0;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      sumi += ((x[b].qs[j] & 0xF) - 8) * y[b].qs[j];
      sumi += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + kQK / 2];
    }
    sum += static_cast<float>(sumi) * f16_to_f32(x[b].d) * f16_to_f32(y[b].d);
  }
  return sum;
}

}  // namespace quant
}  // namespace first
