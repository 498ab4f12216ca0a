#include "first/tensor_type.h"

#include <string>

#include "first/error.h"

namespace first {

const TypeInfo* type_info(uint32_t type_id) {
  // Sizes follow the GGUF/ggml block layouts byte for byte.
  static const TypeInfo kF32{"F32", 1, 4};
  static const TypeInfo kF16{"F16", 1, 2};
  static const TypeInfo kQ4_0{"Q4_0", 32, 18};
  static const TypeInfo kQ4_1{"Q4_1", 32, 20};
  static const TypeInfo kQ8_0{"Q8_0", 32, 34};
  static const TypeInfo kQ8_1{"Q8_1", 32, 36};
  static const TypeInfo kQ4_K{"Q4_K", 256, 144};
  static const TypeInfo kQ6_K{"Q6_K", 256, 210};
  static const TypeInfo kQ8_K{"Q8_K", 256, 292};
  static const TypeInfo kBF16{"BF16", 1, 2};
  switch (static_cast<TensorType>(type_id)) {
    case TensorType::F32: return &kF32;
    case TensorType::F16: return &kF16;
    case TensorType::Q4_0: return &kQ4_0;
    case TensorType::Q4_1: return &kQ4_1;
    case TensorType::Q8_0: return &kQ8_0;
    case TensorType::Q8_1: return &kQ8_1;
    case TensorType::Q4_K: return &kQ4_K;
    case TensorType::Q6_K: return &kQ6_K;
    case TensorType::Q8_K: return &kQ8_K;
    case TensorType::BF16: return &kBF16;
  }
  return nullptr;
}

size_t row_bytes(TensorType t, int64_t n) {
  const TypeInfo* info = type_info(static_cast<uint32_t>(t));
  if (!info) throw Error("unsupported tensor type id " + std::to_string(static_cast<uint32_t>(t)));
  if (n < 0 || n % info->block_size != 0)
    throw Error(std::string("row of ") + std::to_string(n) + " elements is not a whole number of " + info->name +
                " blocks (" + std::to_string(info->block_size) + " elements each)");
  return static_cast<size_t>(n / info->block_size) * info->block_bytes;
}

}  // namespace first
