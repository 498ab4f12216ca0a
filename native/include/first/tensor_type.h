// Tensor element/block types as numbered by the GGUF format (ggml_type).
#pragma once
#include <cstddef>
#include <cstdint>

namespace first {

enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q8_0 = 8,
  Q8_1 = 9,  // activation-side only (paired with Q4_1 weights)
  Q4_K = 12,
  Q6_K = 14,
  Q8_K = 15,  // activation-side only (paired with K-quant weights)
  BF16 = 30,
};

struct TypeInfo {
  const char* name;
  int64_t block_size;  // elements per block
  size_t block_bytes;  // bytes per block
};

// nullptr when the type id is not one this engine supports.
const TypeInfo* type_info(uint32_t type_id);
// Bytes of a row of n elements; n must be a multiple of the block size.
size_t row_bytes(TensorType t, int64_t n);

}  // namespace first
