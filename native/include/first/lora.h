// Low-rank adapters (LoRA) on the decoder's linear maps, kept unmerged:
//   y = W x + scale * B (A x),   A: rank x in,  B: out x rank  (f32, row-major)
// The quantized base weight W is never touched: the engine adds the adapter's
// int8 form (first/low_rank.h) in the base matmul's call, the trainer an f32
// product (lora_forward) whose intermediate its backward pass reuses.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "first/low_rank.h"
#include "first/threadpool.h"

namespace first {

// The seven linear maps of a llama layer, in a fixed order.
enum class LoraModule : int { Q = 0, K, V, O, Gate, Up, Down };
constexpr int kLoraModules = 7;

const char* lora_module_name(LoraModule m);            // "q", "k", "v", "o", "gate", "up", "down"
LoraModule parse_lora_module(const std::string& name);  // throws Error on an unknown name

// Below this many rows lora_forward uses the per-row path.
constexpr int64_t kLoraFewRows = 16;

struct LoraAdapter {
  int rank = 0;
  int64_t in = 0, out = 0;
  float scale = 0.f;     // alpha / rank
  std::vector<float> A;  // rank x in (the trainer's; empty in the engine)
  std::vector<float> B;  // out x rank (likewise)
  // The int8 form the engine runs (first/low_rank.h); empty (rank 0) for the
  // trainer's adapters.
  LowRank decode;
};

// The adapters of one layer (null where a module has none).
struct LayerLora {
  const LoraAdapter* module[kLoraModules] = {};
  bool any() const {
    for (const LoraAdapter* a : module)
      if (a) return true;
    return false;
  }
};

// Y (M x out, stride ldy) += scale * (X A^T) B^T. t (M x rank) receives X A^T,
// which the backward pass needs again. Few rows take a dot path without the
// GEMM's transposed copies of A and B.
void lora_forward(const LoraAdapter& a, const float* X, int64_t M, int64_t ldx, float* Y, int64_t ldy, float* t,
                  ThreadPool& pool);

// Given dY = dL/dY (M x out), with X and t = X A^T from the forward:
//   dA += scale * (dY B)^T X,  dB += scale * dY^T t,  dX += scale * (dY B) A.
// dX may be null (no input gradient wanted).
void lora_backward(const LoraAdapter& a, const float* X, int64_t ldx, const float* t, const float* dY, int64_t ldy,
                   int64_t M, float* dA, float* dB, float* dX, int64_t lddx, ThreadPool& pool);

}  // namespace first
