// Walks an nr x nc output tile with a format's register micro-kernels; shared
// by every vector kernel set (it holds no intrinsics).
#pragma once
#include <cstddef>
#include <cstdint>

namespace first {
namespace quant {

// Stores or adds an output value.
inline void put(float* out, float v, bool accumulate) { *out = accumulate ? *out + v : v; }

// Walks an nr x nc tile with K's micro-kernels: K::run<R, C> computes R weight
// rows (R <= 4) against C activation rows; full K::kCols-column steps first,
// then single columns, with 4-row steps and a 1..3-row remainder.
template <class K, int C>
void drive_rows(int64_t nb, const uint8_t* w, size_t ws, int nr, const uint8_t* a, size_t as, float* y, int64_t ldy,
                bool accumulate) {
  int r = 0;
  for (; r + 4 <= nr; r += 4) K::template run<4, C>(nb, w + r * ws, ws, a, as, y + r, ldy, accumulate);
  switch (nr - r) {
    case 3: K::template run<3, C>(nb, w + r * ws, ws, a, as, y + r, ldy, accumulate); break;
    case 2: K::template run<2, C>(nb, w + r * ws, ws, a, as, y + r, ldy, accumulate); break;
    case 1: K::template run<1, C>(nb, w + r * ws, ws, a, as, y + r, ldy, accumulate); break;
    default: break;
  }
}

template <class K>
void drive_tile(int64_t nb, const uint8_t* w, size_t ws, int nr, const uint8_t* a, size_t as, int nc, float* y,
                int64_t ldy, bool accumulate) {
  int c = 0;
  for (; c + K::kCols <= nc; c += K::kCols)
    drive_rows<K, K::kCols>(nb, w, ws, nr, a + c * as, as, y + c * ldy, ldy, accumulate);
  for (; c < nc; ++c) drive_rows<K, 1>(nb, w, ws, nr, a + c * as, as, y + c * ldy, ldy, accumulate);
}

}  // namespace quant
}  // namespace first
