// RMSNorm, one thread block per row (the sum of squares is a block reduction).
#include <cuda_runtime.h>

#include "cuda/check.cuh"
#include "cuda/ops.h"

namespace first {
namespace cuda {

namespace {

constexpr int kThreads = 256;

__global__ void rmsnorm_kernel(const float* x, int64_t ldx, const int32_t* rows, const float* w, float* y, int64_t d,
                               float eps) {
  __shared__ float partial[kThreads / 32];
  const int64_t src = rows ? rows[blockIdx.x] : blockIdx.x;
  const float* xr = x + src * ldx;
  float* yr = y + static_cast<int64_t>(blockIdx.x) * d;
  float ss = 0.f;
  for (int64_t i = threadIdx.x; i < d; i += kThreads) ss = fmaf(xr[i], xr[i], ss);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = ss;
  __syncthreads();
  if (threadIdx.x < 32) {
    float v = threadIdx.x < kThreads / 32 ? partial[threadIdx.x] : 0.f;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (threadIdx.x == 0) partial[0] = v;
  }
  __syncthreads();
  const float scale = 1.0f / sqrtf(partial[0] / static_cast<float>(d) + eps);
  for (int64_t i = threadIdx.x; i < d; i += kThreads) yr[i] = __fmul_rn(__fmul_rn(xr[i], scale), w[i]);
}

}  // namespace

void rmsnorm(const float* x, int64_t ldx, const int32_t* rows, const float* w, float* y, int64_t n_rows, int64_t d,
             float eps, Stream stream) {
  if (n_rows == 0) return;
  rmsnorm_kernel<<<static_cast<unsigned>(n_rows), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(x, ldx, rows, w, y,
                                                                                                     d, eps);
  check_launch("rmsnorm");
}

}  // namespace cuda
}  // namespace first
