// Weights re-laid 16 rows at a time for the AVX-512 kernels. In a row group,
// each block keeps the 16 rows' scales side by side and their quants in
// 4-byte columns, so one vpdpbusd multiplies 4 elements of all 16 rows by a
// broadcast of 4 activations, and the 16 sums land in one register: no
// horizontal reductions, no per-row scale shuffles. Made once at model load
// for Q4_0, Q4_1 and Q8_0 weights on CPUs that have AVX-512; the GGUF layout
// stays in use for everything else.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "first/tensor_type.h"

namespace first {

struct WeightView;

constexpr int kRowGroup = 16;

// Whether weights of type t have a row-group layout.
bool row_groups_supported(TensorType t);

// Bytes of one row group (16 rows of `cols` elements) of type t.
size_t row_group_bytes(TensorType t, int64_t cols);

// The first rows / 16 * 16 rows of W, re-laid in row groups, 64-byte aligned.
struct RowGroups {
  struct Free {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> data;
  int64_t groups = 0;
};
RowGroups make_row_groups(const WeightView& W);

}  // namespace first
