// Phi-3 / Phi-4-mini: fused attn_qkv and gate-up (ffn_up holds gate then up)
// tensors, NeoX RoPE with optional per-frequency factors for short and long
// contexts (rope_factors_short/long.weight). GGUFs may declare a sliding
// window; like llama.cpp, attention ignores it (full causal attention).
#include "first/architecture.h"

namespace first {

const Architecture& phi3_architecture() {
  LayerRecipe r;
  r.rope = RopeStyle::HalfSplit;
  r.fused_gate_up = true;
  static const Architecture a{"phi3", r, nullptr};
  return a;
}

}  // namespace first
