// RoPE fused with the KV write: a row's queries rotate in place while its
// keys rotate straight into their slot of the paged pool and its values are
// copied beside them, so rotated keys never take a trip through a scratch
// buffer. Angles come from a table built on the host exactly as the CPU's.
#include <cuda_runtime.h>

#include "cuda/check.cuh"
#include "cuda/ops.h"

namespace first {
namespace cuda {

namespace {

// KvPoolView::block_floats() for device code (the view's header is plain C++).
__device__ __forceinline__ size_t block_floats(const KvPoolView& kv) {
  return static_cast<size_t>(2) * kv.block_tokens * kv.kv_dim;
}

constexpr int kThreads = 128;

// The CPU's rotation, without fused multiply-adds so both round alike.
__device__ __forceinline__ void rotate(float a, float b, float c, float s, float* oa, float* ob) {
  *oa = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
  *ob = __fadd_rn(__fmul_rn(a, s), __fmul_rn(b, c));
}

__global__ void rope_kv_kernel(RopeTable rope, float* q, int64_t ldq, int n_heads, const float* k, const float* v,
                               int64_t ldkv, int n_kv_heads, const int32_t* pos, const int32_t* slot, KvPoolView kv) {
  const int r = blockIdx.x;
  const int half = rope.rope_dim / 2;
  const float* cs = rope.cos_sin + static_cast<int64_t>(pos[r]) * half;
  const float* sn = cs + static_cast<int64_t>(rope.max_positions) * half;
  const int hd = rope.head_dim;
  float* qr = q + r * ldq;
  for (int p = threadIdx.x; p < n_heads * half; p += kThreads) {
    const int h = p / half, j = p % half;
    float* x = qr + h * hd + 2 * j;
    rotate(x[0], x[1], cs[j], sn[j], x, x + 1);
  }
  const int s = slot[r];
  float* kd = kv.pool + static_cast<size_t>(s / kv.block_tokens) * block_floats(kv) +
              static_cast<size_t>(s % kv.block_tokens) * kv.kv_dim;
  float* vd = kd + static_cast<size_t>(kv.block_tokens) * kv.kv_dim;
  const float* kr = k + r * ldkv;
  const float* vr = v + r * ldkv;
  const int kv_dim = n_kv_heads * hd;
  for (int e = 2 * threadIdx.x; e < kv_dim; e += 2 * kThreads) {
    const int c = e % hd;  // head_dim is even, so a pair never straddles two heads
    if (c < rope.rope_dim) {
      rotate(kr[e], kr[e + 1], cs[c / 2], sn[c / 2], kd + e, kd + e + 1);
    } else {
      kd[e] = kr[e];
      kd[e + 1] = kr[e + 1];
    }
    vd[e] = vr[e];
    vd[e + 1] = vr[e + 1];
  }
}

}  // namespace

void rope_write_kv(const RopeTable& rope, float* q, int64_t ldq, int n_heads, const float* k, const float* v,
                   int64_t ldkv, int n_kv_heads, const int32_t* pos, const int32_t* slot, int64_t n,
                   const KvPoolView& kv, Stream stream) {
  if (n == 0) return;
  rope_kv_kernel<<<static_cast<unsigned>(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      rope, q, ldq, n_heads, k, v, ldkv, n_kv_heads, pos, slot, kv);
  check_launch("rope_write_kv");
}

}  // namespace cuda
}  // namespace first
