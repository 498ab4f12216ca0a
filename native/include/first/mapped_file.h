// A whole file mapped read-only, unmapped when the last holder lets go.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace first {

class MappedFile {
 public:
  // Throws first::Error naming the path (missing, not a regular file, empty).
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace first
