// Round to nearest, ties to even, for |v| < 2^22 (the quantizers' range),
// independent of the FPU rounding mode and of libm.
#pragma once
#include <cstdint>
#include <cstring>

namespace first {
namespace quant {

inline int round_even(float v) {
  float shifted = v + 12582912.f;  // 1.5 * 2^23: the sum's low mantissa bits hold the rounded integer
  int32_t i;
  std::memcpy(&i, &shifted, 4);
  return (i & 0x007fffff) - 0x00400000;
}

}  // namespace quant
}  // namespace first
