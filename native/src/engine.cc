#include "first/engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "first/error.h"

namespace first {

namespace {
KvCacheConfig kv_config(const ModelConfig& c, const EngineOptions& o, int ctx) {
  if (o.block_tokens <= 0 || o.block_tokens > 4096) throw Error("block_tokens must be in 1..4096");
  KvCacheConfig k;
  k.n_layers = c.n_layers;
  k.kv_dim = c.kv_dim();
  k.block_tokens = o.block_tokens;
  int64_t per_seq = static_cast<int64_t>((ctx + o.block_tokens - 1) / o.block_tokens) * c.n_layers;
  k.max_blocks = o.kv_blocks > 0 ? o.kv_blocks : per_seq * std::max(1, o.max_sequences);
  return k;
}

int pick_context(const ModelConfig& c, const EngineOptions& o) {
  if (o.context_length < 0) throw Error("context_length must not be negative");
  return o.context_length > 0 ? std::min(o.context_length, c.context_length) : c.context_length;
}

template <typename T>
void grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}
}  // namespace

Engine::Engine(const Model& model, const EngineOptions& opts)
    : model_(model),
      pool_(opts.threads),
      kv_(kv_config(model.config(), opts, pick_context(model.config(), opts))),
      rope_(model_rope(model)),
      rope_sliding_(model_rope(model, /*sliding_layer=*/true)),
      ctx_len_(pick_context(model.config(), opts)) {
  const ModelConfig& c = model.config();
  if (!model.rope_freq_factors_long().empty() && ctx_len_ > c.rope_original_context)
    throw Error("a context of " + std::to_string(ctx_len_) + " tokens needs this model's long-context RoPE factors, "
                "which the engine does not apply; use a context of at most " + std::to_string(c.rope_original_context));
}

void Engine::check_seq(int seq) const {
  if (seq < 0 || seq >= static_cast<int>(seq_len_.size()) || seq_len_[seq] < 0)
    throw Error("unknown sequence " + std::to_string(seq));
}

int Engine::create_sequence() {
  int id = kv_.create_sequence();
  if (id >= static_cast<int>(seq_len_.size())) seq_len_.resize(id + 1, -1);
  seq_len_[id] = 0;
  return id;
}

void Engine::free_sequence(int seq) {
  check_seq(seq);
  kv_.free_sequence(seq);
  seq_len_[seq] = -1;
}

int Engine::fork_sequence(int seq) {
  check_seq(seq);
  int id = kv_.fork_sequence(seq);
  if (id >= static_cast<int>(seq_len_.size())) seq_len_.resize(id + 1, -1);
  seq_len_[id] = seq_len_[seq];
  return id;
}

int Engine::sequence_length(int seq) const {
  check_seq(seq);
  return seq_len_[seq];
}

void Engine::truncate_sequence(int seq, int n) {
  check_seq(seq);
  if (n < 0 || n > seq_len_[seq]) throw Error("truncate: length out of range");
  kv_.truncate(seq, n);
  seq_len_[seq] = n;
}

int Engine::batch_tokens(int entry) const {
  if (entry < 0 || entry >= batch_size()) throw Error("batch entry out of range");
  return entries_[entry].n;
}

void Engine::begin_batch(const std::vector<BatchEntry>& in) {
  entries_.clear();
  n_rows_ = 0;
  std::vector<Entry> entries;
  int64_t rows = 0;
  for (const auto& e : in) {
    check_seq(e.seq);
    for (const auto& o : entries)
      if (o.seq == e.seq) throw Error("sequence " + std::to_string(e.seq) + " appears twice in one batch");
    if (e.tokens.empty()) throw Error("batch entry for sequence " + std::to_string(e.seq) + " has no tokens");
    const int pos0 = seq_len_[e.seq];
    if (static_cast<int64_t>(pos0) + static_cast<int64_t>(e.tokens.size()) > ctx_len_)
      throw Error("context length exceeded: sequence " + std::to_string(e.seq) + " would hold " +
                  std::to_string(pos0 + e.tokens.size()) + " tokens, the context holds " + std::to_string(ctx_len_));
    int adapter = e.adapter;
    if (adapter == -1) adapter = default_adapter_ >= 0 ? default_adapter_ : (adapters_.empty() ? 0 : 1);
    if (adapter < 0 || adapter > static_cast<int>(adapters_.size()))
      throw Error("batch entry for sequence " + std::to_string(e.seq) + " names adapter " + std::to_string(e.adapter) +
                  "; the engine has " + std::to_string(adapters_.size()));
    entries.push_back({e.seq, pos0, static_cast<int>(e.tokens.size()), rows, adapter});
    rows += static_cast<int64_t>(e.tokens.size());
  }
  const int d = config().d_model;
  grow(hidden_, static_cast<size_t>(rows) * d);
  for (size_t i = 0; i < in.size(); ++i)
    model_.embed(in[i].tokens.data(), entries[i].n, hidden_.data() + entries[i].row0 * d);
  // A step that was abandoned (an error mid-way) may have written positions
  // past the committed length: drop them so the cache matches the sequence.
  for (const auto& e : entries) kv_.truncate(e.seq, e.pos0);
  entries_ = std::move(entries);
  n_rows_ = rows;
  rope_angles_ready_[0] = rope_angles_ready_[1] = false;
}

