// Typed reads of GGUF metadata with defaults, for Model::load and the
// architecture files.
#pragma once
#include <cstdint>
#include <string>

#include "first/gguf.h"

namespace first {

// An integer key (a per-layer array must hold one value throughout); throws
// naming the key when it is missing and required, or not an integer.
int64_t gguf_int(const GgufFile& f, const std::string& key, int64_t fallback, bool required);
double gguf_float(const GgufFile& f, const std::string& key, double fallback);

}  // namespace first
