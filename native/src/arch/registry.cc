// The architectures Model::load accepts, by general.architecture.
#include "first/architecture.h"

namespace first {

namespace {
const Architecture* const* all() {
  static const Architecture* const list[] = {&llama_architecture(), &qwen2_architecture(), &qwen3_architecture(),
                                             &gemma3_architecture(), &phi3_architecture(), nullptr};
  return list;
}
}  // namespace

const Architecture* find_architecture(const std::string& name) {
  for (const Architecture* const* a = all(); *a; ++a)
    if (name == (*a)->name) return *a;
  return nullptr;
}

std::string architecture_names() {
  std::string s;
  for (const Architecture* const* a = all(); *a; ++a) s += (s.empty() ? "" : ", ") + std::string((*a)->name);
  return s;
}

}  // namespace first