const float* Engine::rope_angles(bool sliding) {
  const Rope& rope = sliding ? rope_sliding_ : rope_;
  std::vector<float>& table = rope_angles_[sliding];
  const int half = rope.rope_dim / 2;
  if (!rope_angles_ready_[sliding]) {
    grow(table, static_cast<size_t>(n_rows_) * 2 * half);
    for (const Entry& en : entries_)
      for (int i = 0; i < en.n; ++i) {
        float* row = table.data() + (en.row0 + i) * 2 * half;
        rope.angles(en.pos0 + i, row, row + half);
      }
    rope_angles_ready_[sliding] = true;
  }
  return table.data();
}

void Engine::run_layer(int layer, const std::vector<int>& which) {
  if (layer < 0 || layer >= config().n_layers) throw Error("layer " + std::to_string(layer) + " out of range");
  if (which.empty()) return;
  std::vector<char> seen(entries_.size(), 0);
  for (int e : which) {
    if (e < 0 || e >= batch_size()) throw Error("batch entry " + std::to_string(e) + " out of range");
    if (seen[e]) throw Error("batch entry " + std::to_string(e) + " listed twice");
    seen[e] = 1;
    const Entry& en = entries_[e];
    if (kv_.layer_tokens(en.seq, layer) != en.pos0)
      throw Error("sequence " + std::to_string(en.seq) + " skipped layer " + std::to_string(layer) +
                  " earlier and cannot run it now (its KV cache for that layer is incomplete)");
  }
  // Reserve every entry's blocks first: a capacity error then leaves this
  // layer untouched for all entries.
  std::vector<int> done;
  try {
    for (int e : which) {
      const Entry& en = entries_[e];
      kv_.reserve(en.seq, layer, en.pos0 + en.n, en.pos0);
      done.push_back(e);
    }
  } catch (...) {
    for (int e : done) kv_.truncate(entries_[e].seq, entries_[e].pos0);
    throw;
  }

  const int d = config().d_model;
  // Fast path: all entries in batch order are contiguous rows of hidden_.
  bool contiguous = which.size() == entries_.size();
  for (size_t i = 0; contiguous && i < which.size(); ++i) contiguous = which[i] == static_cast<int>(i);
  if (contiguous) {
    layer_forward(layer, hidden_.data(), n_rows_, which);
    return;
  }
  int64_t rows = 0;
  for (int e : which) rows += entries_[e].n;
  grow(rows_, static_cast<size_t>(rows) * d);
  int64_t r = 0;
  for (int e : which) {
    const Entry& en = entries_[e];
    std::memcpy(rows_.data() + r * d, hidden_.data() + en.row0 * d, sizeof(float) * en.n * d);
    r += en.n;
  }
  layer_forward(layer, rows_.data(), rows, which);
  r = 0;
  for (int e : which) {
    const Entry& en = entries_[e];
    std::memcpy(hidden_.data() + en.row0 * d, rows_.data() + r * d, sizeof(float) * en.n * d);
    r += en.n;
  }
}

