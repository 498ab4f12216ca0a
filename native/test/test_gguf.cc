// GGUF reader tests. Small files are written by a little GGUF writer below,
// then corrupted in many ways: every corrupt file must give a first::Error.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "first/error.h"
#include "first/gguf.h"
#include "harness.h"

using first::GgufFile;
using first::GgufValueType;
using first::TensorType;

namespace {

// Appends little-endian GGUF encodings to a byte buffer.
struct Bytes {
  std::vector<uint8_t> b;

  template <typename T>
  Bytes& raw(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
    return *this;
  }
  Bytes& str(const std::string& s) {
    raw<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b.insert(b.end(), {'G', 'G', 'U', 'F'});
    return raw(version).raw(n_tensors).raw(n_kv);
  }
  Bytes& key(const std::string& k, GgufValueType t) { return str(k).raw(uint32_t(t)); }
  Bytes& kv_u32(const std::string& k, uint32_t v) { return key(k, GgufValueType::UINT32).raw(v); }
  Bytes& kv_str(const std::string& k, const std::string& v) { return key(k, GgufValueType::STRING).str(v); }
  Bytes& tensor_info(const std::string& name, const std::vector<int64_t>& shape, uint32_t type, uint64_t offset) {
    str(name).raw(uint32_t(shape.size()));
    for (int64_t d : shape) raw(d);
    return raw(type).raw(offset);
  }
  Bytes& pad_to(size_t align) {
    while (b.size() % align) b.push_back(0);
    return *this;
  }
  Bytes& fill(size_t n, uint8_t v = 0) {
    b.insert(b.end(), n, v);
    return *this;
  }
  size_t size() const { return b.size(); }
};

std::string temp_path() {
  static int counter = 0;
  return "/tmp/first_gguf_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + ".gguf";
}

// Writes bytes to a temp file, removed when this goes out of scope.
struct TempFile {
  std::string path = temp_path();
  explicit TempFile(const std::vector<uint8_t>& bytes) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) throw std::runtime_error("cannot write " + path);
    if (!bytes.empty()) std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  ~TempFile() { std::remove(path.c_str()); }
};

std::unique_ptr<GgufFile> open_bytes(const std::vector<uint8_t>& bytes) {
  TempFile f(bytes);
  return GgufFile::open(f.path);  // the mapping outlives the file name
}

// Returns the first::Error message, or "" (and a failed CHECK) if there was none.
std::string error_of(const std::vector<uint8_t>& bytes) {
  TempFile f(bytes);
  try {
    GgufFile::open(f.path);
  } catch (const first::Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find(f.path) != std::string::npos) << "error does not name the file: " << msg;
    return msg;
  } catch (const std::exception& e) {
    CHECK(false) << "not a first::Error: " << e.what();
    return "";
  }
  CHECK(false) << "corrupt file was accepted";
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

#define CHECK_ERROR(bytes, part)                                        \
  do {                                                                  \
    const std::string msg_ = error_of(bytes);                           \
    CHECK(contains(msg_, part)) << "expected '" << part << "' in: " << msg_; \
  } while (0)

// A valid file with every metadata type, arrays and three tensors.
struct Sample {
  Bytes bytes;
  size_t data_start = 0;
};

