#include "hf/json.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "first/error.h"

namespace first::json {

const Value* Value::find(const std::string& key) const {
  if (kind != Kind::Object) return nullptr;
  for (const auto& [k, v] : object)
    if (k == key) return &v;
  return nullptr;
}

namespace {

class Parser {
 public:
  Parser(const char* p, size_t n, const std::string& name, const Limits& l) : s_(p), n_(n), name_(name), limits_(l) {}

  Value document() {
    Value v = value(0);
    skip_space();
    if (pos_ != n_) fail("trailing bytes after the document");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(name_ + ": invalid JSON at byte " + std::to_string(pos_) + ": " + what);
  }
  void skip_space() {
    while (pos_ < n_ && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool literal(const char* word) {
    const size_t len = std::strlen(word);
    if (n_ - pos_ >= len && std::memcmp(s_ + pos_, word, len) == 0) {
      pos_ += len;
      return true;
    }
    return false;
  }
  void count() {
    if (++values_ > limits_.max_values) fail("more than " + std::to_string(limits_.max_values) + " values");
  }

  Value value(int depth) {
    if (depth > limits_.max_depth) fail("nested deeper than " + std::to_string(limits_.max_depth));
    skip_space();
    if (pos_ >= n_) fail("unexpected end");
    count();
    Value v;
    const char c = s_[pos_];
    if (c == '{') {
      v.kind = Value::Kind::Object;
      ++pos_;
      skip_space();
      if (pos_ < n_ && s_[pos_] == '}') return ++pos_, v;
      for (;;) {
        skip_space();
        if (pos_ >= n_ || s_[pos_] != '"') fail("expected a string key");
        std::string key = string();
        if (v.find(key)) fail("duplicate key \"" + key + "\"");
        skip_space();
        if (pos_ >= n_ || s_[pos_] != ':') fail("expected ':'");
        ++pos_;
        Value item = value(depth + 1);
        v.object.emplace_back(std::move(key), std::move(item));
        skip_space();
        if (pos_ < n_ && s_[pos_] == ',') { ++pos_; continue; }
        if (pos_ < n_ && s_[pos_] == '}') { ++pos_; return v; }
        fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.kind = Value::Kind::Array;
      ++pos_;
      skip_space();
      if (pos_ < n_ && s_[pos_] == ']') return ++pos_, v;
      for (;;) {
        v.array.push_back(value(depth + 1));
        skip_space();
        if (pos_ < n_ && s_[pos_] == ',') { ++pos_; continue; }
        if (pos_ < n_ && s_[pos_] == ']') { ++pos_; return v; }
        fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v.kind = Value::Kind::String;
      v.string = string();
      return v;
    }
    if (literal("true")) return v.kind = Value::Kind::Bool, v.boolean = true, v;
    if (literal("false")) return v.kind = Value::Kind::Bool, v;
    if (literal("null")) return v;
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    fail(std::string("unexpected character '") + c + "'");
  }

  Value number() {
    const size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    auto digits = [&] {
      const size_t d0 = pos_;
      while (pos_ < n_ && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      if (pos_ == d0) fail("expected a digit");
    };
    digits();
    bool integral = true;
    if (pos_ < n_ && s_[pos_] == '.') ++pos_, digits(), integral = false;
    if (pos_ < n_ && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < n_ && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      digits();
      integral = false;
    }
    const std::string text(s_ + start, pos_ - start);
    Value v;
    v.kind = Value::Kind::Number;
    v.number = std::strtod(text.c_str(), nullptr);
    if (!std::isfinite(v.number)) fail("number out of range: " + text);
    if (integral && text.size() <= 18) {
      v.integral = true;
      v.integer = std::strtoll(text.c_str(), nullptr, 10);
    }
    return v;
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (pos_ >= n_) fail("unterminated string");
      const unsigned char c = static_cast<unsigned char>(s_[pos_++]);
      if (c == '"') return out;
      if (c < 0x20) fail("control character in a string");
      if (c != '\\') {
        out.push_back(static_cast<char>(c));
        continue;
      }
      if (pos_ >= n_) fail("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // a surrogate pair
            if (n_ - pos_ < 6 || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') fail("lone high surrogate");
            pos_ += 2;
            const uint32_t lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("bad low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("lone low surrogate");
          }
          utf8(cp, out);
          break;
        }
        default: fail(std::string("bad escape '\\") + e + "'");
      }
    }
  }
  uint32_t hex4() {
    if (n_ - pos_ < 4) fail("short \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = s_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= h - '0';
      else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
      else fail("bad hex digit in \\u escape");
    }
    return v;
  }
  static void utf8(uint32_t cp, std::string& out) {
    if (cp < 0x80) out.push_back(static_cast<char>(cp));
    else if (cp < 0x800) out.push_back(static_cast<char>(0xC0 | (cp >> 6))), out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    else if (cp < 0x10000)
      out.push_back(static_cast<char>(0xE0 | (cp >> 12))), out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F))),
          out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    else
      out.push_back(static_cast<char>(0xF0 | (cp >> 18))), out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F))),
          out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F))), out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }

  const char* s_;
  size_t n_, pos_ = 0, values_ = 0;
  const std::string& name_;
  Limits limits_;
};

}  // namespace

Value parse(const char* text, size_t size, const std::string& name, const Limits& limits) {
  return Parser(text, size, name, limits).document();
}

}  // namespace first::json