// One decoder layer on n rows (x updated in place), as the recipe composes it:
//   x += Wo · attn(rope(Wq·norm(x)), cache)   then   x += Wdown · (act(Wgate·norm(x)) * Wup·norm(x))
void Engine::layer_forward(int layer, float* x, int64_t n, const std::vector<int>& which) {
  const ModelConfig& c = config();
  const LayerWeights& L = model_.layer(layer);
  const int d = c.d_model, qd = c.q_dim(), kvd = c.kv_dim(), ff = c.ffn_dim;
  grow(xn_, static_cast<size_t>(n) * d);
  grow(q_, static_cast<size_t>(n) * qd);
  grow(k_, static_cast<size_t>(n) * kvd);
  grow(v_, static_cast<size_t>(n) * kvd);
  grow(att_, static_cast<size_t>(n) * qd);
  grow(gate_, static_cast<size_t>(n) * ff);
  grow(up_, static_cast<size_t>(n) * ff);
  if (c.recipe.post_norms) grow(proj_, static_cast<size_t>(n) * d);

  LayerActs acts;
  acts.proj = proj_.data();
  acts.xn = xn_.data();
  acts.q = q_.data();
  acts.k = k_.data();
  acts.v = v_.data();
  acts.att = att_.data();
  acts.gate = gate_.data();
  acts.up = up_.data();
  acts.act = gate_.data();
  // Consecutive entries taking the same adapter form a run; one run is the
  // common case (and keeps the fused decode path).
  std::vector<LoraRun> runs;
  {
    int64_t row = 0;
    for (int e : which) {
      const LayerLora* l = layer_lora(entries_[e].adapter, layer);
      if (!runs.empty() && runs.back().lora == l) runs.back().n += entries_[e].n;
      else runs.push_back({row, entries_[e].n, l});
      row += entries_[e].n;
    }
  }
  const bool mixed = runs.size() > 1;
  const LayerLora* lora = mixed ? nullptr : runs[0].lora;
  const std::vector<LoraRun>* mixed_runs = mixed ? &runs : nullptr;

  layer_qkv(c, L, lora, x, n, acts, pool_, mm_, mixed_runs);

  // RoPE on queries in place; keys are rotated while being written into the
  // cache, values copied straight in.
  const bool sliding = c.sliding(layer);
  const Rope& rope = sliding ? rope_sliding_ : rope_;
  const float* angles = rope_angles(sliding);
  const int half = rope.rope_dim / 2;
  AttentionBatch ab;
  ab.scale = c.query_scale();
  ab.window = sliding ? c.sliding_window : 0;
  ab.q = q_.data();
  ab.ldq = qd;
  ab.out = att_.data();
  ab.ldo = qd;
  ab.seq.reserve(n);
  ab.n_ctx.reserve(n);
  int64_t r = 0;
  for (int e : which) {
    const Entry& en = entries_[e];
    for (int i = 0; i < en.n; ++i, ++r) {
      const int pos = en.pos0 + i;
      const float* cs = angles + (en.row0 + i) * 2 * half;
      rope.rotate(q_.data() + r * qd, q_.data() + r * qd, c.n_heads, cs, cs + half);
      rope.rotate(k_.data() + r * kvd, kv_.k_row(en.seq, layer, pos), c.n_kv_heads, cs, cs + half);
      std::memcpy(kv_.v_row(en.seq, layer, pos), v_.data() + r * kvd, sizeof(float) * kvd);
      ab.seq.push_back(en.seq);
      ab.n_ctx.push_back(pos + 1);
    }
  }
  attention(kv_, layer, ab, c.n_heads, c.n_kv_heads, c.head_dim, pool_);
  layer_attn_out(c, L, lora, x, n, acts, pool_, mm_, mixed_runs);
  layer_mlp(c, L, lora, x, n, acts, pool_, mm_, mixed_runs);
}

const LayerLora* Engine::layer_lora(int adapter, int layer) const {
  if (adapter <= 0 || adapter > static_cast<int>(adapters_.size())) return nullptr;
  const LayerLora& l = adapters_[adapter - 1].layers[layer];
  return l.any() ? &l : nullptr;
}

