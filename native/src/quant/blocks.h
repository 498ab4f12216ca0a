// Block layouts, byte for byte as GGUF files (ggml) store them.
#pragma once
#include <cstdint>

namespace first {
namespace quant {

constexpr int kQK = 32;    // elements per Q4_0/Q4_1/Q8_0/Q8_1 block
constexpr int kQKK = 256;  // elements per K-quant super-block

struct BlockQ4_0 {  // value = (q - 8) * d; low nibbles hold elements 0..15, high nibbles 16..31
  uint16_t d;
  uint8_t qs[kQK / 2];
};
struct BlockQ4_1 {  // value = q * d + m
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};
struct BlockQ8_0 {  // value = q * d
  uint16_t d;
  int8_t qs[kQK];
};
struct BlockQ8_1 {  // value = q * d; s = d * sum(q), so a Q4_1 min folds into one multiply
  uint16_t d;
  uint16_t s;
  int8_t qs[kQK];
};
// 8 sub-blocks of 32: value = d * sc[j] * q - dmin * m[j], sc/m 6-bit, packed in scales[12].
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQKK / 2];  // each 32 bytes hold two sub-blocks: low nibbles then high nibbles
};
// 16 sub-blocks of 16: value = d * scales[j] * (q - 32), q 6-bit split in 4 low bits (ql) and 2 high bits (qh).
struct BlockQ6_K {
  uint8_t ql[kQKK / 2];
  uint8_t qh[kQKK / 4];
  int8_t scales[kQKK / 16];
  uint16_t d;
};
struct BlockQ8_K {  // activation partner of the K-quants; bsums: sum of each 16 quants
  float d;
  int8_t qs[kQKK];
  int16_t bsums[kQKK / 16];
};

static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block layout");
static_assert(sizeof(BlockQ4_1) == 20, "Q4_1 block layout");
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block layout");
static_assert(sizeof(BlockQ8_1) == 36, "Q8_1 block layout");
static_assert(sizeof(BlockQ4_K) == 144, "Q4_K block layout");
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block layout");
static_assert(sizeof(BlockQ8_K) == 292, "Q8_K block layout");

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K super-block.
inline void q4_k_scale_min(int j, const uint8_t* s, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

}  // namespace quant
}  // namespace first
