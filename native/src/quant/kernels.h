// Per-format kernel entry points behind the public quant.h/matmul.h API.
// Scalar versions live in <format>.cc, AVX2/FMA versions in <format>_avx2.cc,
// AVX-512 versions in <format>_avx512.cc; dispatch.cc picks one set at run time.
#pragma once
#include <cstddef>
#include <cstdint>

#include "first/tensor_type.h"

namespace first {
namespace quant {

using QuantizeFn = void (*)(const float* x, void* dst, int64_t n);
using DequantizeFn = void (*)(const void* src, float* dst, int64_t n);
using DotFn = float (*)(int64_t n, const void* w, const void* a);
// Y[c * ldy + r] (+)= dot(weight row r, activation row c) for r < nr, c < nc.
// Weight rows lie w_stride bytes apart, activation rows a_stride bytes apart.
using TileFn = void (*)(int64_t n, const uint8_t* w, size_t w_stride, int nr, const uint8_t* a, size_t a_stride,
                        int nc, float* y, int64_t ldy, bool accumulate);

// Y[c * ldy + 16 g + i] (+)= dot(row i of group g, activation row c) over
// ngroups row groups (first/row_groups.h) lying group_bytes apart.
using GroupTileFn = void (*)(int64_t n, const uint8_t* groups, size_t group_bytes, int ngroups, const uint8_t* a,
                             size_t a_stride, int nc, float* y, int64_t ldy, bool accumulate);

struct FormatKernels {
  QuantizeFn quantize_act;  // f32 -> dot partner
  DotFn dot;
  DequantizeFn dequantize;
  TileFn tile;
  GroupTileFn group_tile = nullptr;  // on row groups, where the set has a kernel for them
};

// The kernels for weights of type w in the active kernel set (nullptr if unsupported).
const FormatKernels* kernels_for(TensorType w);

// Runs `dot` over every (row, column) pair: the tile for formats without a
// dedicated multi-row kernel.
void tile_by_dots(DotFn dot, int64_t n, const uint8_t* w, size_t w_stride, int nr, const uint8_t* a, size_t a_stride,
                  int nc, float* y, int64_t ldy, bool accumulate);

// Scalar kernels (portable, also the reference the fast ones are tested against).
void quantize_act_f32(const float* x, void* dst, int64_t n);
void quantize_act_q8_0(const float* x, void* dst, int64_t n);
void quantize_act_q8_1(const float* x, void* dst, int64_t n);
void quantize_act_q8_k(const float* x, void* dst, int64_t n);

void dequantize_f32(const void* src, float* dst, int64_t n);
void dequantize_f16(const void* src, float* dst, int64_t n);
void dequantize_bf16(const void* src, float* dst, int64_t n);
void dequantize_q4_0(const void* src, float* dst, int64_t n);
void dequantize_q4_1(const void* src, float* dst, int64_t n);
void dequantize_q8_0(const void* src, float* dst, int64_t n);
void dequantize_q4_k(const void* src, float* dst, int64_t n);
void dequantize_q6_k(const void* src, float* dst, int64_t n);

void quantize_f32(const float* x, void* dst, int64_t n);
void quantize_f16(const float* x, void* dst, int64_t n);
void quantize_bf16(const float* x, void* dst, int64_t n);
void quantize_q4_0(const float* x, void* dst, int64_t n);
void quantize_q4_1(const float* x, void* dst, int64_t n);
void quantize_q8_0(const float* x, void* dst, int64_t n);
void quantize_q4_k(const float* x, void* dst, int64_t n);
void quantize_q6_k(const float* x, void* dst, int64_t n);

float dot_f32(int64_t n, const void* w, const void* a);
float dot_f16(int64_t n, const void* w, const void* a);
float dot_bf16(int64_t n, const void* w, const void* a);
float dot_q4_0(int64_t n, const void* w, const void* a);
float dot_q4_1(int64_t n, const void* w, const void* a);
float dot_q8_0(int64_t n, const void* w, const void* a);
float dot_q4_k(int64_t n, const void* w, const void* a);
float dot_q6_k(int64_t n, const void* w, const void* a);

// AVX2/FMA/F16C kernels: only call when the CPU has them.
namespace avx2 {
void quantize_act_q8_0(const float* x, void* dst, int64_t n);
void quantize_act_q8_1(const float* x, void* dst, int64_t n);

float dot_f32(int64_t n, const void* w, const void* a);
float dot_f16(int64_t n, const void* w, const void* a);
float dot_bf16(int64_t n, const void* w, const void* a);
float dot_q4_0(int64_t n, const void* w, const void* a);
float dot_q4_1(int64_t n, const void* w, const void* a);
float dot_q8_0(int64_t n, const void* w, const void* a);
float dot_q4_k(int64_t n, const void* w, const void* a);
float dot_q6_k(int64_t n, const void* w, const void* a);

void tile_q4_0(int64_t n, const uint8_t* w, size_t w_stride, int nr, const uint8_t* a, size_t a_stride, int nc,
               float* y, int64_t ldy, bool accumulate);
void tile_q4_1(int64_t n, const uint8_t* w, size_t w_stride, int nr, const uint8_t* a, size_t a_stride, int nc,
               float* y, int64_t ldy, bool accumulate);
void tile_q8_0(int64_t n, const uint8_t* w, size_t w_stride, int nr, const uint8_t* a, size_t a_stride, int nc,
               float* y, int64_t ldy, bool accumulate);
}  // namespace avx2

// AVX-512 (F, BW, VL, DQ, VNNI) kernels: only call when the CPU has them.
namespace avx512 {
void quantize_act_q8_0(const float* x, void* dst, int64_t n);
void quantize_act_q8_1(const float* x, void* dst, int64_t n);
void quantize_act_q8_k(const float* x, void* dst, int64_t n);

float dot_f32(int64_t n, const void* w, const void* a);
float dot_f16(int64_t n, const void* w, const void* a);
float dot_bf16(int64_t n, const void* w, const void* a);
float dot_q4_0(int64_t n, const void* w, const void* a);
float dot_q4_1(int64_t n, const void* w, const void* a);
float dot_q8_0(int64_t n, const void* w, const void* a);
float dot_q4_k(int64_t n, const void* w, const void* a);
float dot_q6_k(int64_t n, const void* w, const void* a);

void tile_q4_0(int64_t n, const uint8_t* w, size_t w_stride, int nr, const uint8_t* a, size_t a_stride, int nc,
               float* y, int64_t ldy, bool accumulate);
void tile_q4_1(int64_t n, const uint8_t* w, size_t w_stride, int nr, const uint8_t* a, size_t a_stride, int nc,
               float* y, int64_t ldy, bool accumulate);
void tile_q8_0(int64_t n, const uint8_t* w, size_t w_stride, int nr, const uint8_t* a, size_t a_stride, int nc,
               float* y, int64_t ldy, bool accumulate);

void group_tile_q4_0(int64_t n, const uint8_t* groups, size_t group_bytes, int ngroups, const uint8_t* a,
                     size_t a_stride, int nc, float* y, int64_t ldy, bool accumulate);
void group_tile_q4_1(int64_t n, const uint8_t* groups, size_t group_bytes, int ngroups, const uint8_t* a,
                     size_t a_stride, int nc, float* y, int64_t ldy, bool accumulate);
void group_tile_q8_0(int64_t n, const uint8_t* groups, size_t group_bytes, int ngroups, const uint8_t* a,
                     size_t a_stride, int nc, float* y, int64_t ldy, bool accumulate);
}  // namespace avx512

}  // namespace quant
}  // namespace first