Sample sample_file(uint32_t version, uint32_t alignment) {
  Sample s;
  Bytes& b = s.bytes;
  const uint64_t n_kv = 21;
  b.header(version, 3, n_kv);
  b.key("t.u8", GgufValueType::UINT8).raw<uint8_t>(200);
  b.key("t.i8", GgufValueType::INT8).raw<int8_t>(-100);
  b.key("t.u16", GgufValueType::UINT16).raw<uint16_t>(60000);
  b.key("t.i16", GgufValueType::INT16).raw<int16_t>(-30000);
  b.kv_u32("t.u32", 4000000000u);
  b.key("t.i32", GgufValueType::INT32).raw<int32_t>(-2000000000);
  b.key("t.f32", GgufValueType::FLOAT32).raw<float>(1.5f);
  b.key("t.bool", GgufValueType::BOOL).raw<uint8_t>(1);
  b.kv_str("t.string", "héllo");
  b.key("t.u64", GgufValueType::UINT64).raw<uint64_t>(1ull << 40);
  b.key("t.i64", GgufValueType::INT64).raw<int64_t>(-(1ll << 40));
  b.key("t.f64", GgufValueType::FLOAT64).raw<double>(0.125);
  b.kv_str("t.empty_string", "");
  b.key("t.arr_str", GgufValueType::ARRAY).raw(uint32_t(GgufValueType::STRING)).raw<uint64_t>(3);
  b.str("a").str("").str("<|im_end|>");
  b.key("t.arr_i32", GgufValueType::ARRAY).raw(uint32_t(GgufValueType::INT32)).raw<uint64_t>(2);
  b.raw<int32_t>(-7).raw<int32_t>(9);
  b.key("t.arr_f32", GgufValueType::ARRAY).raw(uint32_t(GgufValueType::FLOAT32)).raw<uint64_t>(2);
  b.raw<float>(0.5f).raw<float>(-2.0f);
  b.key("t.arr_bool", GgufValueType::ARRAY).raw(uint32_t(GgufValueType::BOOL)).raw<uint64_t>(2);
  b.raw<uint8_t>(0).raw<uint8_t>(1);
  b.key("t.arr_u64", GgufValueType::ARRAY).raw(uint32_t(GgufValueType::UINT64)).raw<uint64_t>(1);
  b.raw<uint64_t>(~0ull);
  b.key("t.arr_empty", GgufValueType::ARRAY).raw(uint32_t(GgufValueType::UINT8)).raw<uint64_t>(0);
  b.kv_u32("general.alignment", alignment);
  b.kv_str("general.architecture", "llama");
  // F32 [4, 2] = 32 bytes, Q8_0 [32, 2] = 68 bytes, F16 [8] = 16 bytes.
  const uint64_t off1 = 0;
  const uint64_t off2 = (32 + alignment - 1) / alignment * alignment;
  const uint64_t off3 = (off2 + 68 + alignment - 1) / alignment * alignment;
  b.tensor_info("w.f32", {4, 2}, 0, off1);
  b.tensor_info("w.q8", {32, 2}, 8, off2);
  b.tensor_info("w.f16", {8}, 1, off3);
  b.pad_to(alignment);
  s.data_start = b.size();
  for (int i = 0; i < 8; ++i) b.raw<float>(float(i));
  b.pad_to(alignment);
  b.fill(68, 0x11);
  b.pad_to(alignment);
  b.fill(16, 0x22);
  return s;
}

}  // namespace

TEST(gguf_reads_every_metadata_type) {
  for (uint32_t version : {2u, 3u}) {
    Sample s = sample_file(version, 32);
    auto f = open_bytes(s.bytes.b);
    CHECK(f->version() == version);
    CHECK(f->alignment() == 32);
    CHECK(f->metadata().size() == 21);
    CHECK(f->get("t.u8").as_int() == 200);
    CHECK(f->get("t.u8").type == GgufValueType::UINT8);
    CHECK(f->get("t.i8").as_int() == -100);
    CHECK(f->get("t.u16").as_int() == 60000);
    CHECK(f->get("t.i16").as_int() == -30000);
    CHECK(f->get("t.u32").as_int() == 4000000000ll);
    CHECK(f->get("t.i32").as_int() == -2000000000);
    CHECK(f->get("t.f32").as_float() == 1.5);
    CHECK(f->get("t.bool").as_bool());
    CHECK(f->get("t.string").as_string() == "héllo");
    CHECK(f->get("t.u64").as_int() == (1ll << 40));
    CHECK(f->get("t.i64").as_int() == -(1ll << 40));
    CHECK(f->get("t.f64").as_float() == 0.125);
    CHECK(f->get("t.u32").as_float() == 4e9);  // integers convert to float
    CHECK(f->get("t.empty_string").as_string().empty());
    const auto& strs = f->get("t.arr_str");
    CHECK(strs.type == GgufValueType::ARRAY && strs.elem_type == GgufValueType::STRING);
    CHECK(strs.as_array().size() == 3);
    CHECK(strs.as_array()[2].as_string() == "<|im_end|>");
    CHECK(strs.as_array()[1].as_string().empty());
    CHECK(f->get("t.arr_i32").as_array()[0].as_int() == -7);
    CHECK(f->get("t.arr_i32").as_array()[1].as_int() == 9);
    CHECK(f->get("t.arr_f32").as_array()[1].as_float() == -2.0);
    CHECK(!f->get("t.arr_bool").as_array()[0].as_bool());
    CHECK(f->get("t.arr_bool").as_array()[1].as_bool());
    CHECK(f->get("t.arr_empty").as_array().empty());
    CHECK(f->get("t.arr_empty").elem_type == GgufValueType::UINT8);
    CHECK(f->get("general.architecture").as_string() == "llama");
    CHECK(f->find("missing") == nullptr);
    // Metadata keeps file order.
    CHECK(f->metadata()[0].first == "t.u8");
    CHECK(f->metadata().back().first == "general.architecture");
  }
}

