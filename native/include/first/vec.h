// Small f32 vector primitives used by attention and norms, with an AVX2/FMA
// path chosen at run time (same switch as the quant kernels).
#pragma once
#include <cstdint>

namespace first {

float vec_dot_f32(const float* a, const float* b, int64_t n);
// y += a * x
void vec_axpy_f32(float a, const float* x, float* y, int64_t n);
// sum of squares, accumulated in double-friendly order
float vec_sumsq_f32(const float* x, int64_t n);

// Attention's inner loops, over rows of a paged K or V block (row stride ld):
// out[j] = dot(q, k + j*ld) for the 8 rows j = 0..7 (one reduction for all 8);
void vec_dot8_f32(const float* q, const float* k, int64_t ld, int64_t n, float* out);
// y[0..n) += sum over r < rows of w[r] * x[r*ld .. r*ld + n) (y kept in registers);
void vec_weighted_rows_f32(const float* w, const float* x, int64_t ld, int rows, float* y, int64_t n);
// x[i] = exp(x[i] * scale - shift) for i < n; returns the sum of the results.
float vec_exp_scaled_f32(float* x, int64_t n, float scale, float shift);
// out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)) (the SwiGLU MLP).
void vec_silu_mul_f32(const float* gate, const float* up, float* out, int64_t n);

#define FIRST_VEC_KERNELS                                                                    \
  float vec_dot_f32(const float* a, const float* b, int64_t n);                              \
  void vec_axpy_f32(float a, const float* x, float* y, int64_t n);                           \
  float vec_sumsq_f32(const float* x, int64_t n);                                            \
  void vec_dot8_f32(const float* q, const float* k, int64_t ld, int64_t n, float* out);       \
  void vec_weighted_rows_f32(const float* w, const float* x, int64_t ld, int rows, float* y, \
                             int64_t n);                                                     \
  float vec_exp_scaled_f32(float* x, int64_t n, float scale, float shift);                   \
  void vec_silu_mul_f32(const float* gate, const float* up, float* out, int64_t n);

namespace scalar {
FIRST_VEC_KERNELS
}  // namespace scalar

namespace avx2 {
FIRST_VEC_KERNELS
}  // namespace avx2

namespace avx512 {
FIRST_VEC_KERNELS
}  // namespace avx512
#undef FIRST_VEC_KERNELS

// True when the AVX2 kernels are in use (CPU support and not forced scalar);
// also true under AVX-512, where code without a 512-bit version keeps AVX2.
bool use_avx2();
// True when the AVX-512 kernels are in use.
bool use_avx512();

}  // namespace first
