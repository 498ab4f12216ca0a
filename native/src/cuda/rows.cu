// Row movers: embedding lookup (dequantizing one row of the embedding's
// blocks per token) and the gather/scatter that packs the rows of the
// entries that run a layer.
#include <cuda_runtime.h>

#include "cuda/block_format.cuh"
#include "cuda/check.cuh"
#include "cuda/ops.h"
#include "first/error.h"

namespace first {
namespace cuda {

namespace {

constexpr int kThreads = 256;

// Element i of a row in any supported format, rounded as the CPU's
// dequantizers do (no fused multiply-add).
__device__ float element(TensorType t, const uint8_t* row, int64_t i) {
  const int64_t b = i / 32;
  const int j = static_cast<int>(i % 32);
  switch (t) {
    case TensorType::F32: return F32Elem::at(row, i);
    case TensorType::F16: return F16Elem::at(row, i);
    case TensorType::BF16: return BF16Elem::at(row, i);
    case TensorType::Q8_0: {
      const uint8_t* blk = row + b * Q8_0Block::kBytes;
      return __fmul_rn(static_cast<float>(static_cast<int8_t>(blk[2 + j])), f16_bits(load_u16(blk)));
    }
    case TensorType::Q4_0: {
      const uint8_t* blk = row + b * Q4_0Block::kBytes;
      const uint8_t byte = blk[2 + (j % 16)];
      const int q = (j < 16 ? (byte & 0xF) : (byte >> 4)) - 8;
      return __fmul_rn(static_cast<float>(q), f16_bits(load_u16(blk)));
    }
    case TensorType::Q4_1: {
      const uint8_t* blk = row + b * Q4_1Block::kBytes;
      const uint8_t byte = blk[4 + (j % 16)];
      const int q = j < 16 ? (byte & 0xF) : (byte >> 4);
      return __fadd_rn(__fmul_rn(static_cast<float>(q), f16_bits(load_u16(blk))), f16_bits(load_u16(blk + 2)));
    }
    default: return 0.f;
  }
}

__global__ void embed_kernel(TensorType t, const uint8_t* e, size_t row_bytes, int64_t cols, const int32_t* tokens,
                             float* out) {
  const uint8_t* row = e + static_cast<size_t>(tokens[blockIdx.x]) * row_bytes;
  float* o = out + static_cast<int64_t>(blockIdx.x) * cols;
  for (int64_t i = threadIdx.x; i < cols; i += kThreads) o[i] = element(t, row, i);
}

__global__ void gather_kernel(const float* src, const int32_t* idx, int64_t d, float* dst) {
  const float* s = src + static_cast<int64_t>(idx[blockIdx.x]) * d;
  float* o = dst + static_cast<int64_t>(blockIdx.x) * d;
  for (int64_t i = threadIdx.x; i < d; i += kThreads) o[i] = s[i];
}

__global__ void scatter_kernel(const float* src, const int32_t* idx, int64_t d, float* dst) {
  const float* s = src + static_cast<int64_t>(blockIdx.x) * d;
  float* o = dst + static_cast<int64_t>(idx[blockIdx.x]) * d;
  for (int64_t i = threadIdx.x; i < d; i += kThreads) o[i] = s[i];
}

}  // namespace

void embed_rows(const DeviceWeight& E, const int32_t* tokens, int64_t n, float* out, Stream stream) {
  if (!has_kernels(E.type)) throw Error("cuda embed: embedding type has no CUDA kernel");
  if (n == 0) return;
  embed_kernel<<<static_cast<unsigned>(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(E.type, E.data,
                                                                                              E.row_bytes, E.cols,
                                                                                              tokens, out);
  check_launch("embed_rows");
}

void gather_rows(const float* src, const int32_t* idx, int64_t n, int64_t d, float* dst, Stream stream) {
  if (n == 0) return;
  gather_kernel<<<static_cast<unsigned>(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(src, idx, d, dst);
  check_launch("gather_rows");
}

void scatter_rows(const float* src, const int32_t* idx, int64_t n, int64_t d, float* dst, Stream stream) {
  if (n == 0) return;
  scatter_kernel<<<static_cast<unsigned>(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(src, idx, d, dst);
  check_launch("scatter_rows");
}

}  // namespace cuda
}  // namespace first