TEST(gguf_value_accessors_reject_wrong_types) {
  auto f = open_bytes(sample_file(3, 32).bytes.b);
  auto throws = [](auto fn) {
    try {
      fn();
    } catch (const first::Error&) {
      return true;
    }
    return false;
  };
  CHECK(throws([&] { f->get("t.string").as_int(); }));
  CHECK(throws([&] { f->get("t.u32").as_string(); }));
  CHECK(throws([&] { f->get("t.u32").as_bool(); }));
  CHECK(throws([&] { f->get("t.bool").as_int(); }));
  CHECK(throws([&] { f->get("t.f32").as_int(); }));
  CHECK(throws([&] { f->get("t.string").as_array(); }));
  CHECK(throws([&] { f->get("t.arr_u64").as_array()[0].as_int(); }));  // does not fit int64
  CHECK(throws([&] { f->get("nope"); }));
  CHECK(throws([&] { f->tensor("nope"); }));
}

TEST(gguf_tensors_are_views_into_the_file) {
  for (uint32_t align : {32u, 64u, 8u}) {
    Sample s = sample_file(3, align);
    auto f = open_bytes(s.bytes.b);
    CHECK(f->alignment() == align);
    CHECK(f->tensors().size() == 3);
    const auto& a = f->tensor("w.f32");
    CHECK(a.type == TensorType::F32);
    CHECK(a.shape == std::vector<int64_t>({4, 2}));
    CHECK(a.cols() == 4 && a.rows() == 2 && a.n_elements() == 8);
    CHECK(a.n_bytes == 32);
    const float* v = reinterpret_cast<const float*>(a.data);
    CHECK(v[0] == 0.0f && v[7] == 7.0f);
    const auto& q = f->tensor("w.q8");
    CHECK(q.type == TensorType::Q8_0);
    CHECK(q.n_bytes == 68);
    CHECK(q.data[0] == 0x11 && q.data[67] == 0x11);
    CHECK(size_t(q.data - a.data) == q.offset);
    const auto& h = f->tensor("w.f16");
    CHECK(h.type == TensorType::F16 && h.n_bytes == 16 && h.rows() == 1);
    CHECK(h.data[0] == 0x22);
    CHECK(h.data + h.n_bytes == a.data - s.data_start + f->file_size());
    CHECK(f->find_tensor("w.f16") == &h);
  }
}

TEST(gguf_file_without_tensors) {
  Bytes b;
  b.header(3, 0, 1).kv_str("general.name", "x");
  auto f = open_bytes(b.b);
  CHECK(f->tensors().empty());
  CHECK(f->get("general.name").as_string() == "x");
}

