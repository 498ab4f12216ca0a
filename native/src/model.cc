// Model::load: the common GGUF keys and tensor names, checked against what the
// file holds before anything is sized by them; the architecture files
// (src/arch/) say which optional pieces a family's layer has. A Hugging Face
// checkpoint folder arrives with the same keys and names (src/hf/).
#include "first/model.h"

#include <cmath>
#include <cstring>
#include <set>

#include "arch/gguf_keys.h"
#include "first/error.h"
#include "first/quant.h"
#include "first/row_groups.h"
#include "first/quant.h"
#include "hf/checkpoint.h"

namespace first {

namespace {

// Reads tensors by name and remembers which were read, so that a tensor the
// layer does not use (an unknown piece of some other variant) is an error
// instead of being silently ignored.
class TensorReader {
 public:
  explicit TensorReader(const GgufFile& f) : f_(f) {}

  bool has(const std::string& name) const { return f_.find_tensor(name) != nullptr; }

  std::vector<float> vector(const std::string& name, int64_t n) {
    const GgufTensor& t = get(name);
    if (t.n_elements() != n)
      throw Error(f_.path() + ": tensor '" + name + "' has " + std::to_string(t.n_elements()) + " elements, expected " +
                  std::to_string(n));
    std::vector<float> out(n);
    dequantize_row(t.type, t.data, out.data(), n);
    return out;
  }
  std::vector<float> optional_vector(const std::string& name, int64_t n) {
    return has(name) ? vector(name, n) : std::vector<float>();
  }

  WeightView matrix(const std::string& name, int64_t rows, int64_t cols) {
    const GgufTensor& t = get(name);
    if (t.shape.size() != 2 || t.shape[0] != cols || t.shape[1] != rows)
      throw Error(f_.path() + ": tensor '" + name + "' has shape [" + std::to_string(t.cols()) + ", " +
                  std::to_string(t.rows()) + "], expected [" + std::to_string(cols) + ", " + std::to_string(rows) + "]");
    if (t.type == TensorType::Q8_1 || t.type == TensorType::Q8_K)
      throw Error(f_.path() + ": tensor '" + name + "' uses an activation-only block type");
    WeightView w;
    w.type = t.type;
    w.rows = rows;
    w.cols = cols;
    w.data = t.data;
    w.row_bytes = row_bytes(t.type, cols);
    return w;
  }

  // Every tensor in the file was read; else names the first few that were not.
  void check_all_used() const {
    std::string unused;
    int count = 0;
    for (const auto& t : f_.tensors())
      if (!used_.count(t.name) && count++ < 4) unused += (unused.empty() ? "" : ", ") + t.name;
    if (count > 0)
      throw Error(f_.path() + ": " + std::to_string(count) + " tensor(s) this engine's " + arch_ +
                  " layer does not use: " + unused + (count > 4 ? ", ..." : ""));
  }
  void set_architecture(const std::string& a) { arch_ = a; }

