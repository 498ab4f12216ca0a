// Decode products (M <= kMatvecMaxRows activation rows): one warp per weight
// row, each lane taking every 32nd block of the row, so the warp streams the
// row once for all M rows. Quantized weights meet quantized activations in
// __dp4a; float weights meet f32 activations.
#include <cuda_runtime.h>

#include "cuda/block_format.cuh"
#include "cuda/check.cuh"
#include "cuda/ops.h"
#include "first/error.h"

namespace first {
namespace cuda {

namespace {

constexpr int kWarps = 4;  // weight rows per thread block
constexpr int kMaxM = static_cast<int>(kMatvecMaxRows);

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ void store_rows(const float (&acc)[kMaxM], int M, float* y, int64_t ldy, int r,
                                           bool accumulate, int lane) {
#pragma unroll
  for (int m = 0; m < kMaxM; ++m) {
    if (m >= M) break;
    const float s = warp_sum(acc[m]);
    if (lane == 0) y[m * ldy + r] = accumulate ? y[m * ldy + r] + s : s;
  }
}

template <class W, class A>
__global__ void matvec_quant_kernel(const uint8_t* w, size_t w_stride, int rows, int nb, const uint8_t* a,
                                    size_t a_stride, int M, float* y, int64_t ldy, bool accumulate) {
  const int lane = threadIdx.x & 31;
  const int r = blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (r >= rows) return;
  const uint8_t* wr = w + static_cast<size_t>(r) * w_stride;
  float acc[kMaxM] = {};
  for (int b = lane; b < nb; b += 32) {
    int32_t wq[8];
    float wd, wm;
    W::load(wr + static_cast<size_t>(b) * W::kBytes, wq, wd, wm);
#pragma unroll
    for (int m = 0; m < kMaxM; ++m) {
      if (m < M) {
        int32_t aq[8];
        float ad, as;
        A::load(a + m * a_stride + static_cast<size_t>(b) * A::kBytes, aq, ad, as);
        acc[m] += block_dot(wq, wd, wm, aq, ad, as);
      }
    }
  }
  store_rows(acc, M, y, ldy, r, accumulate, lane);
}

template <class E>
__global__ void matvec_float_kernel(const uint8_t* w, size_t w_stride, int rows, int cols, const float* x,
                                    int64_t ldx, int M, float* y, int64_t ldy, bool accumulate) {
  const int lane = threadIdx.x & 31;
  const int r = blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (r >= rows) return;
  const uint8_t* wr = w + static_cast<size_t>(r) * w_stride;
  float acc[kMaxM] = {};
  for (int k = lane; k < cols; k += 32) {
    const float wk = E::at(wr, k);
#pragma unroll
    for (int m = 0; m < kMaxM; ++m)
      if (m < M) acc[m] = fmaf(wk, x[m * ldx + k], acc[m]);
  }
  store_rows(acc, M, y, ldy, r, accumulate, lane);
}

template <class W, class A>
void launch_quant(const DeviceWeight& W_, const void* act, size_t act_stride, int M, float* Y, int64_t ldy,
                  bool accumulate, cudaStream_t s) {
  const int rows = static_cast<int>(W_.rows);
  matvec_quant_kernel<W, A><<<(rows + kWarps - 1) / kWarps, kWarps * 32, 0, s>>>(
      W_.data, W_.row_bytes, rows, static_cast<int>(W_.cols / 32), static_cast<const uint8_t*>(act), act_stride, M, Y,
      ldy, accumulate);
}

template <class E>
void launch_float(const DeviceWeight& W_, const void* act, size_t act_stride, int M, float* Y, int64_t ldy,
                  bool accumulate, cudaStream_t s) {
  const int rows = static_cast<int>(W_.rows);
  matvec_float_kernel<E><<<(rows + kWarps - 1) / kWarps, kWarps * 32, 0, s>>>(
      W_.data, W_.row_bytes, rows, static_cast<int>(W_.cols), static_cast<const float*>(act),
      static_cast<int64_t>(act_stride / sizeof(float)), M, Y, ldy, accumulate);
}

}  // namespace

void matvec(const DeviceWeight& W, const void* act, size_t act_stride, int64_t M, float* Y, int64_t ldy,
            bool accumulate, Stream stream) {
  if (M < 0 || M > kMatvecMaxRows) throw Error("cuda matvec: M must be in 0..8");
  if (M == 0 || W.rows == 0) return;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int m = static_cast<int>(M);
  switch (W.type) {
    case TensorType::Q4_0: launch_quant<Q4_0Block, ActQ8_0>(W, act, act_stride, m, Y, ldy, accumulate, s); break;
    case TensorType::Q4_1: launch_quant<Q4_1Block, ActQ8_1>(W, act, act_stride, m, Y, ldy, accumulate, s); break;
    case TensorType::Q8_0: launch_quant<Q8_0Block, ActQ8_0>(W, act, act_stride, m, Y, ldy, accumulate, s); break;
    case TensorType::F32: launch_float<F32Elem>(W, act, act_stride, m, Y, ldy, accumulate, s); break;
    case TensorType::F16: launch_float<F16Elem>(W, act, act_stride, m, Y, ldy, accumulate, s); break;
    case TensorType::BF16: launch_float<BF16Elem>(W, act, act_stride, m, Y, ldy, accumulate, s); break;
    default: throw Error("cuda matvec: weight type has no CUDA kernel");
  }
  check_launch("matvec");
}

}  // namespace cuda
}  // namespace first
