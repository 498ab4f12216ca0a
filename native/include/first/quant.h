// Block formats: dequantization, activation quantization and dot products.
//
// Matmuls never dequantize weights to f32: the activation row is quantized once
// into the weight type's "dot partner" (Q8_0 for Q4_0/Q8_0, Q8_1 for Q4_1, Q8_K
// for Q4_K/Q6_K, F32 for F32/F16/BF16) and each weight row is dotted with it
// block by block, as ggml does.
#pragma once
#include <cstdint>
#include <string>
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

// Kernel sets, from the portable one up. The best set the CPU has is used,
// capped by FIRST_KERNELS=scalar|avx2|avx512 in the environment (or
// FIRST_FORCE_SCALAR=1) and by set_kernel_limit(), so tests and benchmarks can
// run every set the machine has.
enum class KernelSet { Scalar = 0, Avx2 = 1, Avx512 = 2 };

// Which kernel set is active: "avx512", "avx2" or "scalar".
const char* kernel_isa();
KernelSet active_kernel_set();
// The best set this CPU supports (AVX-512 needs F, BW, VL, DQ and VNNI).
KernelSet best_kernel_set();
const char* kernel_set_name(KernelSet s);
// Parses "scalar", "avx2" or "avx512"; false for anything else.
bool parse_kernel_set(const char* name, KernelSet* out);
// Caps the active set at `limit` (the CPU's best still bounds it).
void set_kernel_limit(KernelSet limit);
// set_kernel_limit(Scalar) when on, else lifts the cap.
void set_force_scalar(bool on);
// A message when FIRST_KERNELS holds something other than a set's name
// (that value is then ignored), else "".
std::string kernel_env_problem();

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
