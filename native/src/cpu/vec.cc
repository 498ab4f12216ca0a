#include "first/vec.h"

#include <cmath>

namespace first {

namespace scalar {
float vec_dot_f32(const float* a, const float* b, int64_t n) {
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
void vec_axpy_f32(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}
float vec_sumsq_f32(const float* x, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += double(x[i]) * x[i];
  return static_cast<float>(s);
}
void vec_dot8_f32(const float* q, const float* k, int64_t ld, int64_t n, float* out) {
  for (int j = 0; j < 8; ++j) out[j] = vec_dot_f32(q, k + j * ld, n);
}
void vec_weighted_rows_f32(const float* w, const float* x, int64_t ld, int rows, float* y, int64_t n) {
  for (int r = 0; r < rows; ++r) vec_axpy_f32(w[r], x + r * ld, y, n);
}
float vec_exp_scaled_f32(float* x, int64_t n, float scale, float shift) {
  float sum = 0.f;
  for (int64_t i = 0; i < n; ++i) sum += (x[i] = std::exp(x[i] * scale - shift));
  return sum;
}
void vec_silu_mul_f32(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}
}  // namespace scalar

// Each entry point runs the best set in use: AVX-512, else AVX2, else scalar.
#define FIRST_VEC_DISPATCH(fn, ...) \
  (use_avx512() ? avx512::fn(__VA_ARGS__) : use_avx2() ? avx2::fn(__VA_ARGS__) : scalar::fn(__VA_ARGS__))

float vec_dot_f32(const float* a, const float* b, int64_t n) { return FIRST_VEC_DISPATCH(vec_dot_f32, a, b, n); }
void vec_axpy_f32(float a, const float* x, float* y, int64_t n) { FIRST_VEC_DISPATCH(vec_axpy_f32, a, x, y, n); }
float vec_sumsq_f32(const float* x, int64_t n) { return FIRST_VEC_DISPATCH(vec_sumsq_f32, x, n); }
void vec_dot8_f32(const float* q, const float* k, int64_t ld, int64_t n, float* out) {
  FIRST_VEC_DISPATCH(vec_dot8_f32, q, k, ld, n, out);
}
void vec_weighted_rows_f32(const float* w, const float* x, int64_t ld, int rows, float* y, int64_t n) {
  FIRST_VEC_DISPATCH(vec_weighted_rows_f32, w, x, ld, rows, y, n);
}
float vec_exp_scaled_f32(float* x, int64_t n, float scale, float shift) {
  return FIRST_VEC_DISPATCH(vec_exp_scaled_f32, x, n, scale, shift);
}
void vec_silu_mul_f32(const float* gate, const float* up, float* out, int64_t n) {
  FIRST_VEC_DISPATCH(vec_silu_mul_f32, gate, up, out, n);
}
#undef FIRST_VEC_DISPATCH

}  // namespace first
