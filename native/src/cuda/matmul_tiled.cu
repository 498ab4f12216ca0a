// Prefill (and large-batch) products: a thread block computes a 64-row by
// 64-token tile, staging weight blocks and activation blocks in shared memory
// so each weight block is read from device memory once per 64 tokens. Each
// thread owns a 4 x 4 patch of outputs (rows ty + 16i, tokens tx + 16j).
#include <cuda_runtime.h>

#include "cuda/block_format.cuh"
#include "cuda/check.cuh"
#include "cuda/ops.h"
#include "first/error.h"

namespace first {
namespace cuda {

namespace {

constexpr int kRows = 64, kTokens = 64, kThreads = 256;
constexpr int kStageBlocks = 4;  // quant blocks (of 32) per shared-memory stage
constexpr int kWordsPad = 9;     // 8 words per block + 1 so a warp's rows hit distinct banks
constexpr int kFloatK = 32;      // float elements per stage

__device__ __forceinline__ void store_tile(const float (&acc)[4][4], int r0, int c0, int rows, int M, float* y,
                                           int64_t ldy, bool accumulate) {
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int r = r0 + ty + 16 * i;
    if (r >= rows) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int c = c0 + tx + 16 * j;
      if (c >= M) continue;
      float* out = y + static_cast<int64_t>(c) * ldy + r;
      *out = accumulate ? *out + acc[i][j] : acc[i][j];
    }
  }
}

template <class W, class A>
__global__ void __launch_bounds__(kThreads) tiled_quant_kernel(const uint8_t* w, size_t w_stride, int rows, int nb,
                                                                 const uint8_t* a, size_t a_stride, int M, float* y,
                                                                 int64_t ldy, bool accumulate) {
  __shared__ int32_t sw[kStageBlocks][kRows][kWordsPad];
  __shared__ float swd[kStageBlocks][kRows], swm[kStageBlocks][kRows];
  __shared__ int32_t sa[kStageBlocks][kTokens][kWordsPad];
  __shared__ float sad[kStageBlocks][kTokens], sas[kStageBlocks][kTokens];
  const int r0 = blockIdx.x * kRows, c0 = blockIdx.y * kTokens;
  const int t = threadIdx.x, tx = t % 16, ty = t / 16;
  // Loader roles: 4 neighbouring threads read 4 neighbouring blocks of one row.
  const int lkb = t % kStageBlocks, lrow = t / kStageBlocks;
  float acc[4][4] = {};
  for (int kb0 = 0; kb0 < nb; kb0 += kStageBlocks) {
    {
      int32_t q[8] = {};
      float d = 0.f, m = 0.f;
      const int b = kb0 + lkb, r = r0 + lrow;
      if (b < nb && r < rows) W::load(w + static_cast<size_t>(r) * w_stride + static_cast<size_t>(b) * W::kBytes, q, d, m);
#pragma unroll
      for (int i = 0; i < 8; ++i) sw[lkb][lrow][i] = q[i];
      swd[lkb][lrow] = d;
      swm[lkb][lrow] = m;
      int32_t aq[8] = {};
      float ad = 0.f, as = 0.f;
      const int c = c0 + lrow;
      if (b < nb && c < M) A::load(a + static_cast<size_t>(c) * a_stride + static_cast<size_t>(b) * A::kBytes, aq, ad, as);
#pragma unroll
      for (int i = 0; i < 8; ++i) sa[lkb][lrow][i] = aq[i];
      sad[lkb][lrow] = ad;
      sas[lkb][lrow] = as;
    }
    __syncthreads();
#pragma unroll
    for (int kb = 0; kb < kStageBlocks; ++kb) {
      int32_t aw[4][8];
      float ad[4], as[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int c = tx + 16 * j;
#pragma unroll
        for (int i = 0; i < 8; ++i) aw[j][i] = sa[kb][c][i];
        ad[j] = sad[kb][c];
        as[j] = sas[kb][c];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int r = ty + 16 * i;
        int32_t ww[8];
#pragma unroll
        for (int k = 0; k < 8; ++k) ww[k] = sw[kb][r][k];
        const float wd = swd[kb][r], wm = swm[kb][r];
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += block_dot(ww, wd, wm, aw[j], ad[j], as[j]);
      }
    }
    __syncthreads();
  }
  store_tile(acc, r0, c0, rows, M, y, ldy, accumulate);
}

template <class E>
__global__ void __launch_bounds__(kThreads) tiled_float_kernel(const uint8_t* w, size_t w_stride, int rows, int cols,
                                                                 const float* x, int64_t ldx, int M, float* y,
                                                                 int64_t ldy, bool accumulate) {
  __shared__ float sw[kRows][kFloatK + 1];
  __shared__ float sx[kTokens][kFloatK + 1];
  const int r0 = blockIdx.x * kRows, c0 = blockIdx.y * kTokens;
  const int t = threadIdx.x, tx = t % 16, ty = t / 16;
  const int lrow = t / 4, lk = (t % 4) * 8;  // each thread loads 8 consecutive elements of one row
  float acc[4][4] = {};
  for (int k0 = 0; k0 < cols; k0 += kFloatK) {
    const int r = r0 + lrow, c = c0 + lrow;
    const uint8_t* wr = w + static_cast<size_t>(r) * w_stride;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int k = k0 + lk + i;
      sw[lrow][lk + i] = (r < rows && k < cols) ? E::at(wr, k) : 0.f;
      sx[lrow][lk + i] = (c < M && k < cols) ? x[static_cast<int64_t>(c) * ldx + k] : 0.f;
    }
    __syncthreads();
#pragma unroll 8
    for (int k = 0; k < kFloatK; ++k) {
      float xv[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) xv[j] = sx[tx + 16 * j][k];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float wv = sw[ty + 16 * i][k];
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(wv, xv[j], acc[i][j]);
      }
    }
    __syncthreads();
  }
  store_tile(acc, r0, c0, rows, M, y, ldy, accumulate);
}

