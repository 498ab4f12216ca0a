// Device-side readers of the GGUF block formats (quant/blocks.h). A quantized
// block is read as 8 words of 4 signed 8-bit quants (elements 4i..4i+3 in
// word i) plus its scale d and offset m, ready for __dp4a against an
// activation block read the same way (its d and s = d * sum(q)).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "first/tensor_type.h"
#include "quant/blocks.h"

namespace first {
namespace cuda {

__device__ __forceinline__ float f16_bits(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf16_bits(uint16_t h) { return __uint_as_float(static_cast<uint32_t>(h) << 16); }
__device__ __forceinline__ uint16_t load_u16(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }
// A word at a 2-byte aligned address (Q4_0 and Q8_0 blocks are 18 and 34 bytes).
__device__ __forceinline__ uint32_t load_u32_2aligned(const uint8_t* p) {
  const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
  return static_cast<uint32_t>(h[0]) | (static_cast<uint32_t>(h[1]) << 16);
}

struct Q4_0Block {
  static constexpr int kBytes = sizeof(quant::BlockQ4_0);
  __device__ static void load(const uint8_t* b, int32_t (&q)[8], float& d, float& m) {
    d = f16_bits(load_u16(b));
    m = 0.f;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint32_t w = load_u32_2aligned(b + 2 + 4 * i);
      q[i] = static_cast<int32_t>(__vsub4(w & 0x0F0F0F0Fu, 0x08080808u));
      q[i + 4] = static_cast<int32_t>(__vsub4((w >> 4) & 0x0F0F0F0Fu, 0x08080808u));
    }
  }
};

struct Q4_1Block {
  static constexpr int kBytes = sizeof(quant::BlockQ4_1);
  __device__ static void load(const uint8_t* b, int32_t (&q)[8], float& d, float& m) {
    d = f16_bits(load_u16(b));
    m = f16_bits(load_u16(b + 2));
    const uint32_t* w = reinterpret_cast<const uint32_t*>(b + 4);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      q[i] = static_cast<int32_t>(w[i] & 0x0F0F0F0Fu);
      q[i + 4] = static_cast<int32_t>((w[i] >> 4) & 0x0F0F0F0Fu);
    }
  }
};

struct Q8_0Block {
  static constexpr int kBytes = sizeof(quant::BlockQ8_0);
  __device__ static void load(const uint8_t* b, int32_t (&q)[8], float& d, float& m) {
    d = f16_bits(load_u16(b));
    m = 0.f;
#pragma unroll
    for (int i = 0; i < 8; ++i) q[i] = static_cast<int32_t>(load_u32_2aligned(b + 2 + 4 * i));
  }
};

// Activation partners: s is 0 for Q8_0 (no weight offset to fold).
struct ActQ8_0 {
  static constexpr int kBytes = sizeof(quant::BlockQ8_0);
  __device__ static void load(const uint8_t* b, int32_t (&q)[8], float& d, float& s) {
    float unused;
    Q8_0Block::load(b, q, d, unused);
    s = 0.f;
  }
};

struct ActQ8_1 {
  static constexpr int kBytes = sizeof(quant::BlockQ8_1);
  __device__ static void load(const uint8_t* b, int32_t (&q)[8], float& d, float& s) {
    d = f16_bits(load_u16(b));
    s = f16_bits(load_u16(b + 2));
    const uint32_t* w = reinterpret_cast<const uint32_t*>(b + 4);
#pragma unroll
    for (int i = 0; i < 8; ++i) q[i] = static_cast<int32_t>(w[i]);
  }
};

// One block's contribution, in the CPU kernels' order: sumi * dw * da + mw * sa.
__device__ __forceinline__ float block_dot(const int32_t (&w)[8], float wd, float wm, const int32_t (&a)[8], float ad,
                                           float as) {
  int s = 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) s = __dp4a(w[i], a[i], s);
  return __fadd_rn(__fmul_rn(__fmul_rn(static_cast<float>(s), wd), ad), __fmul_rn(wm, as));
}

// Float weight formats: element i of a row.
struct F32Elem {
  __device__ static float at(const uint8_t* row, int64_t i) { return reinterpret_cast<const float*>(row)[i]; }
};
struct F16Elem {
  __device__ static float at(const uint8_t* row, int64_t i) {
    return f16_bits(reinterpret_cast<const uint16_t*>(row)[i]);
  }
};
struct BF16Elem {
  __device__ static float at(const uint8_t* row, int64_t i) {
    return bf16_bits(reinterpret_cast<const uint16_t*>(row)[i]);
  }
};

}  // namespace cuda
}  // namespace first