TEST(gguf_rejects_bad_headers) {
  CHECK_ERROR(std::vector<uint8_t>{}, "empty");
  CHECK_ERROR(std::vector<uint8_t>({'G', 'G'}), "bad magic");
  Bytes bad_magic;
  bad_magic.header(3, 0, 0);
  bad_magic.b[3] = 'L';
  CHECK_ERROR(bad_magic.b, "bad magic");
  Bytes v1;
  v1.header(1, 0, 0);
  CHECK_ERROR(v1.b, "version 1 is not supported");
  Bytes v4;
  v4.header(4, 0, 0);
  CHECK_ERROR(v4.b, "unsupported GGUF version 4");
  Bytes v0;
  v0.header(0, 0, 0);
  CHECK_ERROR(v0.b, "unsupported GGUF version 0");
  Bytes big_endian;
  big_endian.header(0x03000000u, 0, 0);
  CHECK_ERROR(big_endian.b, "big-endian");
  Bytes short_header;
  short_header.header(3, 0, 0);
  short_header.b.resize(20);
  CHECK_ERROR(short_header.b, "file ends inside the header");
  try {
    GgufFile::open("/tmp");
    CHECK(false) << "a directory was accepted";
  } catch (const first::Error& e) {
    CHECK(contains(e.what(), "not a regular file")) << e.what();
  }
  try {
    GgufFile::open("/tmp/first_gguf_does_not_exist.gguf");
    CHECK(false) << "a missing file was accepted";
  } catch (const first::Error& e) {
    CHECK(contains(e.what(), "first_gguf_does_not_exist")) << e.what();
  }
}

TEST(gguf_rejects_impossible_counts) {
  Bytes huge_kv;
  huge_kv.header(3, 0, 1ull << 62).fill(64);
  CHECK_ERROR(huge_kv.b, "metadata count");
  Bytes huge_tensors;
  huge_tensors.header(3, ~0ull, 0).fill(64);
  CHECK_ERROR(huge_tensors.b, "tensor count");
  Bytes both;  // each plausible alone, not together
  both.header(3, 3, 8).fill(100);
  CHECK_ERROR(both.b, "impossible");
  Bytes missing_kv;  // count says 2, file holds 1
  missing_kv.header(3, 0, 2).kv_u32("a", 1).fill(13, 0);
  CHECK_ERROR(missing_kv.b, "");
}

TEST(gguf_rejects_bad_strings_and_arrays) {
  Bytes long_key;
  long_key.header(3, 0, 1).raw<uint64_t>(1000).fill(20);
  CHECK_ERROR(long_key.b, "past the end of the file");
  Bytes huge_key;
  huge_key.header(3, 0, 1).raw<uint64_t>(~0ull).fill(20);
  CHECK_ERROR(huge_key.b, "past the end of the file");
  Bytes long_value;
  long_value.header(3, 0, 1).key("k", GgufValueType::STRING).raw<uint64_t>(1ull << 63).fill(8);
  CHECK_ERROR(long_value.b, "past the end of the file");
  Bytes empty_key;
  empty_key.header(3, 0, 1).kv_u32("", 1);
  CHECK_ERROR(empty_key.b, "empty key");
  Bytes bad_type;
  bad_type.header(3, 0, 1).key("k", GgufValueType(13)).fill(8);
  CHECK_ERROR(bad_type.b, "unknown value type 13");
  Bytes bad_elem;
  bad_elem.header(3, 0, 1).key("k", GgufValueType::ARRAY).raw<uint32_t>(99).raw<uint64_t>(1).fill(8);
  CHECK_ERROR(bad_elem.b, "unknown value type 99");
  Bytes nested;
  nested.header(3, 0, 1).key("k", GgufValueType::ARRAY).raw(uint32_t(GgufValueType::ARRAY)).raw<uint64_t>(1);
  nested.raw(uint32_t(GgufValueType::UINT8)).raw<uint64_t>(1).raw<uint8_t>(1);
  CHECK_ERROR(nested.b, "nested arrays");
  Bytes huge_array;
  huge_array.header(3, 0, 1).key("k", GgufValueType::ARRAY).raw(uint32_t(GgufValueType::UINT32));
  huge_array.raw<uint64_t>(1ull << 61).fill(16);
  CHECK_ERROR(huge_array.b, "array of");
  Bytes long_array;  // 5 strings claimed, room for fewer
  long_array.header(3, 0, 1).key("k", GgufValueType::ARRAY).raw(uint32_t(GgufValueType::STRING));
  long_array.raw<uint64_t>(5).str("a").str("b");
  CHECK_ERROR(long_array.b, "array of 5");
  Bytes array_string_past_end;
  array_string_past_end.header(3, 0, 1).key("k", GgufValueType::ARRAY).raw(uint32_t(GgufValueType::STRING));
  array_string_past_end.raw<uint64_t>(1).raw<uint64_t>(500).fill(16);
  CHECK_ERROR(array_string_past_end.b, "past the end");
  Bytes bad_bool;
  bad_bool.header(3, 0, 1).key("k", GgufValueType::BOOL).raw<uint8_t>(7);
  CHECK_ERROR(bad_bool.b, "bool");
  Bytes dup;
  dup.header(3, 0, 2).kv_u32("k", 1).kv_str("k", "x");
  CHECK_ERROR(dup.b, "'k' appears twice");
}

