// A small strict JSON reader for config.json and safetensors headers: values
// are parsed into a tree with bounded depth and size, numbers as double (and
// exact int64 where integral), errors naming the byte where parsing stopped.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace first::json {

struct Value {
  enum class Kind { Null, Bool, Number, String, Array, Object } kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  bool integral = false;  // the text was an integer that fits int64
  int64_t integer = 0;
  std::string string;
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> object;  // in document order

  const Value* find(const std::string& key) const;  // objects only; null if absent
  bool is_object() const { return kind == Kind::Object; }
  bool is_array() const { return kind == Kind::Array; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Number; }
};

struct Limits {
  int max_depth = 64;
  size_t max_values = size_t{1} << 22;
};

// Throws first::Error("<name>: ...") on malformed input, duplicate keys,
// trailing bytes, or a document past the limits.
Value parse(const char* text, size_t size, const std::string& name, const Limits& limits = {});

}  // namespace first::json
