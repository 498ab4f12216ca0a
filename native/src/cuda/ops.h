// Host entry points of the CUDA kernels, in plain C++ (no CUDA headers), so
// the engine and the tests call them the same way. Every pointer named d_*
// or documented as device memory lives on the GPU; every call is
// asynchronous on `stream` (nullptr: the default stream) and throws
// first::Error on a bad launch.
#pragma once
#include <cstddef>
#include <cstdint>

#include "first/tensor_type.h"

namespace first {
namespace cuda {

using Stream = void*;  // a cudaStream_t

// A weight matrix in device memory, rows in their GGUF block format (never
// dequantized into a copy): `rows` rows of `cols` elements, row_bytes apart.
struct DeviceWeight {
  TensorType type = TensorType::F32;
  int64_t rows = 0, cols = 0;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
};

// Weight types with CUDA kernels: F32, F16, BF16, Q4_0, Q4_1, Q8_0.
bool has_kernels(TensorType w);
// What the activations of a product with weights of type w must be: Q8_0
// (Q4_0/Q8_0 weights), Q8_1 (Q4_1) or F32 rows (float weights), the same
// pairing as the CPU kernels so both see the same quantized activations.
TensorType activation_format(TensorType w);
// Bytes of one activation row of `cols` elements in activation_format(w).
size_t activation_row_bytes(TensorType w, int64_t cols);

// Activation quantization, rounding exactly as the CPU's quantize_activations:
// rows of x (ldx floats apart) into `format` (Q8_0 or Q8_1) rows dst_stride
// bytes apart. cols % 32 == 0.
void quantize_rows(TensorType format, const float* x, int64_t rows, int64_t ldx, int64_t cols, void* dst,
                   size_t dst_stride, Stream stream);
// The same on silu(gate) * up (SwiGLU fused into the down projection's input).
void swiglu_quantize_rows(TensorType format, const float* gate, const float* up, int64_t rows, int64_t ld,
                          int64_t cols, void* dst, size_t dst_stride, Stream stream);
// out = silu(gate) * up, n floats (for float down projections).
void swiglu(const float* gate, const float* up, float* out, int64_t n, Stream stream);

// Y[m][r] (+)= dot(W row r, activation row m), m < M. act: M rows in
// activation_format(W.type), act_stride bytes apart (F32: floats, so
// act_stride = ldx * 4). accumulate fuses a residual add.
// matmul() picks matvec() for M <= kMatvecMaxRows (decode) and the tiled
// product otherwise (prefill, large batches).
constexpr int64_t kMatvecMaxRows = 8;
void matmul(const DeviceWeight& W, const void* act, size_t act_stride, int64_t M, float* Y, int64_t ldy,
            bool accumulate, Stream stream);
void matvec(const DeviceWeight& W, const void* act, size_t act_stride, int64_t M, float* Y, int64_t ldy,
            bool accumulate, Stream stream);
void matmul_tiled(const DeviceWeight& W, const void* act, size_t act_stride, int64_t M, float* Y, int64_t ldy,
                  bool accumulate, Stream stream);

// y[r] = x[row r] / rms(x[row r]) * w for n_rows rows of d floats; row r of x
// is rows[r] when `rows` (device int32) is given, else r. y rows are packed.
void rmsnorm(const float* x, int64_t ldx, const int32_t* rows, const float* w, float* y, int64_t n_rows, int64_t d,
             float eps, Stream stream);

// out[i] = embedding row tokens[i] (device int32, already range-checked),
// dequantized from E's block format; out rows are E.cols floats.
void embed_rows(const DeviceWeight& E, const int32_t* tokens, int64_t n, float* out, Stream stream);

// dst[i] = src[idx[i]] (gather) and dst[idx[i]] = src[i] (scatter), rows of d floats.
void gather_rows(const float* src, const int32_t* idx, int64_t n, int64_t d, float* dst, Stream stream);
void scatter_rows(const float* src, const int32_t* idx, int64_t n, int64_t d, float* dst, Stream stream);

// The paged KV pool: block b holds K[block_tokens][kv_dim] then
// V[block_tokens][kv_dim] (the CPU cache's layout) at pool + b * block_floats.
struct KvPoolView {
  float* pool = nullptr;
  int block_tokens = 16;
  int kv_dim = 0;
  size_t block_floats() const { return static_cast<size_t>(2) * block_tokens * kv_dim; }
};

// RoPE on n rows: q rows (n_heads heads) rotate in place; k rows (n_kv_heads
// heads) rotate into the pool and v rows are copied there, row r going to
// slot[r] = block * block_tokens + offset. pos[r] picks the row of cos_sin:
// [position][rope_dim/2] cosines, then the same count of sines, starting at
// cos_sin + max_positions * rope_dim/2. All index arrays are device int32.
struct RopeTable {
  const float* cos_sin = nullptr;
  int max_positions = 0;
  int head_dim = 0, rope_dim = 0;
};
void rope_write_kv(const RopeTable& rope, float* q, int64_t ldq, int n_heads, const float* k, const float* v,
                   int64_t ldkv, int n_kv_heads, const int32_t* pos, const int32_t* slot, int64_t n,
                   const KvPoolView& kv, Stream stream);

// Causal grouped-query attention reading K/V straight from the pool's blocks:
// row r's query (n_heads heads, row stride ldq) attends to positions
// [0, n_ctx[r]) through the block table tables + table_off[r]; out rows are
// n_heads * head_dim floats, ldo apart. head_dim % 4 == 0, head_dim <= 512,
// n_heads / n_kv_heads <= 16.
void paged_attention(const KvPoolView& kv, const float* q, int64_t ldq, float* out, int64_t ldo, int n_heads,
                     int n_kv_heads, int head_dim, const int32_t* tables, const int32_t* table_off,
                     const int32_t* n_ctx, int64_t n, Stream stream);

}  // namespace cuda
}  // namespace first
