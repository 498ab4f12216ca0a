#include "first/vec.h"

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
}  // namespace scalar

float vec_dot_f32(const float* a, const float* b, int64_t n) {
  return use_avx2() ? avx2::vec_dot_f32(a, b, n) : scalar::vec_dot_f32(a, b, n);
}
void vec_axpy_f32(float a, const float* x, float* y, int64_t n) {
  if (use_avx2())
    avx2::vec_axpy_f32(a, x, y, n);
  else
    scalar::vec_axpy_f32(a, x, y, n);
}
float vec_sumsq_f32(const float* x, int64_t n) {
  return use_avx2() ? avx2::vec_sumsq_f32(x, n) : scalar::vec_sumsq_f32(x, n);
}

}  // namespace first
