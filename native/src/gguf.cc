// GGUF reader. The whole file is mmapped read-only and parsed through a
// bounds-checked cursor: every count, length and offset read from the file is
// compared with the bytes that remain before it is used, so a truncated or
// corrupt file ends in a first::Error that names the file and the problem.
#include "first/gguf.h"
#include "first/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>

#include "first/error.h"

namespace first {
namespace {

constexpr uint32_t kMaxDims = 4;  // as ggml (GGML_MAX_DIMS)

// Smallest encodings, used to reject counts that cannot fit in the file
// before anything is allocated for them.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;           // key length, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name length, n_dims, 1 dim, type, offset
// Larger alignments only pad; ggml itself writes 32.
constexpr uint64_t kMaxAlignment = uint64_t(1) << 16;

// ggml type names, only to make "unsupported type" errors readable.
const char* ggml_type_name(uint32_t id) {
  static const char* const names[] = {
      "F32",     "F16",    "Q4_0",    "Q4_1",  nullptr, nullptr, "Q5_0",   "Q5_1",   "Q8_0",   "Q8_1",
      "Q2_K",    "Q3_K",   "Q4_K",    "Q5_K",  "Q6_K",  "Q8_K",  "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
      "IQ4_NL",  "IQ3_S",  "IQ2_S",   "IQ4_XS", "I8",   "I16",   "I32",    "I64",    "F64",    "IQ1_M",
      "BF16",    nullptr,  nullptr,   nullptr, "TQ1_0", "TQ2_0", nullptr,  nullptr,  nullptr,  "MXFP4",
  };
  if (id < sizeof(names) / sizeof(names[0]) && names[id]) return names[id];
  return nullptr;
}

bool is_known_value_type(uint32_t t) { return t <= uint32_t(GgufValueType::FLOAT64); }

// Encoded size of a scalar value type; 0 for STRING and ARRAY (variable).
uint64_t scalar_bytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8:
    case GgufValueType::INT8:
    case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16:
    case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32:
    case GgufValueType::INT32:
    case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64:
    case GgufValueType::INT64:
    case GgufValueType::FLOAT64: return 8;
    case GgufValueType::STRING:
    case GgufValueType::ARRAY: return 0;
  }
  return 0;
}

bool is_power_of_two(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

}  // namespace

// Parses the mapping held by a GgufFile into its metadata and tensor list.
class GgufParser {
 public:
  GgufParser(GgufFile& f, const GgufLimits& limits)
      : f_(f), limits_(limits), base_(static_cast<const uint8_t*>(f.map_)), size_(f.size_) {}

  void parse() {
    read_header();
    read_metadata();
    read_alignment();
    read_tensor_infos();
    place_tensors();
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("invalid GGUF file " + f_.path_ + ": " + what);
  }
  [[noreturn]] void fail_at(const std::string& what) const {
    fail(what + " (at byte " + std::to_string(pos_) + " of " + std::to_string(size_) + ")");
  }

  uint64_t remaining() const { return size_ - pos_; }

