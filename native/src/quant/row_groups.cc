// The row-group layout (first/row_groups.h), written from GGUF blocks by plain
// byte moves: the quants of a block are cut into 4-byte words and word j of
// row r goes to bytes [4r, 4r + 4) of the block's j-th 64-byte column.
#include "first/row_groups.h"

#include <cstdlib>
#include <cstring>

#include "first/error.h"
#include "first/matmul.h"
#include "quant/blocks.h"

namespace first {

namespace {
struct Layout {
  size_t scale_bytes;  // per block: the scales of 16 rows (d, then m for Q4_1)
  size_t quant_bytes;  // per block per row
  size_t block_bytes;  // per block, in the GGUF layout
};

bool layout_of(TensorType t, Layout* out) {
  switch (t) {
    case TensorType::Q4_0: *out = {2 * kRowGroup, quant::kQK / 2, sizeof(quant::BlockQ4_0)}; return true;
    case TensorType::Q4_1: *out = {4 * kRowGroup, quant::kQK / 2, sizeof(quant::BlockQ4_1)}; return true;
    case TensorType::Q8_0: *out = {2 * kRowGroup, quant::kQK, sizeof(quant::BlockQ8_0)}; return true;
    default: return false;
  }
}
}  // namespace

void RowGroups::Free::operator()(uint8_t* p) const { std::free(p); }

bool row_groups_supported(TensorType t) {
  Layout l;
  return layout_of(t, &l);
}

size_t row_group_bytes(TensorType t, int64_t cols) {
  Layout l;
  if (!layout_of(t, &l)) throw Error("row groups: unsupported weight type");
  return static_cast<size_t>(cols / quant::kQK) * (l.scale_bytes + kRowGroup * l.quant_bytes);
}

RowGroups make_row_groups(const WeightView& W) {
  Layout l;
  if (!layout_of(W.type, &l)) throw Error("row groups: unsupported weight type");
  if (W.cols % quant::kQK != 0) throw Error("row groups: columns are not whole blocks");
  RowGroups out;
  out.groups = W.rows / kRowGroup;
  if (out.groups == 0) return out;
  const int64_t nb = W.cols / quant::kQK;
  const size_t group_bytes = row_group_bytes(W.type, W.cols);
  const size_t total = (group_bytes * static_cast<size_t>(out.groups) + 63) / 64 * 64;
  out.data.reset(static_cast<uint8_t*>(std::aligned_alloc(64, total)));
  if (!out.data) throw Error("row groups: out of memory");
  const size_t scale_per_row = l.scale_bytes / kRowGroup;  // 2 (d) or 4 (d, m)
  for (int64_t g = 0; g < out.groups; ++g) {
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* dst = out.data.get() + g * group_bytes + b * (l.scale_bytes + kRowGroup * l.quant_bytes);
      for (int r = 0; r < kRowGroup; ++r) {
        const uint8_t* src = W.data + (g * kRowGroup + r) * W.row_bytes + b * l.block_bytes;
        // Scales: all rows' d, then (Q4_1) all rows' m.
        for (size_t s = 0; s < scale_per_row / 2; ++s) std::memcpy(dst + s * 2 * kRowGroup + 2 * r, src + 2 * s, 2);
        const uint8_t* q = src + scale_per_row;
        for (size_t j = 0; j < l.quant_bytes / 4; ++j)
          std::memcpy(dst + l.scale_bytes + j * 4 * kRowGroup + 4 * r, q + 4 * j, 4);
      }
    }
  }
  return out;
}

}  // namespace first
