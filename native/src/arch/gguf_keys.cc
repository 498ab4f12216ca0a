#include "arch/gguf_keys.h"

#include "first/error.h"

namespace first {

int64_t gguf_int(const GgufFile& f, const std::string& key, int64_t fallback, bool required) {
  const GgufValue* v = f.find(key);
  if (!v) {
    if (required) throw Error(f.path() + ": missing metadata key '" + key + "'");
    return fallback;
  }
  if (v->type == GgufValueType::ARRAY) {
    // Some models store per-layer values; this engine needs them uniform.
    const auto& arr = v->as_array();
    if (arr.empty()) throw Error(f.path() + ": metadata key '" + key + "' is an empty array");
    int64_t first = arr[0].as_int();
    for (const auto& e : arr)
      if (e.as_int() != first) throw Error(f.path() + ": per-layer '" + key + "' values differ; not supported");
    return first;
  }
  return v->as_int();
}

double gguf_float(const GgufFile& f, const std::string& key, double fallback) {
  const GgufValue* v = f.find(key);
  return v ? v->as_float() : fallback;
}

}  // namespace first