 private:
  const GgufTensor& get(const std::string& name) {
    const GgufTensor* t = f_.find_tensor(name);
    if (!t) throw Error(f_.path() + ": missing tensor '" + name + "' (architecture " + arch_ + ")");
    used_.insert(name);
    return *t;
  }
  const GgufFile& f_;
  std::set<std::string> used_;
  std::string arch_;
};

// Hyper-parameters an honest file can hold: each layer needs several tensors,
// and dimensions are bounded so that no product of them overflows.
constexpr int64_t kMaxDim = int64_t{1} << 20;
constexpr int64_t kMaxContext = int64_t{1} << 24;

void read_common(const GgufFile& f, const std::string& p, ModelConfig& c) {
  const std::string& path = f.path();
  auto bounded = [&](const std::string& key, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      throw Error(path + ": metadata '" + key + "' is " + std::to_string(v) + ", outside " + std::to_string(lo) +
                  ".." + std::to_string(hi));
    return static_cast<int>(v);
  };
  // At least 6 tensors per layer (norms, attention and MLP matrices).
  const int64_t max_layers = static_cast<int64_t>(f.tensors().size()) / 6;
  c.n_layers = bounded(p + "block_count", gguf_int(f, p + "block_count", 0, true), 1, std::max<int64_t>(1, max_layers));
  c.d_model = bounded(p + "embedding_length", gguf_int(f, p + "embedding_length", 0, true), 1, kMaxDim);
  c.n_heads = bounded(p + "attention.head_count", gguf_int(f, p + "attention.head_count", 0, true), 1, 4096);
  c.n_kv_heads = bounded(p + "attention.head_count_kv", gguf_int(f, p + "attention.head_count_kv", c.n_heads, false), 1,
                         c.n_heads);
  c.ffn_dim = bounded(p + "feed_forward_length", gguf_int(f, p + "feed_forward_length", 0, true), 1, kMaxDim);
  c.context_length = bounded(p + "context_length", gguf_int(f, p + "context_length", 2048, false), 1, kMaxContext);
  if (c.n_heads % c.n_kv_heads != 0)
    throw Error(path + ": head_count " + std::to_string(c.n_heads) + " is not a multiple of head_count_kv " +
                std::to_string(c.n_kv_heads));
  c.head_dim = static_cast<int>(gguf_int(f, p + "attention.key_length", c.d_model / c.n_heads, false));
  if (c.head_dim <= 0 || c.head_dim % 2 != 0 || c.head_dim > 512)
    throw Error(path + ": head dimension must be even and in 2..512");
  const int64_t v_len = gguf_int(f, p + "attention.value_length", c.head_dim, false);
  if (v_len != c.head_dim) throw Error(path + ": attention.value_length differs from key_length; not supported");
  c.rope_dim = static_cast<int>(gguf_int(f, p + "rope.dimension_count", c.head_dim, false));
  if (c.rope_dim <= 0 || c.rope_dim > c.head_dim || c.rope_dim % 2 != 0)
    throw Error(path + ": rope.dimension_count must be even and at most the head dimension");
  c.rms_eps = static_cast<float>(gguf_float(f, p + "attention.layer_norm_rms_epsilon", 1e-5));
  if (!(c.rms_eps >= 0 && c.rms_eps < 1)) throw Error(path + ": attention.layer_norm_rms_epsilon out of range");
  c.rope_base = static_cast<float>(gguf_float(f, p + "rope.freq_base", 10000.0));
  if (!(c.rope_base > 0)) throw Error(path + ": rope.freq_base must be positive");
  if (const GgufValue* st = f.find(p + "rope.scaling.type")) {
    const std::string& type = st->as_string();
    if (type == "linear") {
      double factor = gguf_float(f, p + "rope.scaling.factor", 1.0);
      if (!(factor > 0)) throw Error(path + ": rope.scaling.factor must be positive");
      c.rope_scale = static_cast<float>(1.0 / factor);
    } else if (type != "none" && type != "llama3" && type != "longrope") {
      // llama3 and longrope arrive as per-frequency factor tensors.
      throw Error(path + ": unsupported rope scaling type '" + type + "'");
    }
  }
}

}  // namespace

float ModelConfig::query_scale() const {
  return attn_scale > 0 ? attn_scale : 1.0f / std::sqrt(static_cast<float>(head_dim));
}

std::unique_ptr<GgufFile> open_model_file(const std::string& path) {
  return hf::is_checkpoint_dir(path) ? hf::open_checkpoint(path) : GgufFile::open(path);
}

std::unique_ptr<Model> Model::load(const std::string& path) {
  std::unique_ptr<Model> m(new Model());
  m->file_ = open_model_file(path);
  const GgufFile& f = *m->file_;

  const GgufValue* arch_v = f.find("general.architecture");
  if (!arch_v) throw Error(path + ": missing 'general.architecture'");
  const std::string arch_name = arch_v->as_string();
  const Architecture* arch = find_architecture(arch_name);
  if (!arch)
    throw Error(path + ": unsupported architecture '" + arch_name + "' (supported: " + architecture_names() + ")");

  ModelConfig& c = m->cfg_;
  const std::string p = arch_name + ".";
  c.architecture = arch_name;
  c.recipe = arch->recipe;
  read_common(f, p, c);
  if (arch->read_hyper_parameters) arch->read_hyper_parameters(f, p, c);
  // How a checkpoint's layout differs from GGUF's (src/hf/checkpoint.cc).
  if (const GgufValue* v = f.find("first.rope_layout"); v && v->as_string() == "half_split")
    c.recipe.rope = RopeStyle::HalfSplit;
  const float norm_offset = static_cast<float>(gguf_float(f, "first.norm_weight_offset", 0.0));

  TensorReader t(f);
  auto norm = [&](const std::string& name, int64_t n) {
    std::vector<float> w = t.vector(name, n);
    for (float& x : w) x += norm_offset;
    return w;
  };
  t.set_architecture(arch_name);
  if (!t.has("token_embd.weight")) throw Error(path + ": missing tensor 'token_embd.weight'");
  const GgufTensor& embd = f.tensor("token_embd.weight");
  if (embd.shape.size() != 2 || embd.shape[0] != c.d_model || embd.shape[1] <= 0 || embd.shape[1] > (1 << 24))
    throw Error(path + ": token_embd.weight must have shape [embedding_length, vocab]");
  c.vocab_size = static_cast<int>(embd.shape[1]);
  m->token_embd_ = t.matrix("token_embd.weight", c.vocab_size, c.d_model);
  m->output_norm_ = norm("output_norm.weight", c.d_model);
  if (t.has("output.weight")) {
    m->output_ = t.matrix("output.weight", c.vocab_size, c.d_model);
  } else {
    m->output_ = m->token_embd_;
    c.tied_output = true;
  }
  const int half_rope = c.rope_dim / 2;
  if (t.has("rope_freqs.weight")) m->rope_freqs_ = t.vector("rope_freqs.weight", half_rope);
  // A checkpoint's Llama 3 rope scaling, computed from its config (src/hf/checkpoint.cc).
  if (const GgufValue* v = f.find("first.rope_freq_factors")) {
    const GgufArray& a = v->as_array();
    if (static_cast<int64_t>(a.size()) != half_rope)
      throw Error(path + ": first.rope_freq_factors has " + std::to_string(a.size()) + " values, expected " +
                  std::to_string(half_rope));
    m->rope_freqs_.clear();
    for (const GgufValue& x : a) m->rope_freqs_.push_back(static_cast<float>(x.as_float()));
  }
  if (t.has("rope_factors_short.weight")) m->rope_freqs_ = t.vector("rope_factors_short.weight", half_rope);
  if (t.has("rope_factors_long.weight")) {
    m->rope_freqs_long_ = t.vector("rope_factors_long.weight", half_rope);
    c.rope_original_context =
        static_cast<int>(gguf_int(f, p + "rope.scaling.original_context_length", c.context_length, false));
  }

  const int64_t d = c.d_model, q = c.q_dim(), kv = c.kv_dim(), ff = c.ffn_dim, hd = c.head_dim;
  const LayerRecipe& r = c.recipe;
  m->layers_.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    LayerWeights& L = m->layers_[l];
    L.attn_norm = norm(b + "attn_norm.weight", d);
    if (t.has(b + "attn_qkv.weight")) {
      const WeightView qkv = t.matrix(b + "attn_qkv.weight", q + 2 * kv, d);
      L.wq = row_range(qkv, 0, q);
      L.wk = row_range(qkv, q, kv);
      L.wv = row_range(qkv, q + kv, kv);
      const std::vector<float> bias = t.optional_vector(b + "attn_qkv.bias", q + 2 * kv);
      if (!bias.empty()) {
        L.bq.assign(bias.begin(), bias.begin() + q);
        L.bk.assign(bias.begin() + q, bias.begin() + q + kv);
        L.bv.assign(bias.begin() + q + kv, bias.end());
      }
    } else {
      L.wq = t.matrix(b + "attn_q.weight", q, d);
      L.wk = t.matrix(b + "attn_k.weight", kv, d);
      L.wv = t.matrix(b + "attn_v.weight", kv, d);
      L.bq = t.optional_vector(b + "attn_q.bias", q);
      L.bk = t.optional_vector(b + "attn_k.bias", kv);
      L.bv = t.optional_vector(b + "attn_v.bias", kv);
    }
    L.wo = t.matrix(b + "attn_output.weight", d, q);
    if (r.qk_norm) {
      L.q_norm = norm(b + "attn_q_norm.weight", hd);
      L.k_norm = norm(b + "attn_k_norm.weight", hd);
    }
    if (r.post_norms) {
      L.attn_post_norm = norm(b + "post_attention_norm.weight", d);
      L.ffn_post_norm = norm(b + "post_ffw_norm.weight", d);
    }
    L.ffn_norm = norm(b + "ffn_norm.weight", d);
    if (r.fused_gate_up) {
      const WeightView gate_up = t.matrix(b + "ffn_up.weight", 2 * ff, d);
      L.w_gate = row_range(gate_up, 0, ff);
      L.w_up = row_range(gate_up, ff, ff);
    } else {
      L.w_gate = t.matrix(b + "ffn_gate.weight", ff, d);
      L.w_up = t.matrix(b + "ffn_up.weight", ff, d);
    }
    L.w_down = t.matrix(b + "ffn_down.weight", d, ff);
  }
  t.check_all_used();
  // Row groups for the AVX-512 kernels: made only when they will run.
  if (active_kernel_set() == KernelSet::Avx512) m->make_row_groups();
  return m;
}