  void need(uint64_t n, const char* what) const {
    if (n > remaining()) {
      fail_at(std::string("file ends inside ") + what + " (needs " + std::to_string(n) + " bytes, " +
              std::to_string(remaining()) + " left)");
    }
  }

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, base_ + pos_, sizeof(T));  // GGUF is little-endian, as is every host we build for
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const char* what) {
    const uint64_t len = read<uint64_t>(what);
    if (len > remaining()) {
      fail_at(std::string(what) + " has length " + std::to_string(len) + ", past the end of the file");
    }
    std::string s(reinterpret_cast<const char*>(base_ + pos_), size_t(len));
    pos_ += len;
    return s;
  }

  void read_header() {
    if (size_ < 4 || std::memcmp(base_, "GGUF", 4) != 0) fail("not a GGUF file (bad magic)");
    pos_ = 4;
    const uint32_t version = read<uint32_t>("the header");
    if (version == 1) fail("GGUF version 1 is not supported (only versions 2 and 3 are)");
    if (version != 2 && version != 3) {
      if ((version & 0xFFFF) == 0 && version != 0) fail("the file looks big-endian; only little-endian GGUF is supported");
      fail("unsupported GGUF version " + std::to_string(version) + " (only versions 2 and 3 are)");
    }
    f_.version_ = version;
    n_tensors_ = read<uint64_t>("the header");
    n_kv_ = read<uint64_t>("the header");
    // Each entry takes a minimum number of bytes, so the counts are bounded by the file size.
    if (n_kv_ > remaining() / kMinKvBytes) {
      fail("metadata count " + std::to_string(n_kv_) + " is impossible for a file of " + std::to_string(size_) +
           " bytes");
    }
    if (n_tensors_ > remaining() / kMinTensorInfoBytes) {
      fail("tensor count " + std::to_string(n_tensors_) + " is impossible for a file of " + std::to_string(size_) +
           " bytes");
    }
    if (n_kv_ * kMinKvBytes + n_tensors_ * kMinTensorInfoBytes > remaining()) {
      fail(std::to_string(n_kv_) + " metadata entries and " + std::to_string(n_tensors_) +
           " tensors are impossible for a file of " + std::to_string(size_) + " bytes");
    }
  }

  GgufValueType read_value_type(const std::string& key, const char* what) {
    const uint32_t t = read<uint32_t>(what);
    if (!is_known_value_type(t)) fail_at("metadata key '" + key + "' has unknown value type " + std::to_string(t));
    return GgufValueType(t);
  }

  // Reads one scalar or string of type t into out.
  void read_scalar(GgufValueType t, GgufValue& out) {
    out.type = t;
    switch (t) {
      case GgufValueType::UINT8: out.v = uint64_t(read<uint8_t>("a metadata value")); break;
      case GgufValueType::INT8: out.v = int64_t(read<int8_t>("a metadata value")); break;
      case GgufValueType::UINT16: out.v = uint64_t(read<uint16_t>("a metadata value")); break;
      case GgufValueType::INT16: out.v = int64_t(read<int16_t>("a metadata value")); break;
      case GgufValueType::UINT32: out.v = uint64_t(read<uint32_t>("a metadata value")); break;
      case GgufValueType::INT32: out.v = int64_t(read<int32_t>("a metadata value")); break;
      case GgufValueType::UINT64: out.v = read<uint64_t>("a metadata value"); break;
      case GgufValueType::INT64: out.v = read<int64_t>("a metadata value"); break;
      case GgufValueType::FLOAT32: out.v = double(read<float>("a metadata value")); break;
      case GgufValueType::FLOAT64: out.v = read<double>("a metadata value"); break;
      case GgufValueType::BOOL: {
        const uint8_t b = read<uint8_t>("a metadata value");
        if (b > 1) fail_at("bool metadata value is " + std::to_string(b) + ", not 0 or 1");
        out.v = b != 0;
        break;
      }
      case GgufValueType::STRING: out.v = read_string("a metadata string"); break;
      case GgufValueType::ARRAY: fail_at("internal: array read as scalar");
    }
  }

  GgufValue read_array(const std::string& key) {
    GgufValue out;
    out.type = GgufValueType::ARRAY;
    out.elem_type = read_value_type(key, "an array element type");
    if (out.elem_type == GgufValueType::ARRAY) fail_at("metadata key '" + key + "' holds nested arrays, which are not supported");
    const uint64_t len = read<uint64_t>("an array length");
    // Strings take at least their 8-byte length each.
    const uint64_t min_elem = out.elem_type == GgufValueType::STRING ? 8 : scalar_bytes(out.elem_type);
    if (len > limits_.max_array_len || len > remaining() / min_elem) {
      fail_at("metadata key '" + key + "' is an array of " + std::to_string(len) +
              " elements, more than the file holds or the reader allows (" +
              std::to_string(limits_.max_array_len) + ")");
    }
    if (len > limits_.max_metadata_elements - array_elements_) {
      fail_at("metadata key '" + key + "' brings the arrays to more than " +
              std::to_string(limits_.max_metadata_elements) + " elements in all, more than the reader allows");
    }
    array_elements_ += len;
    auto arr = std::make_shared<GgufArray>(size_t(len));
    for (auto& e : *arr) read_scalar(out.elem_type, e);
    out.v = std::move(arr);
    return out;
  }

  void read_metadata() {
    f_.kv_.reserve(size_t(n_kv_));
    for (uint64_t i = 0; i < n_kv_; ++i) {
      std::string key = read_string("a metadata key");
      if (key.empty()) fail_at("metadata entry " + std::to_string(i) + " has an empty key");
      const GgufValueType t = read_value_type(key, "a metadata value type");
      GgufValue value;
      if (t == GgufValueType::ARRAY) {
        value = read_array(key);
      } else {
        read_scalar(t, value);
      }
      if (!f_.kv_index_.emplace(key, f_.kv_.size()).second) fail("metadata key '" + key + "' appears twice");
      f_.kv_.emplace_back(std::move(key), std::move(value));
    }
  }

  void read_alignment() {
    const GgufValue* a = f_.find("general.alignment");
    if (!a) return;
    if (a->type != GgufValueType::UINT32) fail("general.alignment must be a u32");
    const uint64_t align = std::get<uint64_t>(a->v);
    if (!is_power_of_two(align)) fail("general.alignment " + std::to_string(align) + " is not a power of two");
    if (align > kMaxAlignment) {
      fail("general.alignment " + std::to_string(align) + " is larger than " + std::to_string(kMaxAlignment));
    }
    f_.alignment_ = size_t(align);
  }

  void read_tensor_infos() {
    f_.tensors_.reserve(size_t(n_tensors_));
    for (uint64_t i = 0; i < n_tensors_; ++i) {
      GgufTensor t;
      t.name = read_string("a tensor name");
      if (t.name.empty()) fail_at("tensor " + std::to_string(i) + " has an empty name");
      const uint32_t n_dims = read<uint32_t>("a tensor's dimension count");
      if (n_dims < 1 || n_dims > kMaxDims) {
        fail_at("tensor '" + t.name + "' has " + std::to_string(n_dims) + " dimensions (1 to 4 are allowed)");
      }
      t.shape.resize(n_dims);
      for (auto& d : t.shape) {
        d = read<int64_t>("a tensor's shape");
        if (d <= 0) fail_at("tensor '" + t.name + "' has dimension " + std::to_string(d) + " (must be positive)");
      }
      const uint32_t type_id = read<uint32_t>("a tensor's type");
      const TypeInfo* info = type_info(type_id);
      if (!info) {
        const char* known = ggml_type_name(type_id);
        fail("tensor '" + t.name + "' has type " + (known ? std::string(known) + " " : std::string()) + "(id " +
             std::to_string(type_id) + "), which is not supported");
      }
      t.type = TensorType(type_id);
      t.offset = read<uint64_t>("a tensor's offset");
      t.n_bytes = size_t(tensor_bytes(t, *info));
      if (!f_.tensor_index_.emplace(t.name, f_.tensors_.size()).second) {
        fail("tensor '" + t.name + "' appears twice");
      }
      f_.tensors_.push_back(std::move(t));
    }
  }

  // Bytes of a tensor, with the element count and byte size checked for overflow.
  uint64_t tensor_bytes(const GgufTensor& t, const TypeInfo& info) const {
    int64_t n = 1;
    for (int64_t d : t.shape) {
      if (__builtin_mul_overflow(n, d, &n)) fail("tensor '" + t.name + "' has too many elements (overflow)");
    }
    const int64_t cols = t.shape[0];
    if (cols % info.block_size != 0) {
      fail("tensor '" + t.name + "' has rows of " + std::to_string(cols) + " elements, not a multiple of the " +
           info.name + " block size " + std::to_string(info.block_size));
    }
    const uint64_t rows = uint64_t(n / cols);
    uint64_t row_bytes = 0, bytes = 0;
    if (__builtin_mul_overflow(uint64_t(cols / info.block_size), uint64_t(info.block_bytes), &row_bytes) ||
        __builtin_mul_overflow(row_bytes, rows, &bytes) || bytes > std::numeric_limits<size_t>::max()) {
      fail("tensor '" + t.name + "' is too large (byte size overflows)");
    }
    return bytes;
  }

  // The data section starts at the first aligned offset after the tensor
  // infos; every tensor must be aligned, inside the file and not overlap another.
  void place_tensors() {
    const uint64_t align = f_.alignment_;
    const uint64_t data_start = (pos_ + align - 1) / align * align;
    if (f_.tensors_.empty()) return;
    if (data_start > size_) fail("file ends before the tensor data section (" + std::to_string(data_start) + ")");
    const uint64_t data_size = size_ - data_start;
    for (auto& t : f_.tensors_) {
      if (t.offset % align != 0) {
        fail("tensor '" + t.name + "' offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
             std::to_string(align));
      }
      if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
        fail("tensor '" + t.name + "' (" + std::to_string(t.n_bytes) + " bytes at data offset " +
             std::to_string(t.offset) + ") extends past the end of the file");
      }
      t.data = base_ + data_start + t.offset;
    }
    std::vector<const GgufTensor*> by_offset;
    by_offset.reserve(f_.tensors_.size());
    for (const auto& t : f_.tensors_) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(),
              [](const GgufTensor* a, const GgufTensor* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i) {
      const GgufTensor& prev = *by_offset[i - 1];
      if (prev.offset + prev.n_bytes > by_offset[i]->offset) {
        fail("tensors '" + prev.name + "' and '" + by_offset[i]->name + "' overlap");
      }
    }
  }

  GgufFile& f_;
  const GgufLimits limits_;
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
  uint64_t array_elements_ = 0;  // over every metadata array so far
};

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open GGUF file " + path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw Error("cannot stat GGUF file " + path + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("GGUF path " + path + " is not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    throw Error("invalid GGUF file " + path + ": the file is empty");
  }
  f->size_ = size_t(st.st_size);
  void* m = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (m == MAP_FAILED) throw Error("cannot mmap GGUF file " + path + ": " + std::strerror(map_err));
  f->map_ = m;
  f->owns_map_ = true;
  GgufParser(*f, GgufLimits{}).parse();  // on error, ~GgufFile unmaps
  return f;
}

