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

namespace scalar {
float vec_dot_f32(const float* a, const float* b, int64_t n);
void vec_axpy_f32(float a, const float* x, float* y, int64_t n);
float vec_sumsq_f32(const float* x, int64_t n);
}  // namespace scalar

namespace avx2 {
float vec_dot_f32(const float* a, const float* b, int64_t n);
void vec_axpy_f32(float a, const float* x, float* y, int64_t n);
float vec_sumsq_f32(const float* x, int64_t n);
}  // namespace avx2

// True when the AVX2 kernels are in use (CPU support and not forced scalar).
bool use_avx2();

}  // namespace first
