// Activation quantization into the dot partners Q8_0, Q8_1 and Q8_K.
// Q8_0/Q8_1 round like ggml's x86 path: d = amax/127, q = round_even(x * 127/amax).
#include <cmath>
#include <cstring>

#include "first/quant.h"
#include "quant/blocks.h"
#include "quant/kernels.h"
#include "quant/round.h"

namespace first {
namespace quant {

namespace {
// Quantizes 32 values into qs with scale *d_out; returns the sum of the quants.
int quantize_block32(const float* x, float* d_out, int8_t* qs) {
  float amax = 0;
  for (int j = 0; j < kQK; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127.f;
  const float id = amax != 0 ? 127.f / amax : 0.f;
  *d_out = d;
  int sum = 0;
  for (int j = 0; j < kQK; ++j) {
    qs[j] = static_cast<int8_t>(round_even(x[j] * id));
    sum += qs[j];
  }
  return sum;
}
}  // namespace

void quantize_act_q8_0(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b) {
    float d;
    quantize_block32(x + b * kQK, &d, y[b].qs);
    y[b].d = f32_to_f16(d);
  }
}

void quantize_act_q8_1(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_1*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b) {
    float d;
    int sum = quantize_block32(x + b * kQK, &d, y[b].qs);
    y[b].d = f32_to_f16(d);
    y[b].s = f32_to_f16(d * static_cast<float>(sum));
  }
}

void quantize_act_q8_k(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    float amax = 0, max = 0;
    for (int j = 0; j < kQKK; ++j) {
      float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0) {
      std::memset(&y[b], 0, sizeof(BlockQ8_K));
      continue;
    }
    // Scale by the signed extreme so that it lands exactly on -127.
    const float iscale = -127.f / max;
    for (int j = 0; j < kQKK; ++j) {
      int v = round_even(iscale * x[j]);
      y[b].qs[j] = static_cast<int8_t>(v > 127 ? 127 : v);
    }
    for (int g = 0; g < kQKK / 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += y[b].qs[g * 16 + j];
      y[b].bsums[g] = static_cast<int16_t>(sum);
    }
    y[b].d = 1 / iscale;
  }
}

}  // namespace quant
}  // namespace first