std::unique_ptr<GgufFile> GgufFile::parse(const void* data, size_t size, const std::string& name,
                                          const GgufLimits& limits) {
  if (size == 0) throw Error("invalid GGUF file " + name + ": the file is empty");
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = name;
  f->map_ = const_cast<void*>(data);  // only ever read
  f->size_ = size;
  GgufParser(*f, limits).parse();
  return f;
}

std::unique_ptr<GgufFile> GgufFile::assemble(const std::string& name,
                                             std::vector<std::pair<std::string, GgufValue>> metadata,
                                             std::vector<GgufTensor> tensors,
                                             std::vector<std::shared_ptr<const MappedFile>> files) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = name;
  f->version_ = 3;
  f->kv_ = std::move(metadata);
  for (size_t i = 0; i < f->kv_.size(); ++i)
    if (!f->kv_index_.emplace(f->kv_[i].first, i).second) throw Error(name + ": metadata key '" + f->kv_[i].first + "' twice");
  f->tensors_ = std::move(tensors);
  for (size_t i = 0; i < f->tensors_.size(); ++i) {
    if (!f->tensor_index_.emplace(f->tensors_[i].name, i).second)
      throw Error(name + ": tensor '" + f->tensors_[i].name + "' twice");
    f->size_ += f->tensors_[i].n_bytes;
  }
  f->files_ = std::move(files);
  return f;
}

GgufFile::~GgufFile() {
  if (map_ && owns_map_) munmap(map_, size_);
}

void GgufFile::release_pages(const void* p, size_t n) const {
  if (!map_ || !owns_map_ || n == 0) return;
  const uintptr_t base = reinterpret_cast<uintptr_t>(map_), lo = reinterpret_cast<uintptr_t>(p);
  if (lo < base || lo + n > base + size_) return;
  // Only whole pages inside the range: a neighbour's bytes stay resident.
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t first = (lo + page - 1) / page * page, last = (lo + n) / page * page;
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GgufValue& GgufFile::get(const std::string& key) const {
  const GgufValue* v = find(key);
  if (!v) throw Error("GGUF file " + path_ + " has no metadata key '" + key + "'");
  return *v;
}

const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const GgufTensor& GgufFile::tensor(const std::string& name) const {
  const GgufTensor* t = find_tensor(name);
  if (!t) throw Error("GGUF file " + path_ + " has no tensor '" + name + "'");
  return *t;
}

int64_t GgufTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // checked for overflow when the file was opened
  return n;
}

int64_t GgufTensor::rows() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

}  // namespace first
