#include "hf/safetensors.h"

#include <algorithm>
#include <cstring>

#include "first/error.h"
#include "hf/json.h"

namespace first::hf {

namespace {
bool dtype_of(const std::string& s, TensorType& t, size_t& bytes) {
  if (s == "F32") return t = TensorType::F32, bytes = 4, true;
  if (s == "F16") return t = TensorType::F16, bytes = 2, true;
  if (s == "BF16") return t = TensorType::BF16, bytes = 2, true;
  return false;
}
}  // namespace

std::vector<SafetensorsTensor> read_safetensors(const MappedFile& file) {
  const std::string& path = file.path();
  auto fail = [&](const std::string& what) -> void { throw Error(path + ": " + what); };
  if (file.size() < 8) fail("too short for a safetensors header");
  uint64_t header_len = 0;
  std::memcpy(&header_len, file.data(), 8);  // little-endian on every platform we build for
  if (header_len < 2 || header_len > file.size() - 8 || header_len > (uint64_t{100} << 20))
    fail("header length " + std::to_string(header_len) + " does not fit the file");
  const json::Value header = json::parse(reinterpret_cast<const char*>(file.data() + 8), header_len, path);
  if (!header.is_object()) fail("the header is not a JSON object");
  const uint8_t* data = file.data() + 8 + header_len;
  const uint64_t data_size = file.size() - 8 - header_len;

  std::vector<SafetensorsTensor> out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, v] : header.object) {
    if (name == "__metadata__") continue;
    const std::string where = "tensor '" + name + "'";
    const json::Value* dt = v.find("dtype");
    const json::Value* sh = v.find("shape");
    const json::Value* off = v.find("data_offsets");
    if (!v.is_object() || !dt || !dt->is_string() || !sh || !sh->is_array() || !off || !off->is_array() ||
        off->array.size() != 2)
      fail(where + " needs dtype, shape and data_offsets [begin, end]");
    SafetensorsTensor t;
    t.name = name;
    size_t elem = 0;
    if (!dtype_of(dt->string, t.type, elem)) fail(where + " has dtype " + dt->string + " (supported: F32, F16, BF16)");
    if (sh->array.size() > 4) fail(where + " has more than 4 dimensions");
    uint64_t count = 1;
    for (const json::Value& d : sh->array) {
      if (!d.is_number() || !d.integral || d.integer < 0 || d.integer > (int64_t{1} << 32))
        fail(where + " has a bad dimension");
      t.shape.push_back(d.integer);
      if (d.integer != 0 && count > (uint64_t{1} << 40) / static_cast<uint64_t>(d.integer)) fail(where + " is too large");
      count *= static_cast<uint64_t>(d.integer);
    }
    for (const json::Value& o : off->array)
      if (!o.is_number() || !o.integral || o.integer < 0) fail(where + " has bad data_offsets");
    const uint64_t begin = off->array[0].integer, end = off->array[1].integer;
    if (begin > end || end > data_size)
      fail(where + " lies outside the data (" + std::to_string(begin) + ".." + std::to_string(end) + " of " +
           std::to_string(data_size) + " bytes)");
    if (end - begin != count * elem)
      fail(where + " holds " + std::to_string(end - begin) + " bytes; its dtype and shape need " +
           std::to_string(count * elem));
    // Kernels read F16/BF16/F32 through typed pointers; the format's writers pad
    // the header to 8 bytes and order tensors by alignment, so a misaligned one
    // is a malformed file, not one to copy around.
    if ((8 + header_len + begin) % elem != 0)
      fail(where + " starts at byte " + std::to_string(8 + header_len + begin) + ", not a multiple of its " +
           std::to_string(elem) + "-byte elements");
    t.data = data + begin;
    t.n_bytes = end - begin;
    ranges.emplace_back(begin, end);
    out.push_back(std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) fail("two tensors overlap in the data");
  return out;
}

}  // namespace first::hf
