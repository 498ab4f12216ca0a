// Paged causal attention. A thread block serves one query row and one KV
// head: its warps are the query heads of that group, so the K/V rows they all
// read come through L1 once. A warp walks the context 32 positions at a time:
// lane j scores position p0 + j (the whole head's dot, q from shared memory),
// the warp updates an online softmax, then each lane accumulates the value
// dims it owns (lane, lane + 32, ...) over those 32 positions.
#include <cuda_runtime.h>

#include <cmath>

#include "cuda/check.cuh"
#include "cuda/ops.h"
#include "first/error.h"

namespace first {
namespace cuda {

namespace {

// KvPoolView::block_floats() for device code (the view's header is plain C++).
__device__ __forceinline__ size_t block_floats(const KvPoolView& kv) {
  return static_cast<size_t>(2) * kv.block_tokens * kv.kv_dim;
}

constexpr int kMaxHeadDim = 512;
constexpr int kMaxGroup = 16;
constexpr int kDimsPerLane = kMaxHeadDim / 32;

__global__ void attention_kernel(KvPoolView kv, const float* q, int64_t ldq, float* out, int64_t ldo, int n_kv_heads,
                                 int head_dim, int group, float scale, const int32_t* tables,
                                 const int32_t* table_off, const int32_t* n_ctx) {
  extern __shared__ float4 shared_q[];  // group x head_dim floats; float4 keeps the 16-byte reads aligned
  float* sq = reinterpret_cast<float*>(shared_q);
  const int r = blockIdx.x, kvh = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int head = kvh * group + warp;
  float* qs = sq + warp * head_dim;
  const float* qr = q + r * ldq + static_cast<int64_t>(head) * head_dim;
  for (int i = lane; i < head_dim; i += 32) qs[i] = qr[i];
  __syncwarp();

  const int32_t* table = tables + table_off[r];
  const int n = n_ctx[r];
  const int bt = kv.block_tokens;
  const size_t bf = block_floats(kv);
  const int64_t head_off = static_cast<int64_t>(kvh) * head_dim;
  float m = -INFINITY, l = 0.f;
  float acc[kDimsPerLane] = {};
  for (int p0 = 0; p0 < n; p0 += 32) {
    const int p = p0 + lane;
    float s = -INFINITY;
    if (p < n) {
      const float* kr = kv.pool + static_cast<size_t>(table[p / bt]) * bf + static_cast<size_t>(p % bt) * kv.kv_dim + head_off;
      const float4* k4 = reinterpret_cast<const float4*>(kr);
      const float4* q4 = reinterpret_cast<const float4*>(qs);
      float dot = 0.f;
      for (int i = 0; i < head_dim / 4; ++i) {
        const float4 a = q4[i], b = k4[i];
        dot = fmaf(a.x, b.x, dot);
        dot = fmaf(a.y, b.y, dot);
        dot = fmaf(a.z, b.z, dot);
        dot = fmaf(a.w, b.w, dot);
      }
      s = dot * scale;
    }
    float cm = s;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) cm = fmaxf(cm, __shfl_xor_sync(0xffffffffu, cm, o));
    const float m_new = fmaxf(m, cm);
    const float alpha = expf(m - m_new);  // 0 on the first chunk (m = -inf)
    const float e = p < n ? expf(s - m_new) : 0.f;
    float es = e;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) es += __shfl_xor_sync(0xffffffffu, es, o);
    l = l * alpha + es;
    m = m_new;
#pragma unroll
    for (int t = 0; t < kDimsPerLane; ++t) acc[t] *= alpha;
    const int count = min(32, n - p0);
    for (int j = 0; j < count; ++j) {
      const float w = __shfl_sync(0xffffffffu, e, j);
      const int pj = p0 + j;
      const float* vr = kv.pool + static_cast<size_t>(table[pj / bt]) * bf + static_cast<size_t>(bt) * kv.kv_dim +
                        static_cast<size_t>(pj % bt) * kv.kv_dim + head_off;
#pragma unroll
      for (int t = 0; t < kDimsPerLane; ++t) {
        const int dim = lane + 32 * t;
        if (dim < head_dim) acc[t] = fmaf(w, vr[dim], acc[t]);
      }
    }
  }
  float* o = out + r * ldo + static_cast<int64_t>(head) * head_dim;
  const float inv = 1.f / l;
#pragma unroll
  for (int t = 0; t < kDimsPerLane; ++t) {
    const int dim = lane + 32 * t;
    if (dim < head_dim) o[dim] = acc[t] * inv;
  }
}

}  // namespace

void paged_attention(const KvPoolView& kv, const float* q, int64_t ldq, float* out, int64_t ldo, int n_heads,
                     int n_kv_heads, int head_dim, const int32_t* tables, const int32_t* table_off,
                     const int32_t* n_ctx, int64_t n, Stream stream) {
  if (head_dim % 4 != 0 || head_dim > kMaxHeadDim) throw Error("cuda attention: head_dim must be a multiple of 4, at most 512");
  if (n_kv_heads <= 0 || n_heads % n_kv_heads != 0 || n_heads / n_kv_heads > kMaxGroup)
    throw Error("cuda attention: n_heads / n_kv_heads must be a whole number at most 16");
  if (n == 0) return;
  const int group = n_heads / n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const size_t shared = sizeof(float) * group * head_dim;
  attention_kernel<<<dim3(static_cast<unsigned>(n), static_cast<unsigned>(n_kv_heads)), group * 32, shared,
                     static_cast<cudaStream_t>(stream)>>>(kv, q, ldq, out, ldo, n_kv_heads, head_dim, group, scale,
                                                          tables, table_off, n_ctx);
  check_launch("paged_attention");
}

}  // namespace cuda
}  // namespace first