void Engine::set_lora(int layer, const std::string& module, int rank, const float* A, const float* B, float scale,
                      int adapter) {
  const ModelConfig& c = config();
  if (adapter < 1 || adapter > kMaxAdapters)
    throw Error("set_lora: adapter must be in 1.." + std::to_string(kMaxAdapters) + ", got " + std::to_string(adapter));
  if (adapter > static_cast<int>(adapters_.size()) + 1)
    throw Error("set_lora: adapters are numbered from 1 without gaps; the next is " + std::to_string(adapters_.size() + 1));
  if (layer < 0 || layer >= c.n_layers) throw Error("set_lora: layer " + std::to_string(layer) + " out of range");
  const LoraModule m = parse_lora_module(module);
  if (rank <= 0 || rank > 4096) throw Error("set_lora: rank must be in 1..4096");
  if (!A || !B) throw Error("set_lora: missing A or B");
  const LayerWeights& L = model_.layer(layer);
  const WeightView* w[kLoraModules] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
  if (adapter > static_cast<int>(adapters_.size())) {
    AdapterSet set;
    set.store.assign(c.n_layers, std::vector<LoraAdapter>(kLoraModules));
    set.layers.assign(c.n_layers, LayerLora{});
    adapters_.push_back(std::move(set));  // moving keeps the inner buffers, so the views stay valid
  }
  AdapterSet& set = adapters_[adapter - 1];
  LoraAdapter& ad = set.store[layer][static_cast<int>(m)];
  ad.rank = rank;
  ad.in = w[static_cast<int>(m)]->cols;
  ad.out = w[static_cast<int>(m)]->rows;
  ad.scale = scale;
  // The engine runs the int8 form alone; the f32 factors stay with the caller.
  ad.decode = make_low_rank(rank, ad.in, ad.out, scale, A, B);
  set.layers[layer].module[static_cast<int>(m)] = &ad;
}

void Engine::set_default_adapter(int adapter) {
  if (adapter < -1 || adapter > static_cast<int>(adapters_.size()))
    throw Error("set_default_adapter: no adapter " + std::to_string(adapter) + " (the engine has " +
                std::to_string(adapters_.size()) + ")");
  default_adapter_ = adapter;
}

void Engine::clear_lora() {
  adapters_.clear();
  default_adapter_ = -1;
}

void Engine::mean_hidden(int entry, float* out) const {
  if (entry < 0 || entry >= batch_size()) throw Error("batch entry out of range");
  const Entry& en = entries_[entry];
  const int d = config().d_model;
  std::vector<double> acc(d, 0.0);
  for (int i = 0; i < en.n; ++i) {
    const float* row = hidden_.data() + (en.row0 + i) * d;
    for (int j = 0; j < d; ++j) acc[j] += row[j];
  }
  for (int j = 0; j < d; ++j) out[j] = static_cast<float>(acc[j] / en.n);
}

void Engine::hidden_rows(int entry, float* out) const {
  if (entry < 0 || entry >= batch_size()) throw Error("batch entry out of range");
  const Entry& en = entries_[entry];
  const int d = config().d_model;
  std::memcpy(out, hidden_.data() + en.row0 * d, sizeof(float) * en.n * d);
}

int Engine::logits_rows(bool last_only) const { return last_only ? batch_size() : static_cast<int>(n_rows_); }

void Engine::logits(float* out, bool last_only) {
  const int d = config().d_model;
  const int64_t rows = logits_rows(last_only);
  if (rows == 0) return;
  grow(xn_, static_cast<size_t>(rows) * d);
  if (last_only) {
    for (int e = 0; e < batch_size(); ++e) {
      const Entry& en = entries_[e];
      std::memcpy(xn_.data() + static_cast<int64_t>(e) * d, hidden_.data() + (en.row0 + en.n - 1) * d,
                  sizeof(float) * d);
    }
    rmsnorm(xn_.data(), model_.output_norm().data(), xn_.data(), rows, d, config().rms_eps);
  } else {
    rmsnorm(hidden_.data(), model_.output_norm().data(), xn_.data(), rows, d, config().rms_eps);
  }
  const int vocab = config().vocab_size;
  matmul(model_.output(), xn_.data(), rows, d, out, vocab, /*accumulate=*/false, pool_, mm_);
  if (const float cap = config().logit_softcap; cap > 0)
    for (int64_t i = 0; i < rows * vocab; ++i) out[i] = cap * std::tanh(out[i] / cap);
}

void Engine::commit_batch() {
  for (const auto& e : entries_) seq_len_[e.seq] = e.pos0 + e.n;
  entries_.clear();
  n_rows_ = 0;
}

}  // namespace first