dim3 grid_for(const DeviceWeight& W, int64_t M) {
  return dim3(static_cast<unsigned>((W.rows + kRows - 1) / kRows), static_cast<unsigned>((M + kTokens - 1) / kTokens));
}

template <class W, class A>
void launch_quant(const DeviceWeight& W_, const void* act, size_t act_stride, int64_t M, float* Y, int64_t ldy,
                  bool accumulate, cudaStream_t s) {
  tiled_quant_kernel<W, A><<<grid_for(W_, M), kThreads, 0, s>>>(W_.data, W_.row_bytes, static_cast<int>(W_.rows),
                                                                static_cast<int>(W_.cols / 32),
                                                                static_cast<const uint8_t*>(act), act_stride,
                                                                static_cast<int>(M), Y, ldy, accumulate);
}

template <class E>
void launch_float(const DeviceWeight& W_, const void* act, size_t act_stride, int64_t M, float* Y, int64_t ldy,
                  bool accumulate, cudaStream_t s) {
  tiled_float_kernel<E><<<grid_for(W_, M), kThreads, 0, s>>>(
      W_.data, W_.row_bytes, static_cast<int>(W_.rows), static_cast<int>(W_.cols), static_cast<const float*>(act),
      static_cast<int64_t>(act_stride / sizeof(float)), static_cast<int>(M), Y, ldy, accumulate);
}

}  // namespace

void matmul_tiled(const DeviceWeight& W, const void* act, size_t act_stride, int64_t M, float* Y, int64_t ldy,
                  bool accumulate, Stream stream) {
  if (M <= 0 || W.rows == 0) return;
  if (M > 65535 * static_cast<int64_t>(kTokens)) throw Error("cuda matmul: too many activation rows");
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (W.type) {
    case TensorType::Q4_0: launch_quant<Q4_0Block, ActQ8_0>(W, act, act_stride, M, Y, ldy, accumulate, s); break;
    case TensorType::Q4_1: launch_quant<Q4_1Block, ActQ8_1>(W, act, act_stride, M, Y, ldy, accumulate, s); break;
    case TensorType::Q8_0: launch_quant<Q8_0Block, ActQ8_0>(W, act, act_stride, M, Y, ldy, accumulate, s); break;
    case TensorType::F32: launch_float<F32Elem>(W, act, act_stride, M, Y, ldy, accumulate, s); break;
    case TensorType::F16: launch_float<F16Elem>(W, act, act_stride, M, Y, ldy, accumulate, s); break;
    case TensorType::BF16: launch_float<BF16Elem>(W, act, act_stride, M, Y, ldy, accumulate, s); break;
    default: throw Error("cuda matmul: weight type has no CUDA kernel");
  }
  check_launch("matmul_tiled");
}

}  // namespace cuda
}  // namespace first
