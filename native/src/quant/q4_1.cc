// Q4_1 weights (32 per block, value = q * d + m), dotted with Q8_1 activations:
// sum(w * a) = d_w * d_a * sum(q_w * q_a) + m_w * s_a, with s_a = d_a * sum(q_a).
#include <cfloat>

#include "first/quant.h"
#include "quant/blocks.h"
#include "quant/kernels.h"

namespace first {
namespace quant {

void quantize_q4_1(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_1*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < kQK; ++j) {
      min = x[j] < min ? x[j] : min;
      max = x[j] > max ? x[j] : max;
    }
    const float d = (max - min) / 15;
    const float id = d != 0 ? 1 / d : 0;
    y[b].d = f32_to_f16(d);
    y[b].m = f32_to_f16(min);
    for (int j = 0; j < kQK / 2; ++j) {
      int lo = static_cast<int>((x[j] - min) * id + 0.5f);
      int hi = static_cast<int>((x[j + kQK / 2] - min) * id + 0.5f);
      lo = lo > 15 ? 15 : lo;
      hi = hi > 15 ? 15 : hi;
      y[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void dequantize_q4_1(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ4_1*>(src);
  for (int64_t b = 0; b < n / kQK; ++b, dst += kQK) {
    const float d = f16_to_f32(x[b].d);
    const float m = f16_to_f32(x[b].m);
    for (int j = 0; j < kQK / 2; ++j) {
      dst[j] = static_cast<float>(x[b].qs[j] & 0xF) * d + m;
      dst[j + kQK / 2] = static_cast<float>(x[b].qs[j] >> 4) * d + m;
    }
  }
}

float dot_q4_1(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_1*>(w);
  const auto* y = static_cast<const BlockQ8_1*>(a);
  float sum = 0;
  for (int64_t b = 0; b < n / kQK; ++b) {
    int sumi = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      sumi += (x[b].qs[j] & 0xF) * y[b].qs[j];
      sumi += (x[b].qs[j] >> 4) * y[b].qs[j + kQK / 2];
    }
    sum += static_cast<float>(sumi) * f16_to_f32(x[b].d) * f16_to_f32(y[b].d) +
           f16_to_f32(x[b].m) * f16_to_f32(y[b].s);
  }
  return sum;
}

}  // namespace quant
}  // namespace first
