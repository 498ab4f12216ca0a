// libFuzzer target: the GGUF reader on arbitrary bytes. Parsing straight from
// the fuzzer's heap buffer lets AddressSanitizer see any read outside the
// input. An input may be refused, but only with first::Error; an accepted one
// must describe tensors that lie inside it, which this target reads end to end.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "first/error.h"
#include "first/gguf.h"

namespace {

[[noreturn]] void broken(const char* what, const std::string& name) {
  std::fprintf(stderr, "gguf_parse: %s: %s\n", what, name.c_str());
  std::abort();
}

// Reads every metadata value through its accessor, as the tokenizer and model do.
uint64_t touch_value(const first::GgufValue& v) {
  uint64_t h = 0;
  try {
    switch (v.type) {
      case first::GgufValueType::STRING: return v.as_string().size();
      case first::GgufValueType::ARRAY:
        for (const auto& e : v.as_array()) h += touch_value(e);
        return h;
      case first::GgufValueType::BOOL: return v.as_bool();
      case first::GgufValueType::FLOAT32:
      case first::GgufValueType::FLOAT64: return uint64_t(v.as_float() != 0);
      default: return uint64_t(v.as_int());
    }
  } catch (const first::Error&) {
    return 1;  // a u64 above INT64_MAX refuses as_int(); that is the documented answer
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<first::GgufFile> f;
  try {
    f = first::GgufFile::parse(data, size, "fuzz-input.gguf");
  } catch (const first::Error&) {
    return 0;  // refused cleanly
  }
  volatile uint64_t sink = 0;
  for (const auto& [key, value] : f->metadata()) {
    if (f->find(key) != &value) broken("metadata index disagrees with the list", key);
    sink = sink + touch_value(value);
  }
  const uint8_t* end = data + size;
  for (const auto& t : f->tensors()) {
    if (f->find_tensor(t.name) != &t) broken("tensor index disagrees with the list", t.name);
    if (t.data < data || t.data > end || t.n_bytes > size_t(end - t.data)) broken("tensor outside the input", t.name);
    if (t.n_elements() <= 0 || t.rows() * t.cols() != t.n_elements()) broken("inconsistent tensor shape", t.name);
    for (size_t i = 0; i < t.n_bytes; ++i) sink = sink + t.data[i];
  }
  return 0;
}