TEST(gguf_rejects_bad_alignment) {
  Bytes npot;
  npot.header(3, 0, 1).kv_u32("general.alignment", 48);
  CHECK_ERROR(npot.b, "not a power of two");
  Bytes zero;
  zero.header(3, 0, 1).kv_u32("general.alignment", 0);
  CHECK_ERROR(zero.b, "not a power of two");
  Bytes wrong_type;
  wrong_type.header(3, 0, 1).kv_str("general.alignment", "32");
  CHECK_ERROR(wrong_type.b, "must be a u32");
  Bytes huge;  // a power of two, but it only pads: refused before it places anything
  huge.header(3, 0, 1).kv_u32("general.alignment", 1u << 31);
  CHECK_ERROR(huge.b, "larger than 65536");
  Bytes largest;
  largest.header(3, 0, 1).kv_u32("general.alignment", 1u << 16);
  CHECK(open_bytes(largest.b)->alignment() == 65536);
}

// The caps on array elements, tightened so the test stays small: one array
// may not pass max_array_len, and all arrays together not max_metadata_elements.
TEST(gguf_caps_metadata_elements) {
  auto arrays = [](uint64_t a, uint64_t b) {
    Bytes f;
    f.header(3, 0, 2);
    f.key("a", GgufValueType::ARRAY).raw(uint32_t(GgufValueType::UINT8)).raw(a).fill(size_t(a), 1);
    f.key("b", GgufValueType::ARRAY).raw(uint32_t(GgufValueType::UINT8)).raw(b).fill(size_t(b), 2);
    return f.b;
  };
  first::GgufLimits limits;
  limits.max_array_len = 100;
  limits.max_metadata_elements = 150;
  auto parse = [&](const std::vector<uint8_t>& b) { return GgufFile::parse(b.data(), b.size(), "caps.gguf", limits); };
  CHECK(parse(arrays(100, 50))->get("b").as_array().size() == 50);
  for (auto [a, b, part] : {std::tuple<uint64_t, uint64_t, const char*>{101, 0, "key 'a' is an array of 101"},
                            {100, 51, "more than 150 elements in all"},
                            {60, 90, ""}}) {
    const std::vector<uint8_t> bytes = arrays(a, b);
    try {
      parse(bytes);
      CHECK(std::string(part).empty()) << a << " + " << b << " elements were accepted";
    } catch (const first::Error& e) {
      CHECK(*part && contains(e.what(), part) && contains(e.what(), "caps.gguf")) << e.what();
    }
  }
  // The defaults let a large vocabulary through.
  const std::vector<uint8_t> big = arrays(300000, 300000);
  CHECK(GgufFile::parse(big.data(), big.size(), "vocab.gguf")->get("a").as_array().size() == 300000);
}

