// Device memory owned by one object (freed when it dies), with synchronous
// copies to and from the host. Plain C++, for the engine and the tests.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace first {
namespace cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return ptr_; }
  size_t size() const { return bytes_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  // Reallocates when smaller than `bytes` (the old contents are dropped).
  void reserve(size_t bytes);
  void upload(const void* src, size_t bytes, size_t offset = 0);
  void download(void* dst, size_t bytes, size_t offset = 0) const;
  void zero();  // synchronous

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Host memory the GPU can copy from asynchronously (page-locked).
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer();
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* data() const { return ptr_; }
  size_t size() const { return bytes_; }
  void reserve(size_t bytes);  // drops the contents when it grows

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Uploads a host vector into a new buffer.
template <typename T>
DeviceBuffer to_device(const std::vector<T>& v) {
  DeviceBuffer b(v.size() * sizeof(T));
  if (!v.empty()) b.upload(v.data(), v.size() * sizeof(T));
  return b;
}
template <typename T>
std::vector<T> to_host(const DeviceBuffer& b, size_t n) {
  std::vector<T> v(n);
  if (n) b.download(v.data(), n * sizeof(T));
  return v;
}

}  // namespace cuda
}  // namespace first
