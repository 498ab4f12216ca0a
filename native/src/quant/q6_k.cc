// Q6_K weights (super-blocks of 256 = 16 sub-blocks of 16 with int8 scales,
// 6-bit quants offset by 32), dotted with Q8_K activations.
#include <algorithm>
#include <cmath>

#include "first/quant.h"
#include "quant/blocks.h"
#include "quant/kernels.h"
#include "quant/round.h"

namespace first {
namespace quant {

namespace {
// Each half of 128 elements is four runs of 32: run k takes the low (k < 2) or
// high nibbles of ql[l + 32 * (k & 1)] and bits 2k..2k+1 of qh[l].
inline int q6_at(const BlockQ6_K& blk, int i) {
  const int half = i / 128, k = (i % 128) / 32, l = i % 32;
  const int low = (blk.ql[64 * half + l + 32 * (k & 1)] >> (4 * (k >> 1))) & 0xF;
  const int high = (blk.qh[32 * half + l] >> (2 * k)) & 3;
  return low | (high << 4);
}
}  // namespace

// Plain absmax quantizer (tests and tools).
void quantize_q6_k(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ6_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    float scale[16], max_scale = 0, max_abs_scale = 0;
    for (int g = 0; g < 16; ++g) {
      float amax = 0, max = 0;
      for (int i = 0; i < 16; ++i) {
        if (std::fabs(x[16 * g + i]) > amax) {
          amax = std::fabs(x[16 * g + i]);
          max = x[16 * g + i];
        }
      }
      scale[g] = max / -32;  // the extreme lands on q = -32
      if (std::fabs(scale[g]) > max_abs_scale) {
        max_abs_scale = std::fabs(scale[g]);
        max_scale = scale[g];
      }
    }
    uint8_t q[kQKK];
    if (max_abs_scale == 0) {
      std::fill(q, q + kQKK, 32);
      std::fill(y[b].scales, y[b].scales + 16, 0);
      y[b].d = f32_to_f16(0);
    } else {
      const float iscale = -128.f / max_scale;
      y[b].d = f32_to_f16(1 / iscale);
      const float d = f16_to_f32(y[b].d);
      for (int g = 0; g < 16; ++g) {
        const int sc = std::min(127, round_even(iscale * scale[g]));
        y[b].scales[g] = static_cast<int8_t>(sc);
        const float step = d * static_cast<float>(sc);
        for (int i = 0; i < 16; ++i) {
          const int v = step != 0 ? round_even(x[16 * g + i] / step) : 0;
          q[16 * g + i] = static_cast<uint8_t>(std::clamp(v, -32, 31) + 32);
        }
      }
    }
    for (int half = 0; half < 2; ++half) {
      const uint8_t* qq = q + 128 * half;
      for (int l = 0; l < 32; ++l) {
        y[b].ql[64 * half + l] = static_cast<uint8_t>((qq[l] & 0xF) | ((qq[l + 64] & 0xF) << 4));
        y[b].ql[64 * half + l + 32] = static_cast<uint8_t>((qq[l + 32] & 0xF) | ((qq[l + 96] & 0xF) << 4));
        y[b].qh[32 * half + l] =
            static_cast<uint8_t>((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) | ((qq[l + 64] >> 4) << 4) | ((qq[l + 96] >> 4) << 6));
      }
    }
  }
}

void dequantize_q6_k(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ6_K*>(src);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const float d = f16_to_f32(x[b].d);
    for (int i = 0; i < kQKK; ++i)
      *dst++ = d * static_cast<float>(x[b].scales[i / 16]) * static_cast<float>(q6_at(x[b], i) - 32);
  }
}

float dot_q6_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    int scaled = 0;
    for (int g = 0; g < 16; ++g) {
      int sumi = 0;
      for (int i = 16 * g; i < 16 * g + 16; ++i) sumi += (q6_at(x[b], i) - 32) * y[b].qs[i];
      scaled += x[b].scales[g] * sumi;
    }
    sum += f16_to_f32(x[b].d) * y[b].d * static_cast<float>(scaled);
  }
  return sum;
}

}  // namespace quant
}  // namespace first