// parse() reads a caller's bytes in place, with the same checks as open().
TEST(gguf_parses_from_memory) {
  const Sample s = sample_file(3, 64);
  const std::vector<uint8_t>& bytes = s.bytes.b;
  auto f = GgufFile::parse(bytes.data(), bytes.size(), "in-memory.gguf");
  CHECK(f->path() == "in-memory.gguf" && f->file_size() == bytes.size() && f->alignment() == 64);
  CHECK(f->tensors().size() == 3);
  const auto& t = f->tensor("w.f32");
  CHECK(t.data == bytes.data() + s.data_start);  // a view, not a copy
  try {
    GgufFile::parse(bytes.data(), 0, "empty.gguf");
    CHECK(false) << "an empty buffer was accepted";
  } catch (const first::Error& e) {
    CHECK(contains(e.what(), "empty.gguf") && contains(e.what(), "empty")) << e.what();
  }
  try {
    GgufFile::parse(bytes.data(), bytes.size() - 1, "cut.gguf");
    CHECK(false) << "a truncated buffer was accepted";
  } catch (const first::Error& e) {
    CHECK(contains(e.what(), "cut.gguf") && contains(e.what(), "past the end")) << e.what();
  }
}

namespace {

// One tensor of the given description followed by `data_bytes` bytes of data.
std::vector<uint8_t> one_tensor(const std::vector<int64_t>& shape, uint32_t type, uint64_t offset, size_t data_bytes,
                                const std::string& name = "t") {
  Bytes b;
  b.header(3, 1, 0).tensor_info(name, shape, type, offset).pad_to(32).fill(data_bytes, 1);
  return b.b;
}

}  // namespace

TEST(gguf_rejects_bad_tensor_infos) {
  CHECK(open_bytes(one_tensor({8, 2}, 0, 0, 64))->tensor("t").n_bytes == 64);
  CHECK_ERROR(one_tensor({8, 2}, 0, 0, 63), "past the end of the file");
  CHECK_ERROR(one_tensor({8, 2}, 0, 32, 64), "past the end of the file");
  CHECK_ERROR(one_tensor({8, 2}, 0, ~0ull & ~31ull, 64), "past the end of the file");
  CHECK_ERROR(one_tensor({8, 2}, 0, 4, 128), "not a multiple of the alignment 32");
  CHECK_ERROR(one_tensor({8, 0}, 0, 0, 64), "dimension 0");
  CHECK_ERROR(one_tensor({-8}, 0, 0, 64), "dimension -8");
  CHECK_ERROR(one_tensor({}, 0, 0, 64), "0 dimensions");
  CHECK_ERROR(one_tensor({1, 1, 1, 1, 1}, 0, 0, 64), "5 dimensions");
  CHECK(open_bytes(one_tensor({2, 2, 2, 2}, 0, 0, 64))->tensor("t").n_elements() == 16);
  CHECK_ERROR(one_tensor({1ll << 40, 1ll << 40}, 0, 0, 64), "overflow");
  CHECK_ERROR(one_tensor({1ll << 62, 4}, 1, 0, 64), "overflow");
  CHECK_ERROR(one_tensor({1ll << 62}, 0, 0, 64), "overflow");  // bytes overflow, elements do not
  CHECK_ERROR(one_tensor({8}, 99, 0, 64, "blk.0.odd"), "tensor 'blk.0.odd' has type (id 99)");
  CHECK_ERROR(one_tensor({256}, 10, 0, 256, "w"), "type Q2_K (id 10)");
  CHECK_ERROR(one_tensor({20, 2}, 8, 0, 256), "not a multiple of the Q8_0 block size 32");
  Bytes empty_name;
  empty_name.header(3, 1, 0).tensor_info("", {8}, 0, 0).pad_to(32).fill(32);
  CHECK_ERROR(empty_name.b, "empty name");
  Bytes dup;
  dup.header(3, 2, 0).tensor_info("t", {8}, 0, 0).tensor_info("t", {8}, 0, 32).pad_to(32).fill(64);
  CHECK_ERROR(dup.b, "tensor 't' appears twice");
  Bytes overlap;
  overlap.header(3, 2, 0).tensor_info("a", {16}, 0, 0).tensor_info("b", {8}, 0, 64).pad_to(32).fill(96);
  CHECK(open_bytes(overlap.b)->tensors().size() == 2);
  overlap.b.clear();
  overlap.header(3, 2, 0).tensor_info("a", {16}, 0, 0).tensor_info("b", {8}, 0, 64);
  overlap.b[overlap.size() - 8] = 32;  // b now starts inside a
  overlap.pad_to(32).fill(96);
  CHECK_ERROR(overlap.b, "overlap");
  Bytes no_data;  // tensor infos end exactly at EOF, data section never starts
  no_data.header(3, 1, 0).tensor_info("t", {8}, 0, 0);
  no_data.b.resize(no_data.size() + 1, 0);
  CHECK_ERROR(no_data.b, "");
}

