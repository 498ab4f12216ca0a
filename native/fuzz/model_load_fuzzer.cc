// libFuzzer target: Model::load on arbitrary bytes. Model::load takes a path,
// so the input goes into an in-memory file (memfd) named by /proc/self/fd.
// A refused input must end in first::Error; an accepted model must hold
// weights inside its file's tensors, which this target checks and reads.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "first/error.h"
#include "first/model.h"

namespace {

[[noreturn]] void broken(const char* what, const std::string& name) {
  std::fprintf(stderr, "model_load: %s: %s\n", what, name.c_str());
  std::abort();
}

// True when [p, p + n) lies inside one of the file's tensors.
bool inside_a_tensor(const first::GgufFile& f, const uint8_t* p, size_t n) {
  for (const auto& t : f.tensors()) {
    if (p >= t.data && p <= t.data + t.n_bytes && n <= size_t(t.data + t.n_bytes - p)) return true;
  }
  return false;
}

void check_view(const first::GgufFile& f, const first::WeightView& w, const char* what) {
  if (w.rows <= 0 || w.cols <= 0 || !w.data) broken("empty weight view", what);
  size_t bytes = 0;
  if (__builtin_mul_overflow(size_t(w.rows), w.row_bytes, &bytes) || !inside_a_tensor(f, w.data, bytes)) broken("weight view outside the file's tensors", what);
}

void check_model(const first::Model& m) {
  const first::ModelConfig& c = m.config();
  const first::GgufFile& f = m.gguf();
  if (c.n_layers <= 0 || c.d_model <= 0 || c.vocab_size <= 0) broken("accepted non-positive sizes", c.architecture);
  check_view(f, m.token_embd(), "token_embd");
  check_view(f, m.output(), "output");
  if (m.output_norm().size() != size_t(c.d_model)) broken("output_norm size", c.architecture);
  for (int l = 0; l < c.n_layers; ++l) {
    const first::LayerWeights& L = m.layer(l);
    if (L.attn_norm.size() != size_t(c.d_model) || L.ffn_norm.size() != size_t(c.d_model)) broken("norm size", "layer");
    for (const first::WeightView* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) {
      check_view(f, *w, "layer matrix");
    }
    // Optional vectors are absent (empty) or exactly as long as what they scale or shift.
    const auto optional = [](const std::vector<float>& v, int n, const char* what) {
      if (!v.empty() && v.size() != size_t(n)) broken("optional vector size", what);
    };
    optional(L.bq, c.q_dim(), "bq");
    optional(L.bk, c.kv_dim(), "bk");
    optional(L.bv, c.kv_dim(), "bv");
    optional(L.q_norm, c.head_dim, "q_norm");
    optional(L.k_norm, c.head_dim, "k_norm");
    optional(L.attn_post_norm, c.d_model, "attn_post_norm");
    optional(L.ffn_post_norm, c.d_model, "ffn_post_norm");
  }
  // The first and last embedding rows, as the engine would read them.
  std::vector<float> row(size_t(c.d_model) * 2);
  const int32_t ids[2] = {0, c.vocab_size - 1};
  m.embed(ids, 2, row.data());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("model_load_fuzz", MFD_CLOEXEC);
  if (fd < 0) broken("memfd_create failed", "");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != ssize_t(size)) broken("cannot write the memfd", "");
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  std::unique_ptr<first::Model> m;
  try {
    m = first::Model::load(path);
  } catch (const first::Error&) {
    return 0;  // refused cleanly
  }
  check_model(*m);
  return 0;
}
