// The safetensors format: an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
// {...}}, then the data. Tensors are views into the mapped file.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "first/gguf.h"
#include "first/mapped_file.h"

namespace first::hf {

struct SafetensorsTensor {
  std::string name;
  TensorType type;             // F32, F16 or BF16
  std::vector<int64_t> shape;  // as stored: row-major, the last dimension contiguous
  const uint8_t* data = nullptr;
  size_t n_bytes = 0;
};

// Throws first::Error naming the file and the tensor on a header that is not
// JSON, offsets outside the data, sizes that do not match dtype and shape,
// overlapping tensors, or a dtype the engine cannot compute with.
std::vector<SafetensorsTensor> read_safetensors(const MappedFile& file);

}  // namespace first::hf
