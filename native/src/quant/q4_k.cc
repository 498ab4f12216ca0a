// Q4_K weights (super-blocks of 256 = 8 sub-blocks of 32 with 6-bit scales and
// mins), dotted with Q8_K activations.
#include <algorithm>
#include <cmath>

#include "first/quant.h"
#include "quant/blocks.h"
#include "quant/kernels.h"

namespace first {
namespace quant {

namespace {
// The 6-bit quants (sc, m) of the 8 sub-blocks, packed the way q4_k_scale_min reads them.
void pack_scales(const int* sc, const int* m, uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
  }
}
}  // namespace

// A plain min/max quantizer: good enough for tests and tools; real model files
// come from llama.cpp's importance-weighted search.
void quantize_q4_k(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ4_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    float scale[8], neg_min[8], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
      const float* v = x + 32 * j;
      float lo = 0, hi = v[0];  // the offset is -dmin * m <= 0, so the min is clamped at 0
      for (int i = 0; i < 32; ++i) {
        lo = std::min(lo, v[i]);
        hi = std::max(hi, v[i]);
      }
      scale[j] = (hi - lo) / 15;
      neg_min[j] = -lo;
      max_scale = std::max(max_scale, scale[j]);
      max_min = std::max(max_min, neg_min[j]);
    }
    const float d = max_scale / 63, dmin = max_min / 63;
    y[b].d = f32_to_f16(d);
    y[b].dmin = f32_to_f16(dmin);
    const float d_used = f16_to_f32(y[b].d), dmin_used = f16_to_f32(y[b].dmin);
    int sc[8], m[8];
    for (int j = 0; j < 8; ++j) {
      sc[j] = d_used > 0 ? std::min(63, static_cast<int>(std::lround(scale[j] / d_used))) : 0;
      m[j] = dmin_used > 0 ? std::min(63, static_cast<int>(std::lround(neg_min[j] / dmin_used))) : 0;
    }
    pack_scales(sc, m, y[b].scales);
    uint8_t q[kQKK];
    for (int j = 0; j < 8; ++j) {
      const float step = d_used * static_cast<float>(sc[j]);
      const float offset = dmin_used * static_cast<float>(m[j]);
      for (int i = 0; i < 32; ++i) {
        int v = step > 0 ? static_cast<int>(std::lround((x[32 * j + i] + offset) / step)) : 0;
        q[32 * j + i] = static_cast<uint8_t>(std::clamp(v, 0, 15));
      }
    }
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) y[b].qs[32 * c + l] = static_cast<uint8_t>(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
  }
}

void dequantize_q4_k(const void* src, float* dst, int64_t n) {
  const auto* x = static_cast<const BlockQ4_K*>(src);
  for (int64_t b = 0; b < n / kQKK; ++b) {
    const float d = f16_to_f32(x[b].d), dmin = f16_to_f32(x[b].dmin);
    const uint8_t* q = x[b].qs;
    for (int c = 0; c < 4; ++c, q += 32) {
      int sc0, m0, sc1, m1;
      q4_k_scale_min(2 * c, x[b].scales, &sc0, &m0);
      q4_k_scale_min(2 * c + 1, x[b].scales, &sc1, &m1);
      for (int l = 0; l < 32; ++l) *dst++ = d * static_cast<float>(sc0) * static_cast<float>(q[l] & 0xF) - dmin * static_cast<float>(m0);
      for (int l = 0; l < 32; ++l) *dst++ = d * static_cast<float>(sc1) * static_cast<float>(q[l] >> 4) - dmin * static_cast<float>(m1);
    }
  }
}

float dot_q4_k(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  float sum = 0;
  for (int64_t b = 0; b < n / kQKK; ++b) {
    int scaled = 0, mins = 0;
    for (int j = 0; j < 8; ++j) {
      int sc, m;
      q4_k_scale_min(j, x[b].scales, &sc, &m);
      const uint8_t* q = x[b].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      int sumi = 0;
      for (int l = 0; l < 32; ++l) sumi += ((q[l] >> shift) & 0xF) * y[b].qs[32 * j + l];
      scaled += sc * sumi;
      mins += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
    }
    sum += y[b].d * (f16_to_f32(x[b].d) * static_cast<float>(scaled) - f16_to_f32(x[b].dmin) * static_cast<float>(mins));
  }
  return sum;
}

}  // namespace quant
}  // namespace first
