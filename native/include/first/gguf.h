// GGUF reader (versions 2 and 3). The file is mmapped read-only; tensors are
// views into the mapping, never copies. Every count, length, offset and size is
// checked against the file before use, so a corrupt file gives a first::Error.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>
#include "first/tensor_type.h"

namespace first {

enum class GgufValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

struct GgufValue;
using GgufArray = std::vector<GgufValue>;

// A metadata value. Integers are widened to int64/uint64, floats to double.
// Large arrays of strings or numbers (token lists, scores) keep their element
// type in `elem_type`.
struct GgufValue {
  GgufValueType type = GgufValueType::UINT32;
  GgufValueType elem_type = GgufValueType::UINT32;  // for ARRAY
  std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<GgufArray>> v;

  int64_t as_int() const;          // throws first::Error if not an integer
  double as_float() const;         // integers convert
  bool as_bool() const;
  const std::string& as_string() const;
  const GgufArray& as_array() const;
};

struct GgufTensor {
  std::string name;
  TensorType type;
  std::vector<int64_t> shape;  // ne[0] is the contiguous (row) dimension
  uint64_t offset = 0;         // relative to the data section
  size_t n_bytes = 0;
  const uint8_t* data = nullptr;  // inside the mapping

  int64_t n_elements() const;
  int64_t rows() const;  // product of shape[1..]
  int64_t cols() const { return shape.empty() ? 1 : shape[0]; }
};

// Caps on what the metadata may claim. Each parsed array element costs far
// more memory than its encoding (a GgufValue is ~48 bytes for a 1-byte u8), so
// one array and all arrays together are capped. Real files stay far below: a
// 256k vocabulary with scores, types and merges is ~1M elements.
struct GgufLimits {
  uint64_t max_array_len = uint64_t(1) << 24;
  uint64_t max_metadata_elements = uint64_t(1) << 24;  // over every array in the file
};

class MappedFile;

class GgufFile {
 public:
  // Throws first::Error naming the path and what is wrong.
  static std::unique_ptr<GgufFile> open(const std::string& path);
  // Parses a GGUF image already in memory (the fuzz targets use it so that the
  // sanitizers see every read). Nothing is copied: `data` must outlive the
  // returned file. `name` stands in for the path in error messages.
  static std::unique_ptr<GgufFile> parse(const void* data, size_t size, const std::string& name,
                                         const GgufLimits& limits = {});
  // A model whose metadata and tensors were gathered from other files (a
  // Hugging Face checkpoint: src/hf/checkpoint.cc); the tensors point into
  // `files`, which the result keeps mapped. Nothing is validated here.
  static std::unique_ptr<GgufFile> assemble(const std::string& name,
                                            std::vector<std::pair<std::string, GgufValue>> metadata,
                                            std::vector<GgufTensor> tensors,
                                            std::vector<std::shared_ptr<const MappedFile>> files);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  const std::string& path() const { return path_; }
  size_t file_size() const { return size_; }
  size_t alignment() const { return alignment_; }

  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const GgufValue* find(const std::string& key) const;  // nullptr if absent
  const GgufValue& get(const std::string& key) const;   // throws if absent

  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  // Lets the kernel drop the mapped pages of [p, p + n) (a read later fetches
  // them from the file again): for tensors whose bytes were copied elsewhere.
  // Does nothing outside this file's own read-only mapping.
  void release_pages(const void* p, size_t n) const;
  const GgufTensor* find_tensor(const std::string& name) const;
  const GgufTensor& tensor(const std::string& name) const;  // throws if absent

 private:
  GgufFile() = default;
  std::string path_;
  uint32_t version_ = 0;
  size_t alignment_ = 32;
  void* map_ = nullptr;  // the mapping, or the caller's bytes when !owns_map_
  bool owns_map_ = false;
  size_t size_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::map<std::string, size_t> kv_index_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t> tensor_index_;
  std::vector<std::shared_ptr<const MappedFile>> files_;  // assembled models' sources
  friend class GgufParser;
};

}  // namespace first