// Every prefix of a valid file is invalid and must be refused cleanly.
TEST(gguf_rejects_every_truncation) {
  for (uint32_t version : {2u, 3u}) {
    const std::vector<uint8_t> full = sample_file(version, 32).bytes.b;
    CHECK(open_bytes(full)->tensors().size() == 3);
    for (size_t n = 0; n < full.size(); ++n) {
      std::vector<uint8_t> cut(full.begin(), full.begin() + n);
      error_of(cut);
      if (harness::current_failures) {
        CHECK(false) << "at truncation " << n;
        return;
      }
    }
  }
}

// Random byte corruption: the reader may accept or refuse, but only with first::Error.
TEST(gguf_survives_random_corruption) {
  const std::vector<uint8_t> full = sample_file(3, 32).bytes.b;
  std::mt19937 rng(1234);
  int refused = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> bad = full;
    const int flips = 1 + int(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      const size_t at = rng() % bad.size();
      bad[at] = (rng() % 3 == 0) ? 0xFF : uint8_t(rng());
    }
    TempFile f(bad);
    try {
      auto g = GgufFile::open(f.path);
      for (const auto& t : g->tensors()) {  // every accepted tensor lies inside the file
        CHECK(t.offset + t.n_bytes <= g->file_size()) << "iteration " << iter << ": " << t.name;
      }
    } catch (const first::Error&) {
      ++refused;
    } catch (const std::exception& e) {
      CHECK(false) << "iteration " << iter << ": not a first::Error: " << e.what();
      return;
    }
  }
  CHECK(refused > 100) << refused;
}

// The default model where `first pull` keeps it: FIRST_TEST_MODEL, else
// $FIRST_HOME/models, else ~/.cache/first/models (as packages/core/src/paths.ts).
static std::string default_model_path() {
  if (const char* p = std::getenv("FIRST_TEST_MODEL"); p && *p) return p;
  std::string home;
  if (const char* h = std::getenv("FIRST_HOME"); h && *h) home = h;
  else if (const char* u = std::getenv("HOME"); u && *u) home = std::string(u) + "/.cache/first";
  else return "";
  return home + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

TEST(gguf_reads_the_real_model) {
  const std::string path = default_model_path();
  struct stat st;
  if (path.empty() || stat(path.c_str(), &st) != 0) {
    std::printf("  (skipped: the default model is not at %s; run `pnpm first pull`)\n", path.c_str());
    return;
  }
  auto f = GgufFile::open(path);
  CHECK(f->version() == 3);
  CHECK(f->get("general.architecture").as_string() == "llama");
  CHECK(f->get("llama.block_count").as_int() == 30);
  CHECK(f->get("llama.embedding_length").as_int() == 576);
  CHECK(f->get("llama.attention.head_count").as_int() == 9);
  CHECK(f->get("llama.attention.head_count_kv").as_int() == 3);
  CHECK(f->tensors().size() == 272);
  const auto& emb = f->tensor("token_embd.weight");
  CHECK(emb.type == TensorType::Q8_0);
  CHECK(emb.shape == std::vector<int64_t>({576, 49152}));
  CHECK(emb.n_bytes == size_t(576 / 32 * 34) * 49152);
  CHECK(f->tensor("blk.0.attn_q.weight").shape == std::vector<int64_t>({576, 576}));
  CHECK(f->find_tensor("output.weight") == nullptr);  // tied to token_embd
  CHECK(!f->get("tokenizer.chat_template").as_string().empty());
  CHECK(f->get("tokenizer.ggml.tokens").as_array().size() == 49152);
  CHECK(f->get("tokenizer.ggml.tokens").elem_type == GgufValueType::STRING);
}
