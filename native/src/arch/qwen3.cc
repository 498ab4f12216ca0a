// Qwen3: no biases; RMSNorm over each head of q and k before NeoX RoPE.
#include "first/architecture.h"

namespace first {

const Architecture& qwen3_architecture() {
  LayerRecipe r;
  r.rope = RopeStyle::HalfSplit;
  r.qk_norm = true;
  static const Architecture a{"qwen3", r, nullptr};
  return a;
}

}  // namespace first
