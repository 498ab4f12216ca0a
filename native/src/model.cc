// Architecture table: GGUF keys and tensor names -> ModelConfig and weights.
// Only the llama family (Llama 2/3, TinyLlama, SmolLM, Mistral-style GQA)
// is supported; adding an architecture means adding a row to kArchitectures
// and any tensors it needs beyond the llama set.
#include "first/model.h"

#include <cmath>
#include <cstring>

#include "first/error.h"
#include "first/quant.h"

namespace first {

namespace {

struct Architecture {
  const char* name;  // general.architecture
};
constexpr Architecture kArchitectures[] = {{"llama"}};

int64_t get_int(const GgufFile& f, const std::string& key, int64_t fallback, bool required) {
  const GgufValue* v = f.find(key);
  if (!v) {
    if (required) throw Error(f.path() + ": missing metadata key '" + key + "'");
    return fallback;
  }
  if (v->type == GgufValueType::ARRAY) {
    // Some models store per-layer values; this engine needs them uniform.
    const auto& arr = v->as_array();
    if (arr.empty()) throw Error(f.path() + ": metadata key '" + key + "' is an empty array");
    int64_t first = arr[0].as_int();
    for (const auto& e : arr)
      if (e.as_int() != first) throw Error(f.path() + ": per-layer '" + key + "' values differ; not supported");
    return first;
  }
  return v->as_int();
}

double get_float(const GgufFile& f, const std::string& key, double fallback) {
  const GgufValue* v = f.find(key);
  return v ? v->as_float() : fallback;
}

std::vector<float> load_vector(const GgufFile& f, const std::string& name, int64_t n) {
  const GgufTensor& t = f.tensor(name);
  if (t.n_elements() != n)
    throw Error(f.path() + ": tensor '" + name + "' has " + std::to_string(t.n_elements()) + " elements, expected " +
                std::to_string(n));
  std::vector<float> out(n);
  dequantize_row(t.type, t.data, out.data(), n);
  return out;
}

WeightView load_matrix(const GgufFile& f, const std::string& name, int64_t rows, int64_t cols) {
  const GgufTensor& t = f.tensor(name);
  if (t.shape.size() != 2 || t.shape[0] != cols || t.shape[1] != rows)
    throw Error(f.path() + ": tensor '" + name + "' has shape [" + std::to_string(t.cols()) + ", " +
                std::to_string(t.rows()) + "], expected [" + std::to_string(cols) + ", " + std::to_string(rows) + "]");
  if (t.type == TensorType::Q8_1 || t.type == TensorType::Q8_K)
    throw Error(f.path() + ": tensor '" + name + "' uses an activation-only block type");
  WeightView w;
  w.type = t.type;
  w.rows = rows;
  w.cols = cols;
  w.data = t.data;
  w.row_bytes = row_bytes(t.type, cols);
  return w;
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::string& path) {
  std::unique_ptr<Model> m(new Model());
  m->file_ = GgufFile::open(path);
  const GgufFile& f = *m->file_;

  const GgufValue* arch_v = f.find("general.architecture");
  if (!arch_v) throw Error(path + ": missing 'general.architecture'");
  const std::string arch = arch_v->as_string();
  bool known = false;
  for (const auto& a : kArchitectures) known = known || arch == a.name;
  if (!known) throw Error(path + ": unsupported architecture '" + arch + "' (supported: llama)");

  ModelConfig& c = m->cfg_;
  const std::string p = arch + ".";
  c.architecture = arch;
  c.n_layers = static_cast<int>(get_int(f, p + "block_count", 0, true));
  c.d_model = static_cast<int>(get_int(f, p + "embedding_length", 0, true));
  c.n_heads = static_cast<int>(get_int(f, p + "attention.head_count", 0, true));
  c.n_kv_heads = static_cast<int>(get_int(f, p + "attention.head_count_kv", c.n_heads, false));
  c.ffn_dim = static_cast<int>(get_int(f, p + "feed_forward_length", 0, true));
  c.context_length = static_cast<int>(get_int(f, p + "context_length", 2048, false));
  if (c.n_layers <= 0 || c.d_model <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.ffn_dim <= 0 ||
      c.context_length <= 0)
    throw Error(path + ": non-positive model dimensions in metadata");
  if (c.n_heads % c.n_kv_heads != 0)
    throw Error(path + ": head_count " + std::to_string(c.n_heads) + " is not a multiple of head_count_kv " +
                std::to_string(c.n_kv_heads));
  c.head_dim = static_cast<int>(get_int(f, p + "attention.key_length", c.d_model / c.n_heads, false));
  if (c.head_dim <= 0 || c.head_dim % 2 != 0 || c.head_dim > 512)
    throw Error(path + ": head dimension must be even and in 2..512");
  c.rope_dim = static_cast<int>(get_int(f, p + "rope.dimension_count", c.head_dim, false));
  if (c.rope_dim <= 0 || c.rope_dim > c.head_dim || c.rope_dim % 2 != 0)
    throw Error(path + ": rope.dimension_count must be even and at most the head dimension");
  c.rms_eps = static_cast<float>(get_float(f, p + "attention.layer_norm_rms_epsilon", 1e-5));
  c.rope_base = static_cast<float>(get_float(f, p + "rope.freq_base", 10000.0));
  if (const GgufValue* st = f.find(p + "rope.scaling.type")) {
    const std::string& type = st->as_string();
    if (type == "linear") {
      double factor = get_float(f, p + "rope.scaling.factor", 1.0);
      if (!(factor > 0)) throw Error(path + ": rope.scaling.factor must be positive");
      c.rope_scale = static_cast<float>(1.0 / factor);
    } else if (type != "none" && type != "llama3") {
      throw Error(path + ": unsupported rope scaling type '" + type + "'");
    }
  }

  const GgufTensor& embd = f.tensor("token_embd.weight");
  if (embd.shape.size() != 2 || embd.shape[0] != c.d_model)
    throw Error(path + ": token_embd.weight must have shape [embedding_length, vocab]");
  c.vocab_size = static_cast<int>(embd.shape[1]);
  m->token_embd_ = load_matrix(f, "token_embd.weight", c.vocab_size, c.d_model);
  m->output_norm_ = load_vector(f, "output_norm.weight", c.d_model);
  if (f.find_tensor("output.weight")) {
    m->output_ = load_matrix(f, "output.weight", c.vocab_size, c.d_model);
  } else {
    m->output_ = m->token_embd_;
    c.tied_output = true;
  }
  if (f.find_tensor("rope_freqs.weight")) m->rope_freqs_ = load_vector(f, "rope_freqs.weight", c.rope_dim / 2);

  const int64_t d = c.d_model, q = c.q_dim(), kv = c.kv_dim(), ff = c.ffn_dim;
  m->layers_.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    LayerWeights& L = m->layers_[l];
    L.attn_norm = load_vector(f, b + "attn_norm.weight", d);
    L.wq = load_matrix(f, b + "attn_q.weight", q, d);
    L.wk = load_matrix(f, b + "attn_k.weight", kv, d);
    L.wv = load_matrix(f, b + "attn_v.weight", kv, d);
    L.wo = load_matrix(f, b + "attn_output.weight", d, q);
    L.ffn_norm = load_vector(f, b + "ffn_norm.weight", d);
    L.w_gate = load_matrix(f, b + "ffn_gate.weight", ff, d);
    L.w_up = load_matrix(f, b + "ffn_up.weight", ff, d);
    L.w_down = load_matrix(f, b + "ffn_down.weight", d, ff);
  }
  return m;
}

size_t Model::weight_bytes() const {
  size_t total = 0;
  for (const auto& t : file_->tensors()) total += t.n_bytes;
  return total;
}

void Model::embed(const int32_t* tokens, int n, float* out) const {
  for (int i = 0; i < n; ++i) {
    int32_t id = tokens[i];
    if (id < 0 || id >= cfg_.vocab_size)
      throw Error("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                  std::to_string(cfg_.vocab_size - 1) + ")");
    dequantize_row(token_embd_.type, token_embd_.data + static_cast<size_t>(id) * token_embd_.row_bytes,
                   out + static_cast<size_t>(i) * cfg_.d_model, cfg_.d_model);
  }
}

}  // namespace first
