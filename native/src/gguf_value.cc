// Typed accessors for GGUF metadata values. A wrong-type access is a
// first::Error (not a std::bad_variant_access) so callers get a readable message.
#include <limits>
#include <string>

#include "first/error.h"
#include "first/gguf.h"

namespace first {
namespace {

const char* value_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: return "u8";
    case GgufValueType::INT8: return "i8";
    case GgufValueType::UINT16: return "u16";
    case GgufValueType::INT16: return "i16";
    case GgufValueType::UINT32: return "u32";
    case GgufValueType::INT32: return "i32";
    case GgufValueType::FLOAT32: return "f32";
    case GgufValueType::BOOL: return "bool";
    case GgufValueType::STRING: return "string";
    case GgufValueType::ARRAY: return "array";
    case GgufValueType::UINT64: return "u64";
    case GgufValueType::INT64: return "i64";
    case GgufValueType::FLOAT64: return "f64";
  }
  return "unknown";
}

[[noreturn]] void wrong_type(GgufValueType have, const char* want) {
  throw Error(std::string("GGUF metadata value is ") + value_type_name(have) + ", expected " + want);
}

}  // namespace

int64_t GgufValue::as_int() const {
  if (const auto* u = std::get_if<uint64_t>(&v)) {
    if (*u > uint64_t(std::numeric_limits<int64_t>::max())) {
      throw Error("GGUF metadata value " + std::to_string(*u) + " does not fit in a signed 64-bit integer");
    }
    return int64_t(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  wrong_type(type, "an integer");
}

double GgufValue::as_float() const {
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* u = std::get_if<uint64_t>(&v)) return double(*u);
  if (const auto* i = std::get_if<int64_t>(&v)) return double(*i);
  wrong_type(type, "a number");
}

bool GgufValue::as_bool() const {
  if (const auto* b = std::get_if<bool>(&v)) return *b;
  wrong_type(type, "bool");
}

const std::string& GgufValue::as_string() const {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  wrong_type(type, "string");
}

const GgufArray& GgufValue::as_array() const {
  if (const auto* a = std::get_if<std::shared_ptr<GgufArray>>(&v)) return **a;
  wrong_type(type, "array");
}

}  // namespace first
