#include "hf/checkpoint.h"

#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "first/error.h"
#include "first/mapped_file.h"
#include "hf/json.h"
#include "hf/safetensors.h"

namespace first::hf {

namespace {

constexpr size_t kMaxJsonFile = size_t{16} << 20;

bool is_file(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

json::Value read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > kMaxJsonFile) throw Error(path + " is larger than " + std::to_string(kMaxJsonFile >> 20) + " MB");
  json::Value v = json::parse(text.data(), text.size(), path);
  if (!v.is_object()) throw Error(path + ": not a JSON object");
  return v;
}

GgufValue u32(int64_t v) {
  GgufValue g;
  g.type = GgufValueType::UINT32;
  g.v = static_cast<uint64_t>(v);
  return g;
}
GgufValue f32(double v) {
  GgufValue g;
  g.type = GgufValueType::FLOAT32;
  g.v = v;
  return g;
}
GgufValue str(const std::string& s) {
  GgufValue g;
  g.type = GgufValueType::STRING;
  g.v = s;
  return g;
}

// model_type -> the GGUF architecture whose layer it is.
std::string architecture_of(const std::string& model_type, const std::string& path) {
  static const std::map<std::string, std::string> known = {
      {"llama", "llama"}, {"mistral", "llama"}, {"qwen2", "qwen2"}, {"qwen3", "qwen3"},
      {"gemma3_text", "gemma3"}, {"phi3", "phi3"}};
  auto it = known.find(model_type);
  if (it != known.end()) return it->second;
  std::string names;
  for (const auto& [k, _] : known) names += (names.empty() ? "" : ", ") + k;
  throw Error(path + ": model_type '" + model_type + "' is not supported (supported: " + names +
              (model_type == "gemma3" ? "; multimodal Gemma 3 checkpoints: use the text model, model_type gemma3_text" : "") +
              ")");
}

// HF tensor names -> GGUF's (unknown names stay, and Model::load reports them).
std::string gguf_name(const std::string& hf, const std::string& arch) {
  static const std::map<std::string, std::string> top = {
      {"model.embed_tokens.weight", "token_embd.weight"}, {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"}};
  if (auto it = top.find(hf); it != top.end()) return it->second;
  const std::string prefix = "model.layers.";
  if (hf.compare(0, prefix.size(), prefix) != 0) return hf;
  const size_t dot = hf.find('.', prefix.size());
  if (dot == std::string::npos) return hf;
  const std::string layer = hf.substr(prefix.size(), dot - prefix.size());
  if (layer.empty() || layer.size() > 6 || layer.find_first_not_of("0123456789") != std::string::npos ||
      (layer.size() > 1 && layer[0] == '0'))
    return hf;
  const std::string rest = hf.substr(dot + 1);
  const bool gemma = arch == "gemma3";
  static const std::map<std::string, std::string> common = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"}, {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"}, {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"}, {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.qkv_proj.weight", "attn_qkv.weight"}, {"self_attn.o_proj.weight", "attn_output.weight"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"}, {"self_attn.k_norm.weight", "attn_k_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"}, {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"}, {"mlp.gate_up_proj.weight", "ffn_up.weight"},
      {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
      {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"}};
  std::string g;
  if (rest == "post_attention_layernorm.weight") g = gemma ? "post_attention_norm.weight" : "ffn_norm.weight";
  else if (auto it = common.find(rest); it != common.end()) g = it->second;
  else return hf;
  return "blk." + layer + "." + g;
}

int64_t need_int(const json::Value& cfg, const char* key, const std::string& path) {
  const json::Value* v = cfg.find(key);
  if (!v || !v->is_number() || !v->integral) throw Error(path + ": '" + key + "' must be an integer");
  return v->integer;
}
const json::Value* number(const json::Value& cfg, const char* key) {
  const json::Value* v = cfg.find(key);
  return v && v->is_number() ? v : nullptr;
}

// Llama 3's rope scaling as per-frequency divisors (what GGUF files carry as
// rope_freqs.weight): long wavelengths slow down by `factor`, short ones stay,
// and those between blend smoothly.
GgufValue llama3_factors(const json::Value& cfg, const json::Value& rs, int64_t head_dim, const std::string& path) {
  auto num = [&](const char* key, double fallback) {
    const json::Value* v = number(rs, key);
    return v ? v->number : fallback;
  };
  const double factor = num("factor", 1), low = num("low_freq_factor", 1), high = num("high_freq_factor", 4);
  const double old_ctx = num("original_max_position_embeddings", 8192);
  const json::Value* theta = number(cfg, "rope_theta");
  const double base = theta ? theta->number : 10000.0;
  const json::Value* prf = number(cfg, "partial_rotary_factor");
  const int64_t dim = prf ? static_cast<int64_t>(head_dim * prf->number) : head_dim;
  if (!(factor > 0) || !(low > 0) || !(high > low) || !(old_ctx > 0) || !(base > 0) || dim <= 0 || dim > 1024 || dim % 2)
    throw Error(path + ": rope_scaling llama3 needs factor > 0, 0 < low_freq_factor < high_freq_factor and a positive context");
  const double low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
  GgufValue arr;
  arr.type = GgufValueType::ARRAY;
  arr.elem_type = GgufValueType::FLOAT32;
  auto values = std::make_shared<GgufArray>();
  for (int64_t i = 0; i < dim / 2; ++i) {
    const double freq = std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(dim));
    const double wavelen = 2 * M_PI / freq;
    double f = 1;
    if (wavelen > low_wavelen) f = factor;
    else if (wavelen >= high_wavelen) {
      const double smooth = (old_ctx / wavelen - low) / (high - low);
      f = 1 / ((1 - smooth) / factor + smooth);
    }
    values->push_back(f32(f));
  }
  arr.v = values;
  return arr;
}

}  // namespace

bool is_checkpoint_dir(const std::string& dir) {
  struct stat st;
  return stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && is_file(dir + "/config.json");
}

std::unique_ptr<GgufFile> open_checkpoint(const std::string& dir) {
  const std::string cfg_path = dir + "/config.json";
  if (!is_file(cfg_path)) throw Error(dir + ": no config.json (not a Hugging Face checkpoint folder)");
  const json::Value cfg = read_json(cfg_path);
  const json::Value* mt = cfg.find("model_type");
  if (!mt || !mt->is_string()) throw Error(cfg_path + ": no model_type");
  const std::string arch = architecture_of(mt->string, cfg_path);
  const std::string k = arch + ".";

  std::vector<std::pair<std::string, GgufValue>> kv;
  kv.emplace_back("general.architecture", str(arch));
  kv.emplace_back("general.name", str(dir));
  kv.emplace_back(k + "block_count", u32(need_int(cfg, "num_hidden_layers", cfg_path)));
  kv.emplace_back(k + "embedding_length", u32(need_int(cfg, "hidden_size", cfg_path)));
  kv.emplace_back(k + "feed_forward_length", u32(need_int(cfg, "intermediate_size", cfg_path)));
  const int64_t heads = need_int(cfg, "num_attention_heads", cfg_path);
  kv.emplace_back(k + "attention.head_count", u32(heads));
  const json::Value* kvh = number(cfg, "num_key_value_heads");
  kv.emplace_back(k + "attention.head_count_kv", u32(kvh && kvh->integral ? kvh->integer : heads));
  if (const json::Value* v = number(cfg, "max_position_embeddings"); v && v->integral)
    kv.emplace_back(k + "context_length", u32(v->integer));
  if (const json::Value* v = number(cfg, "rms_norm_eps")) kv.emplace_back(k + "attention.layer_norm_rms_epsilon", f32(v->number));
  if (const json::Value* v = number(cfg, "rope_theta")) kv.emplace_back(k + "rope.freq_base", f32(v->number));
  int64_t head_dim = need_int(cfg, "hidden_size", cfg_path) / (heads > 0 ? heads : 1);
  if (const json::Value* v = number(cfg, "head_dim"); v && v->integral) {
    head_dim = v->integer;
    kv.emplace_back(k + "attention.key_length", u32(head_dim));
    kv.emplace_back(k + "attention.value_length", u32(head_dim));
  }
  if (const json::Value* v = number(cfg, "partial_rotary_factor"))
    kv.emplace_back(k + "rope.dimension_count", u32(static_cast<int64_t>(head_dim * v->number)));
  if (const json::Value* rs = cfg.find("rope_scaling"); rs && rs->is_object()) {
    const json::Value* t = rs->find("rope_type");
    if (!t) t = rs->find("type");
    const std::string type = t && t->is_string() ? t->string : "";
    const json::Value* factor = number(*rs, "factor");
    if (type == "linear" && factor) {
      kv.emplace_back(k + "rope.scaling.type", str("linear"));
      kv.emplace_back(k + "rope.scaling.factor", f32(factor->number));
    } else if (type == "llama3" && factor) {
      kv.emplace_back("first.rope_freq_factors", llama3_factors(cfg, *rs, head_dim, cfg_path));
    } else if (type != "default") {
      throw Error(cfg_path + ": rope_scaling '" + type + "' is not supported for Hugging Face checkpoints yet (linear and llama3 are)");
    }
  }
  if (arch == "gemma3") {
    if (const json::Value* v = number(cfg, "sliding_window"); v && v->integral)
      kv.emplace_back(k + "attention.sliding_window", u32(v->integer));
    int64_t period = 0;
    if (const json::Value* v = number(cfg, "sliding_window_pattern"); v && v->integral) period = v->integer;
    if (const json::Value* lt = cfg.find("layer_types"); lt && lt->is_array()) {
      // Every period-th layer attends fully; derive the period and check it.
      for (size_t i = 0; i < lt->array.size() && period == 0; ++i)
        if (lt->array[i].is_string() && lt->array[i].string == "full_attention") period = static_cast<int64_t>(i) + 1;
      for (size_t i = 0; i < lt->array.size(); ++i) {
        const bool sliding = period > 0 && static_cast<int64_t>(i) % period < period - 1;
        if (!lt->array[i].is_string() || (lt->array[i].string == "sliding_attention") != sliding)
          throw Error(cfg_path + ": layer_types is not a repeating pattern of sliding layers and one full layer");
      }
    }
    if (period > 0) kv.emplace_back(k + "attention.sliding_window_pattern", u32(period));
    if (const json::Value* v = number(cfg, "rope_local_base_freq")) kv.emplace_back(k + "rope.freq_base_swa", f32(v->number));
    if (const json::Value* v = number(cfg, "final_logit_softcapping")) kv.emplace_back(k + "final_logit_softcapping", f32(v->number));
    // Gemma's norms compute x * (1 + w); GGUF files store 1 + w.
    kv.emplace_back("first.norm_weight_offset", f32(1.0));
  }
  // The GGUF converter permutes llama's q/k rows to pair adjacent dims; here
  // the checkpoint's own layout is used, so RoPE pairs dims half a rope apart.
  if (arch == "llama") kv.emplace_back("first.rope_layout", str("half_split"));
  const json::Value* tied = cfg.find("tie_word_embeddings");
  const bool tie = tied && tied->kind == json::Value::Kind::Bool ? tied->boolean : arch == "gemma3";

  if (is_file(dir + "/tokenizer_config.json")) {
    const json::Value tc = read_json(dir + "/tokenizer_config.json");
    if (const json::Value* t = tc.find("chat_template"); t && t->is_string())
      kv.emplace_back("tokenizer.chat_template", str(t->string));
  }

  // The shards: one file, or an index naming a file per tensor.
  std::vector<std::string> shards;
  std::map<std::string, std::string> expected;  // tensor -> shard (sharded checkpoints)
  if (is_file(dir + "/model.safetensors")) {
    shards.push_back("model.safetensors");
  } else if (is_file(dir + "/model.safetensors.index.json")) {
    const json::Value idx = read_json(dir + "/model.safetensors.index.json");
    const json::Value* wm = idx.find("weight_map");
    if (!wm || !wm->is_object()) throw Error(dir + "/model.safetensors.index.json: no weight_map");
    std::set<std::string> seen;
    for (const auto& [name, file] : wm->object) {
      if (!file.is_string() || file.string.empty() || file.string[0] == '.' ||
          file.string.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos)
        throw Error(dir + "/model.safetensors.index.json: tensor '" + name + "' names a shard outside the folder");
      expected[name] = file.string;
      if (seen.insert(file.string).second) shards.push_back(file.string);
    }
  } else {
    throw Error(dir + ": no model.safetensors or model.safetensors.index.json");
  }

  std::vector<std::shared_ptr<const MappedFile>> files;
  std::vector<GgufTensor> tensors;
  for (const std::string& shard : shards) {
    auto file = MappedFile::open(dir + "/" + shard);
    for (SafetensorsTensor& t : read_safetensors(*file)) {
      if (!expected.empty()) {
        auto it = expected.find(t.name);
        if (it == expected.end() || it->second != shard)
          throw Error(file->path() + ": tensor '" + t.name + "' is not where model.safetensors.index.json puts it");
        expected.erase(it);
      }
      if (tie && t.name == "lm_head.weight") continue;  // the same matrix as the embedding
      GgufTensor g;
      g.name = gguf_name(t.name, arch);
      g.type = t.type;
      g.shape.assign(t.shape.rbegin(), t.shape.rend());  // GGUF lists the contiguous dimension first
      g.n_bytes = t.n_bytes;
      g.data = t.data;
      tensors.push_back(std::move(g));
    }
    files.push_back(std::move(file));
  }
  if (!expected.empty())
    throw Error(dir + ": tensor '" + expected.begin()->first + "' is missing from " + expected.begin()->second);
  return GgufFile::assemble(dir, std::move(kv), std::move(tensors), std::move(files));
}

}  // namespace first::hf
