// LoRA backward as f32 GEMMs (the forward is in src/cpu/lora_forward.cc).
#include <vector>

#include "first/gemm.h"
#include "first/lora.h"

namespace first {

void lora_backward(const LoraAdapter& a, const float* X, int64_t ldx, const float* t, const float* dY, int64_t ldy,
                   int64_t M, float* dA, float* dB, float* dX, int64_t lddx, ThreadPool& pool) {
  thread_local std::vector<float> dyt, dt, dtt;
  const int64_t r = a.rank;
  // dB (out x rank) += scale * dY^T t
  dyt.resize(a.out * M);
  transpose(dY, M, a.out, ldy, dyt.data());
  gemm_nn(a.out, r, M, a.scale, dyt.data(), M, t, r, dB, r, &pool);
  // dt (M x rank) = scale * dY B
  dt.assign(M * r, 0.f);
  gemm_nn(M, r, a.out, a.scale, dY, ldy, a.B.data(), r, dt.data(), r, &pool);
  // dA (rank x in) += dt^T X
  dtt.resize(r * M);
  transpose(dt.data(), M, r, r, dtt.data());
  gemm_nn(r, a.in, M, 1.f, dtt.data(), M, X, ldx, dA, a.in, &pool);
  // dX (M x in) += dt A
  if (dX) gemm_nn(M, a.in, r, 1.f, dt.data(), r, a.A.data(), a.in, dX, lddx, &pool);
}

}  // namespace first
