// Block formats: dequantization, activation quantization and dot products.
//
// Matmuls never dequantize weights to f32: the activation row is quantized once
// into the weight type's "dot partner" (Q8_0 for Q4_0/Q8_0, Q8_1 for Q4_1, Q8_K
// for Q4_K/Q6_K, F32 for F32/F16/BF16) and each weight row is dotted with it
// block by block, as ggml does.
#pragma once
#include <cstdint>
#include "first/tensor_type.h"

namespace first {

// Type the activations are quantized to before vec_dot with weights of type w.
TensorType dot_partner(TensorType w);

// Bytes needed to hold n activations quantized to dot_partner(w).
size_t partner_row_bytes(TensorType w, int64_t n);

// Quantize an f32 activation row into dot_partner(w) format. n % block == 0.
void quantize_activations(TensorType w, const float* x, void* dst, int64_t n);

// Dot product of one weight row (type w, n elements) with a row already
// quantized by quantize_activations(w, ...).
float vec_dot(TensorType w, int64_t n, const void* weight_row, const void* act_row);

// Dequantize n elements of a row of type t into f32.
void dequantize_row(TensorType t, const void* src, float* dst, int64_t n);

// Quantize an f32 row into weight type t (used by tests and tools that write
// GGUF files; supports every weight type listed in tensor_type.h).
void quantize_row(TensorType t, const float* src, void* dst, int64_t n);

// Which kernel set is active: "avx2" or "scalar". FIRST_FORCE_SCALAR=1 in the
// environment forces the portable path (used by tests to cover both).
const char* kernel_isa();
void set_force_scalar(bool on);

namespace scalar {
// Plain reference versions of the above; the fast paths are tested against them.
void quantize_activations(TensorType w, const float* x, void* dst, int64_t n);
float vec_dot(TensorType w, int64_t n, const void* weight_row, const void* act_row);
void dequantize_row(TensorType t, const void* src, float* dst, int64_t n);
}  // namespace scalar

// f16/bf16 conversions (portable, exact round-to-nearest-even).
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

}  // namespace first
