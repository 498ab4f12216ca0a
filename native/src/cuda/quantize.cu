// Activation quantization into Q8_0 / Q8_1 blocks, one warp per block of 32:
// d = amax / 127, q = round-to-even(x * 127 / amax), as the CPU quantizer, so
// both backends feed the same quants to the weight dots. SwiGLU can be fused
// in front, so silu(gate) * up never goes to device memory.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda/check.cuh"
#include "cuda/ops.h"
#include "first/error.h"

namespace first {
namespace cuda {

namespace {

constexpr int kWarps = 8;

__device__ __forceinline__ float silu_times(float g, float u) { return g / (1.0f + expf(-g)) * u; }

template <bool kSwiglu, bool kWithSum>
__global__ void quantize_kernel(const float* x, const float* up, int64_t ld, int64_t rows, int nb, uint8_t* dst,
                                size_t dst_stride) {
  const int lane = threadIdx.x & 31;
  const int64_t blk = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
  if (blk >= rows * nb) return;
  const int64_t row = blk / nb;
  const int b = static_cast<int>(blk % nb);
  const int64_t i = row * ld + static_cast<int64_t>(b) * 32 + lane;
  const float v = kSwiglu ? silu_times(x[i], up[i]) : x[i];
  float amax = fabsf(v);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  const float d = amax / 127.f;
  const float id = amax != 0.f ? 127.f / amax : 0.f;
  const int q = __float2int_rn(__fmul_rn(v, id));
  uint8_t* out = dst + row * dst_stride + static_cast<size_t>(b) * (kWithSum ? 36 : 34);
  const int header = kWithSum ? 4 : 2;
  out[header + lane] = static_cast<uint8_t>(static_cast<int8_t>(q));
  int sum = q;
  if (kWithSum) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  }
  if (lane == 0) {
    uint16_t* h = reinterpret_cast<uint16_t*>(out);
    h[0] = __half_as_ushort(__float2half_rn(d));
    if (kWithSum) h[1] = __half_as_ushort(__float2half_rn(__fmul_rn(d, static_cast<float>(sum))));
  }
}

template <bool kSwiglu>
void launch(TensorType format, const float* x, const float* up, int64_t rows, int64_t ld, int64_t cols, void* dst,
            size_t dst_stride, Stream stream) {
  if (cols % 32 != 0) throw Error("cuda quantize: row length must be whole blocks of 32");
  if (rows == 0 || cols == 0) return;
  const int nb = static_cast<int>(cols / 32);
  const int64_t blocks = rows * nb;
  const unsigned grid = static_cast<unsigned>((blocks + kWarps - 1) / kWarps);
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  uint8_t* d = static_cast<uint8_t*>(dst);
  if (format == TensorType::Q8_0)
    quantize_kernel<kSwiglu, false><<<grid, kWarps * 32, 0, s>>>(x, up, ld, rows, nb, d, dst_stride);
  else if (format == TensorType::Q8_1)
    quantize_kernel<kSwiglu, true><<<grid, kWarps * 32, 0, s>>>(x, up, ld, rows, nb, d, dst_stride);
  else
    throw Error("cuda quantize: activations quantize to Q8_0 or Q8_1 only");
  check_launch("quantize_rows");
}

__global__ void swiglu_kernel(const float* gate, const float* up, float* out, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = silu_times(gate[i], up[i]);
}

}  // namespace

void quantize_rows(TensorType format, const float* x, int64_t rows, int64_t ldx, int64_t cols, void* dst,
                   size_t dst_stride, Stream stream) {
  launch<false>(format, x, nullptr, rows, ldx, cols, dst, dst_stride, stream);
}

void swiglu_quantize_rows(TensorType format, const float* gate, const float* up, int64_t rows, int64_t ld,
                          int64_t cols, void* dst, size_t dst_stride, Stream stream) {
  launch<true>(format, gate, up, rows, ld, cols, dst, dst_stride, stream);
}

void swiglu(const float* gate, const float* up, float* out, int64_t n, Stream stream) {
  if (n == 0) return;
  swiglu_kernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, static_cast<cudaStream_t>(stream)>>>(gate, up, out, n);
  check_launch("swiglu");
}

}  // namespace cuda
}  // namespace first
