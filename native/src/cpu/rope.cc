#include <cmath>

#include "first/ops.h"

namespace first {

Rope::Rope(int head_dim_, int rope_dim_, float base, float pos_scale, const std::vector<float>& freq_factors,
           RopeStyle style_)
    : head_dim(head_dim_), rope_dim(rope_dim_), style(style_), inv_freq(rope_dim_ / 2) {
  for (int i = 0; i < rope_dim / 2; ++i) {
    double f = std::pow(static_cast<double>(base), -2.0 * i / rope_dim) * pos_scale;
    if (!freq_factors.empty()) f /= freq_factors[i];
    inv_freq[i] = f;
  }
}

void Rope::angles(int pos, float* cs, float* sn) const {
  for (int i = 0; i < rope_dim / 2; ++i) {
    const double theta = pos * inv_freq[i];
    cs[i] = static_cast<float>(std::cos(theta));
    sn[i] = static_cast<float>(std::sin(theta));
  }
}

void Rope::rotate(const float* x, float* out, int n_heads, const float* cs, const float* sn) const {
  const int half = rope_dim / 2;
  // Pair i is dims (i0, i1): adjacent, or split across the two halves.
  const int step = style == RopeStyle::Adjacent ? 2 : 1;
  const int other = style == RopeStyle::Adjacent ? 1 : half;
  for (int h = 0; h < n_heads; ++h) {
    const float* xh = x + h * head_dim;
    float* oh = out + h * head_dim;
    for (int i = 0; i < half; ++i) {
      const int i0 = step * i, i1 = i0 + other;
      float a = xh[i0], b = xh[i1];
      oh[i0] = a * cs[i] - b * sn[i];
      oh[i1] = a * sn[i] + b * cs[i];
    }
    for (int i = rope_dim; i < head_dim; ++i) oh[i] = xh[i];
  }
}

void Rope::apply_to(const float* x, float* out, int n_heads, int pos) const {
  float cs[256], sn[256];  // rope_dim/2 <= head_dim/2; head_dim is checked <= 512 at load
  angles(pos, cs, sn);
  rotate(x, out, n_heads, cs, sn);
}

void Rope::apply(float* x, int n_heads, int pos) const { apply_to(x, x, n_heads, pos); }

}  // namespace first
