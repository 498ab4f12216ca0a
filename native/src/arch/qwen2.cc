// Qwen2 / Qwen2.5: the llama layer with Q/K/V biases (found by name) and
// NeoX-layout RoPE.
#include "first/architecture.h"

namespace first {

const Architecture& qwen2_architecture() {
  static const Architecture a{"qwen2", LayerRecipe{RopeStyle::HalfSplit}, nullptr};
  return a;
}

}  // namespace first