void Model::make_row_groups() {
  auto add = [this](WeightView& w) {
    if (!row_groups_supported(w.type) || w.rows < kRowGroup) return;
    row_groups_.push_back(first::make_row_groups(w));
    w.row_groups = row_groups_.back().data.get();
    // The grouped rows are now read from the copy: the file's pages may go,
    // so the copy does not double the model's resident memory.
    file_->release_pages(w.data, static_cast<size_t>(w.rows / kRowGroup * kRowGroup) * w.row_bytes);
  };
  for (LayerWeights& L : layers_)
    for (WeightView* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) add(*w);
  // A tied head is a copy of token_embd_'s view: the few rows a lookup reads
  // come back from the file as they are touched.
  add(output_);
}

size_t Model::weight_bytes() const {
  size_t total = 0;
  for (const auto& t : file_->tensors()) total += t.n_bytes;
  return total;
}

void Model::embed(const int32_t* tokens, int n, float* out) const {
  const int d = cfg_.d_model;
  for (int i = 0; i < n; ++i) {
    int32_t id = tokens[i];
    if (id < 0 || id >= cfg_.vocab_size)
      throw Error("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                  std::to_string(cfg_.vocab_size - 1) + ")");
    float* row = out + static_cast<size_t>(i) * d;
    dequantize_row(token_embd_.type, token_embd_.data + static_cast<size_t>(id) * token_embd_.row_bytes, row, d);
    if (cfg_.embed_scale != 1.f)
      for (int j = 0; j < d; ++j) row[j] *= cfg_.embed_scale;
  }
}

}  // namespace first
