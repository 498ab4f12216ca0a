// LoRA at inference: module names and the forward product as f32 GEMMs
// (few rows take dot products). A and B are transposed into scratch where the
// GEMM wants the other layout (rank is small, so these copies are cheap).
#include <cstring>
#include <vector>

#include "first/error.h"
#include "first/lora.h"
#include "first/vec.h"
#include "first/gemm.h"

namespace first {

namespace {
constexpr const char* kNames[kLoraModules] = {"q", "k", "v", "o", "gate", "up", "down"};
}

const char* lora_module_name(LoraModule m) { return kNames[static_cast<int>(m)]; }

LoraModule parse_lora_module(const std::string& name) {
  for (int m = 0; m < kLoraModules; ++m)
    if (name == kNames[m]) return static_cast<LoraModule>(m);
  throw Error("unknown LoRA module '" + name + "' (expected q, k, v, o, gate, up or down)");
}

void lora_forward(const LoraAdapter& a, const float* X, int64_t M, int64_t ldx, float* Y, int64_t ldy, float* t,
                  ThreadPool& pool) {
  const int64_t r = a.rank;
  if (M < kLoraFewRows) {
    // Per row: t = A x (rank dots along A's rows), then y += scale * B t.
    for (int64_t i = 0; i < M; ++i) {
      const float* x = X + i * ldx;
      float* ti = t + i * r;
      float* y = Y + i * ldy;
      for (int64_t k = 0; k < r; ++k) ti[k] = vec_dot_f32(x, a.A.data() + k * a.in, a.in);
      for (int64_t o = 0; o < a.out; ++o) y[o] += a.scale * vec_dot_f32(ti, a.B.data() + o * r, r);
    }
    return;
  }
  thread_local std::vector<float> at, bt;
  at.resize(a.in * r);
  bt.resize(r * a.out);
  transpose(a.A.data(), r, a.in, a.in, at.data());   // in x rank
  transpose(a.B.data(), a.out, r, r, bt.data());     // rank x out
  std::memset(t, 0, sizeof(float) * M * r);
  gemm_nn(M, r, a.in, 1.f, X, ldx, at.data(), r, t, r, &pool);
  gemm_nn(M, a.out, r, a.scale, t, r, bt.data(), a.out, Y, ldy, &pool);
}

}  // namespace first
