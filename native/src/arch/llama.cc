// Llama 2/3, TinyLlama, SmolLM, Mistral-style GQA: the plain layer. Llama 3's
// rope scaling arrives as rope_freqs.weight (per-frequency factors), which
// Model::load reads for every family.
#include "first/architecture.h"

namespace first {

const Architecture& llama_architecture() {
  static const Architecture a{"llama", LayerRecipe{}, nullptr};
  return a;
}

}  // namespace first
