// Gemma 3: embeddings scaled by sqrt(d_model); RMSNorm over each head of q and
// k; RMSNorm of the attention and MLP outputs before each residual add; a
// GELU (tanh) gated MLP; NeoX RoPE. Sliding-window attention on all layers but
// every `sliding_window_pattern`-th (default 6), those local layers with their
// own RoPE base (rope.freq_base_swa, default 10000) and no RoPE scaling.
// GGUF norm weights already hold Gemma's (1 + w).
#include <cmath>

#include "arch/gguf_keys.h"
#include "first/architecture.h"
#include "first/error.h"
#include "first/model.h"

namespace first {

namespace {
void read(const GgufFile& f, const std::string& p, ModelConfig& c) {
  c.embed_scale = std::sqrt(static_cast<float>(c.d_model));
  // The 27B model scales queries by d_model / heads rather than head_dim.
  c.attn_scale = c.n_layers == 62 ? 1.0f / std::sqrt(static_cast<float>(c.d_model / c.n_heads))
                                  : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  c.logit_softcap = static_cast<float>(gguf_float(f, p + "final_logit_softcapping", 0.0));
  if (c.logit_softcap < 0) throw Error(f.path() + ": final_logit_softcapping must not be negative");
  const int64_t window = gguf_int(f, p + "attention.sliding_window", 0, false);
  if (window < 0 || window > (int64_t{1} << 30)) throw Error(f.path() + ": attention.sliding_window out of range");
  if (window == 0) return;
  const int64_t period = gguf_int(f, p + "attention.sliding_window_pattern", 6, false);
  // A period longer than the model leaves every layer sliding; only the bound matters.
  if (period < 0 || period > 65536) throw Error(f.path() + ": attention.sliding_window_pattern out of range");
  c.sliding_window = static_cast<int>(window);
  c.layer_sliding.assign(c.n_layers, 0);
  for (int l = 0; l < c.n_layers; ++l) c.layer_sliding[l] = period == 0 || l % period < period - 1;
  c.rope_base_sliding = static_cast<float>(gguf_float(f, p + "rope.freq_base_swa", 10000.0));
  if (!(c.rope_base_sliding > 0)) throw Error(f.path() + ": rope.freq_base_swa must be positive");
}
}  // namespace

const Architecture& gemma3_architecture() {
  LayerRecipe r;
  r.rope = RopeStyle::HalfSplit;
  r.activation = MlpActivation::GeluTanh;
  r.qk_norm = true;
  r.post_norms = true;
  static const Architecture a{"gemma3", r, read};
  return a;
}

}  // namespace first
