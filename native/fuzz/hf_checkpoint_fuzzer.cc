// libFuzzer target: a Hugging Face checkpoint folder (config.json and
// model.safetensors) through Model::load, which assembles it into GGUF keys
// and tensor views. One input holds both files: a 4-byte little-endian length,
// config.json's bytes, then model.safetensors' bytes (make-seeds.mjs writes
// seeds this way). A refused input must end in first::Error.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "first/error.h"
#include "first/model.h"

namespace {

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "hf_checkpoint: %s\n", what);
  std::abort();
}

void write_file(const std::string& path, const uint8_t* data, size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || (size && ::write(fd, data, size) != ssize_t(size)) || ::close(fd) != 0) broken("cannot write the folder");
}

// One folder per process, rewritten for each input (tmpfs when there is one).
const std::string& folder() {
  static const std::string dir = [] {
    std::string tmpl = (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + std::string("/first-hf-fuzz-XXXXXX");
    if (!mkdtemp(tmpl.data())) broken("mkdtemp failed");
    return tmpl;
  }();
  static const bool cleaned_at_exit = [] {  // a crash leaves it behind, with the input
    std::atexit([] {
      for (const char* f : {"/config.json", "/model.safetensors"}) ::unlink((dir + f).c_str());
      ::rmdir(dir.c_str());
    });
    return true;
  }();
  (void)cleaned_at_exit;
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint32_t config_len = 0;
  std::memcpy(&config_len, data, 4);
  if (config_len > size - 4) return 0;
  const std::string& dir = folder();
  write_file(dir + "/config.json", data + 4, config_len);
  write_file(dir + "/model.safetensors", data + 4 + config_len, size - 4 - config_len);
  try {
    auto m = first::Model::load(dir);
    const first::ModelConfig& c = m->config();
    if (c.n_layers <= 0 || c.d_model <= 0 || c.vocab_size <= 0) broken("accepted non-positive sizes");
    std::vector<float> row(size_t(c.d_model) * 2);
    const int32_t ids[2] = {0, c.vocab_size - 1};
    m->embed(ids, 2, row.data());  // the first and last embedding rows, read as the engine would
  } catch (const first::Error&) {
    // refused cleanly
  }
  return 0;
}
