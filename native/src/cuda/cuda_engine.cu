// The CUDA engine: host bookkeeping (sequences, block tables, per-layer index
// arrays) and the launch order of one decoder layer. Everything of a step
// runs on one stream; the host waits only where it reads results (logits,
// hidden rows) and when a new step begins. Each layer's index arrays (rows,
// positions, KV slots, block tables) go to a fresh region of one pinned
// staging buffer per step, so their copies never wait on the previous layer.
#include "first/cuda/cuda_engine.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "cuda/block_tables.h"
#include "cuda/buffer.h"
#include "cuda/check.cuh"
#include "cuda/device_model.h"
#include "cuda/ops.h"
#include "first/cuda/device.h"
#include "first/error.h"
#include "first/ops.h"

namespace first {
namespace cuda {

namespace {

int pick_context(const ModelConfig& c, const CudaEngineOptions& o) {
  if (o.context_length < 0) throw Error("context_length must not be negative");
  return o.context_length > 0 ? std::min(o.context_length, c.context_length) : c.context_length;
}

int64_t pick_blocks(const ModelConfig& c, const CudaEngineOptions& o, int ctx) {
  if (o.block_tokens <= 0 || o.block_tokens > 4096) throw Error("block_tokens must be in 1..4096");
  const int64_t per_seq = static_cast<int64_t>((ctx + o.block_tokens - 1) / o.block_tokens) * c.n_layers;
  return o.kv_blocks > 0 ? o.kv_blocks : per_seq * std::max(1, o.max_sequences);
}

// Checks what the kernels assume before anything is uploaded.
const ModelConfig& check_model(const Model& m) {
  require_device();
  const ModelConfig& c = m.config();
  if (c.architecture != "llama")
    throw Error("CUDA engine: architecture '" + c.architecture + "' is not supported (supported: llama)");
  // Optional pieces any family's file may carry; the CUDA layer has none of them.
  for (int l = 0; l < c.n_layers; ++l)
    if (!m.layer(l).bq.empty() || !m.layer(l).bk.empty() || !m.layer(l).bv.empty())
      throw Error("CUDA engine: Q/K/V biases (layer " + std::to_string(l) + ") are not supported");
  if (c.head_dim % 4 != 0 || c.head_dim > 512)
    throw Error("CUDA engine: head_dim must be a multiple of 4 and at most 512, the model has " +
                std::to_string(c.head_dim));
  if (c.n_heads / c.n_kv_heads > 16) throw Error("CUDA engine: at most 16 query heads per KV head");
  return c;
}

}  // namespace

struct CudaEngine::Impl {
  struct Entry {
    int seq, pos0, n;
    int64_t row0;
  };

  const Model& model;
  const ModelConfig& c;
  int ctx_len;
  DeviceModel weights;
  BlockTables tables;
  DeviceBuffer pool;
  KvPoolView kv;
  DeviceBuffer rope_buf;
  RopeTable rope;
  cudaStream_t stream = nullptr;
  std::vector<int> seq_len;  // by sequence id; -1 = free

  std::vector<Entry> entries;
  int64_t n_rows = 0;

  // Device scratch, grown to the step's rows.
  DeviceBuffer hidden, rows_buf, xn, q, k, v, att, gate, up, act_q8_0, act_q8_1, logits_buf;
  // Per-step index arrays: host staging and the device copy, same offsets.
  PinnedBuffer meta_host;
  DeviceBuffer meta_dev;
  size_t meta_used = 0, meta_cap = 0;  // int32 units

  Impl(const Model& m, const CudaEngineOptions& o)
      : model(m),
        c(check_model(m)),
        ctx_len(pick_context(c, o)),
        weights(m),
        tables(c.n_layers, o.block_tokens, pick_blocks(c, o, ctx_len)) {
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
    kv.block_tokens = o.block_tokens;
    kv.kv_dim = c.kv_dim();
    pool.reserve(kv.block_floats() * sizeof(float) * static_cast<size_t>(tables.max_blocks()));
    pool.zero();
    kv.pool = pool.as<float>();
    // The CPU's angles (first::Rope, double precision), tabulated per position.
    const Rope r(c.head_dim, c.rope_dim, c.rope_base, c.rope_scale, m.rope_freq_factors());
    const int half = c.rope_dim / 2;
    std::vector<float> cs(static_cast<size_t>(2) * ctx_len * half);
    for (int p = 0; p < ctx_len; ++p)
      for (int i = 0; i < half; ++i) {
        const double theta = p * r.inv_freq[i];
        cs[static_cast<size_t>(p) * half + i] = static_cast<float>(std::cos(theta));
        cs[static_cast<size_t>(ctx_len + p) * half + i] = static_cast<float>(std::sin(theta));
      }
    rope_buf = to_device(cs);
    rope.cos_sin = rope_buf.as<float>();
    rope.max_positions = ctx_len;
    rope.head_dim = c.head_dim;
    rope.rope_dim = c.rope_dim;
  }

  ~Impl() {
    if (stream) {
      cudaStreamSynchronize(stream);
      cudaStreamDestroy(stream);
    }
  }

  void sync() { check(cudaStreamSynchronize(stream), "cudaStreamSynchronize"); }

  void check_seq(int seq) const {
    if (seq < 0 || seq >= static_cast<int>(seq_len.size()) || seq_len[seq] < 0)
      throw Error("unknown sequence " + std::to_string(seq));
  }

  void track(int id, int len) {
    if (id >= static_cast<int>(seq_len.size())) seq_len.resize(id + 1, -1);
    seq_len[id] = len;
  }

  // Copies n int32 to the step's staging region; returns their device address.
  const int32_t* stage(const int32_t* src, size_t n) {
    if (meta_used + n > meta_cap) throw Error("CUDA engine: step index space exhausted (internal sizing error)");
    int32_t* h = static_cast<int32_t*>(meta_host.data()) + meta_used;
    std::memcpy(h, src, n * sizeof(int32_t));
    int32_t* d = meta_dev.as<int32_t>() + meta_used;
    check(cudaMemcpyAsync(d, h, n * sizeof(int32_t), cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync indices");
    meta_used += n;
    return d;
  }

  void grow_scratch(int64_t rows) {
    const size_t r = static_cast<size_t>(std::max<int64_t>(rows, 1));
    const size_t d = c.d_model, qd = c.q_dim(), kvd = c.kv_dim(), ff = c.ffn_dim;
    hidden.reserve(r * d * 4);
    rows_buf.reserve(r * d * 4);
    xn.reserve(r * d * 4);
    q.reserve(r * qd * 4);
    k.reserve(r * kvd * 4);
    v.reserve(r * kvd * 4);
    att.reserve(r * qd * 4);
    gate.reserve(r * ff * 4);
    up.reserve(r * ff * 4);
    // Quantized inputs are only made for quantized weights, whose rows are whole blocks.
    const int64_t widest = (std::max<int64_t>({c.d_model, c.q_dim(), c.ffn_dim}) + 31) / 32 * 32;
    act_q8_0.reserve(r * row_bytes(TensorType::Q8_0, widest));
    act_q8_1.reserve(r * row_bytes(TensorType::Q8_1, widest));
    logits_buf.reserve(r * static_cast<size_t>(c.vocab_size) * 4);
  }

  // The activation rows a product with W reads: x itself (float weights) or
  // x quantized into W's partner format (done once per format and input).
  struct Act {
    const void* data;
    size_t stride;
  };
  Act activations(TensorType w, const float* x, int64_t rows, int64_t cols, const float** done_q8_0,
                  const float** done_q8_1) {
    const TensorType f = activation_format(w);
    if (f == TensorType::F32) return {x, static_cast<size_t>(cols) * sizeof(float)};
    const size_t stride = row_bytes(f, cols);
    DeviceBuffer& buf = f == TensorType::Q8_0 ? act_q8_0 : act_q8_1;
    const float** done = f == TensorType::Q8_0 ? done_q8_0 : done_q8_1;
    if (*done != x) {
      quantize_rows(f, x, rows, cols, cols, buf.data(), stride, stream);
      *done = x;
    }
    return {buf.data(), stride};
  }

  void product(const DeviceWeight& W, const float* x, int64_t rows, float* y, bool accumulate, const float** d0,
               const float** d1) {
    const Act a = activations(W.type, x, rows, W.cols, d0, d1);
    matmul(W, a.data, a.stride, rows, y, W.rows, accumulate, stream);
  }

  // One llama layer on `rows` packed rows at x:
  //   x += Wo attn(rope(Wq norm(x)), cache);  x += Wdown (silu(Wgate norm(x)) * Wup norm(x))
  void layer_forward(int l, float* x, int64_t rows, const int32_t* pos, const int32_t* slot, const int32_t* n_ctx,
                     const int32_t* table_off, const int32_t* table_data) {
    const DeviceLayer& L = weights.layer(l);
    const int64_t d = c.d_model, qd = c.q_dim(), kvd = c.kv_dim(), ff = c.ffn_dim;
    float* xn_ = xn.as<float>();
    const float *d0 = nullptr, *d1 = nullptr;  // which input each quantized buffer holds
    rmsnorm(x, d, nullptr, L.attn_norm, xn_, rows, d, c.rms_eps, stream);
    product(L.wq, xn_, rows, q.as<float>(), false, &d0, &d1);
    product(L.wk, xn_, rows, k.as<float>(), false, &d0, &d1);
    product(L.wv, xn_, rows, v.as<float>(), false, &d0, &d1);
    rope_write_kv(rope, q.as<float>(), qd, c.n_heads, k.as<float>(), v.as<float>(), kvd, c.n_kv_heads, pos, slot, rows,
                  kv, stream);
    paged_attention(kv, q.as<float>(), qd, att.as<float>(), qd, c.n_heads, c.n_kv_heads, c.head_dim, table_data,
                    table_off, n_ctx, rows, stream);
    product(L.wo, att.as<float>(), rows, x, true, &d0, &d1);
    rmsnorm(x, d, nullptr, L.ffn_norm, xn_, rows, d, c.rms_eps, stream);
    d0 = d1 = nullptr;
    product(L.w_gate, xn_, rows, gate.as<float>(), false, &d0, &d1);
    product(L.w_up, xn_, rows, up.as<float>(), false, &d0, &d1);
    const TensorType f = activation_format(L.w_down.type);
    if (f == TensorType::F32) {
      swiglu(gate.as<float>(), up.as<float>(), gate.as<float>(), rows * ff, stream);
      matmul(L.w_down, gate.data(), static_cast<size_t>(ff) * sizeof(float), rows, x, d, true, stream);
    } else {
      DeviceBuffer& buf = f == TensorType::Q8_0 ? act_q8_0 : act_q8_1;
      const size_t stride = row_bytes(f, ff);
      swiglu_quantize_rows(f, gate.as<float>(), up.as<float>(), rows, ff, ff, buf.data(), stride, stream);
      matmul(L.w_down, buf.data(), stride, rows, x, d, true, stream);
    }
  }

  void begin_batch(const std::vector<BatchEntry>& in) {
    entries.clear();
    n_rows = 0;
    std::vector<Entry> es;
    int64_t rows = 0;
    std::vector<int32_t> tokens;
    for (const auto& e : in) {
      check_seq(e.seq);
      for (const auto& o : es)
        if (o.seq == e.seq) throw Error("sequence " + std::to_string(e.seq) + " appears twice in one batch");
      if (e.tokens.empty()) throw Error("batch entry for sequence " + std::to_string(e.seq) + " has no tokens");
      if (e.adapter > 0) throw Error("the CUDA engine has no LoRA adapters (entry names adapter " + std::to_string(e.adapter) + ")");
      const int pos0 = seq_len[e.seq];
      if (static_cast<int64_t>(pos0) + static_cast<int64_t>(e.tokens.size()) > ctx_len)
        throw Error("context length exceeded: sequence " + std::to_string(e.seq) + " would hold " +
                    std::to_string(pos0 + e.tokens.size()) + " tokens, the context holds " + std::to_string(ctx_len));
      for (int32_t t : e.tokens)
        if (t < 0 || t >= c.vocab_size)
          throw Error("token id " + std::to_string(t) + " is outside the vocabulary (0.." +
                      std::to_string(c.vocab_size - 1) + ")");
      es.push_back({e.seq, pos0, static_cast<int>(e.tokens.size()), rows});
      rows += static_cast<int64_t>(e.tokens.size());
      tokens.insert(tokens.end(), e.tokens.begin(), e.tokens.end());
    }
    sync();  // the previous step's copies out of the staging buffer are done
    // Index space of the whole step: per layer 5 ints per row plus every
    // entry's block table; then the tokens and the logits' row list.
    size_t cap = 2 * static_cast<size_t>(rows) + 16;
    for (const auto& e : es)
      cap += static_cast<size_t>(c.n_layers) * (5 * e.n + (e.pos0 + e.n + kv.block_tokens - 1) / kv.block_tokens);
    meta_host.reserve(cap * sizeof(int32_t));
    meta_dev.reserve(cap * sizeof(int32_t));
    meta_cap = cap;
    meta_used = 0;
    grow_scratch(rows);
    // An abandoned step may have written past the committed length.
    for (const auto& e : es) tables.truncate(e.seq, e.pos0);
    entries = std::move(es);
    n_rows = rows;
    if (rows > 0) embed_rows(weights.token_embd(), stage(tokens.data(), tokens.size()), rows, hidden.as<float>(), stream);
  }

  void run_layer(int layer, const std::vector<int>& which) {
    if (layer < 0 || layer >= c.n_layers) throw Error("layer " + std::to_string(layer) + " out of range");
    if (which.empty()) return;
    std::vector<char> seen(entries.size(), 0);
    for (int e : which) {
      if (e < 0 || e >= static_cast<int>(entries.size())) throw Error("batch entry " + std::to_string(e) + " out of range");
      if (seen[e]) throw Error("batch entry " + std::to_string(e) + " listed twice");
      seen[e] = 1;
      const Entry& en = entries[e];
      if (tables.layer_tokens(en.seq, layer) != en.pos0)
        throw Error("sequence " + std::to_string(en.seq) + " skipped layer " + std::to_string(layer) +
                    " earlier and cannot run it now (its KV cache for that layer is incomplete)");
    }
    std::vector<BlockCopy> copies;
    std::vector<int> done;
    try {
      for (int e : which) {
        const Entry& en = entries[e];
        tables.reserve(en.seq, layer, en.pos0 + en.n, en.pos0, &copies);
        done.push_back(e);
      }
    } catch (...) {
      for (int e : done) tables.truncate(entries[e].seq, entries[e].pos0);
      throw;
    }
    const size_t bbytes = kv.block_floats() * sizeof(float);
    for (const BlockCopy& cp : copies)
      check(cudaMemcpyAsync(pool.as<char>() + cp.dst * bbytes, pool.as<char>() + cp.src * bbytes, bbytes,
                            cudaMemcpyDeviceToDevice, stream),
            "copy-on-write block copy");

    // Index arrays: [row idx | pos | slot | n_ctx | table_off] x rows, then the tables.
    int64_t rows = 0;
    for (int e : which) rows += entries[e].n;
    std::vector<int32_t> meta(static_cast<size_t>(5 * rows));
    int32_t *idx = meta.data(), *pos = idx + rows, *slot = pos + rows, *nctx = slot + rows, *toff = nctx + rows;
    int64_t r = 0;
    for (int e : which) {
      const Entry& en = entries[e];
      const std::vector<int32_t>& t = tables.table(en.seq, layer);
      const int32_t off = static_cast<int32_t>(meta.size() - 5 * rows);
      for (int i = 0; i < en.n; ++i, ++r) {
        idx[r] = static_cast<int32_t>(en.row0 + i);
        pos[r] = en.pos0 + i;
        slot[r] = t[(en.pos0 + i) / kv.block_tokens] * kv.block_tokens + (en.pos0 + i) % kv.block_tokens;
        nctx[r] = en.pos0 + i + 1;
        toff[r] = off;
      }
      meta.insert(meta.end(), t.begin(), t.end());
      idx = meta.data(), pos = idx + rows, slot = pos + rows, nctx = slot + rows, toff = nctx + rows;
    }
    const int32_t* dm = stage(meta.data(), meta.size());
    const int32_t *d_idx = dm, *d_pos = dm + rows, *d_slot = d_pos + rows, *d_nctx = d_slot + rows,
                  *d_toff = d_nctx + rows, *d_tables = dm + 5 * rows;

    const int64_t d = c.d_model;
    bool contiguous = which.size() == entries.size();
    for (size_t i = 0; contiguous && i < which.size(); ++i) contiguous = which[i] == static_cast<int>(i);
    if (contiguous) {
      layer_forward(layer, hidden.as<float>(), rows, d_pos, d_slot, d_nctx, d_toff, d_tables);
      return;
    }
    gather_rows(hidden.as<float>(), d_idx, rows, d, rows_buf.as<float>(), stream);
    layer_forward(layer, rows_buf.as<float>(), rows, d_pos, d_slot, d_nctx, d_toff, d_tables);
    scatter_rows(rows_buf.as<float>(), d_idx, rows, d, hidden.as<float>(), stream);
  }

  void logits(float* out, bool last_only) {
    const int64_t rows = last_only ? static_cast<int64_t>(entries.size()) : n_rows;
    if (rows == 0) return;
    std::vector<int32_t> idx(static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i)
      idx[i] = static_cast<int32_t>(last_only ? entries[i].row0 + entries[i].n - 1 : i);
    const int32_t* d_idx = stage(idx.data(), idx.size());
    rmsnorm(hidden.as<float>(), c.d_model, d_idx, weights.output_norm(), xn.as<float>(), rows, c.d_model, c.rms_eps,
            stream);
    const float *d0 = nullptr, *d1 = nullptr;
    product(weights.output(), xn.as<float>(), rows, logits_buf.as<float>(), false, &d0, &d1);
    const size_t bytes = static_cast<size_t>(rows) * c.vocab_size * sizeof(float);
    check(cudaMemcpyAsync(out, logits_buf.data(), bytes, cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync logits");
    sync();
  }

  void copy_rows(int entry, float* out, std::vector<float>* tmp) const {
    if (entry < 0 || entry >= static_cast<int>(entries.size())) throw Error("batch entry out of range");
    const Entry& en = entries[entry];
    const size_t d = c.d_model;
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    hidden.download(out ? out : (tmp->resize(en.n * d), tmp->data()), en.n * d * sizeof(float),
                    static_cast<size_t>(en.row0) * d * sizeof(float));
  }
};

CudaEngine::CudaEngine(const Model& model, const CudaEngineOptions& opts) : impl_(new Impl(model, opts)) {}
CudaEngine::~CudaEngine() = default;

const ModelConfig& CudaEngine::config() const { return impl_->c; }
int CudaEngine::context_length() const { return impl_->ctx_len; }

int CudaEngine::create_sequence() {
  const int id = impl_->tables.create_sequence();
  impl_->track(id, 0);
  return id;
}

void CudaEngine::free_sequence(int seq) {
  impl_->check_seq(seq);
  impl_->tables.free_sequence(seq);
  impl_->seq_len[seq] = -1;
}

int CudaEngine::fork_sequence(int seq) {
  impl_->check_seq(seq);
  const int id = impl_->tables.fork_sequence(seq);
  impl_->track(id, impl_->seq_len[seq]);
  return id;
}

int CudaEngine::sequence_length(int seq) const {
  impl_->check_seq(seq);
  return impl_->seq_len[seq];
}

void CudaEngine::truncate_sequence(int seq, int n) {
  impl_->check_seq(seq);
  if (n < 0 || n > impl_->seq_len[seq]) throw Error("truncate: length out of range");
  impl_->tables.truncate(seq, n);
  impl_->seq_len[seq] = n;
}

void CudaEngine::begin_batch(const std::vector<BatchEntry>& entries) { impl_->begin_batch(entries); }
int CudaEngine::batch_size() const { return static_cast<int>(impl_->entries.size()); }
int CudaEngine::batch_tokens(int entry) const {
  if (entry < 0 || entry >= batch_size()) throw Error("batch entry out of range");
  return impl_->entries[entry].n;
}
void CudaEngine::run_layer(int layer, const std::vector<int>& entries) { impl_->run_layer(layer, entries); }

void CudaEngine::hidden_rows(int entry, float* out) const { impl_->copy_rows(entry, out, nullptr); }

void CudaEngine::mean_hidden(int entry, float* out) const {
  std::vector<float> rows;
  impl_->copy_rows(entry, nullptr, &rows);
  const int d = impl_->c.d_model;
  const int n = impl_->entries[entry].n;
  std::vector<double> acc(d, 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) acc[j] += rows[static_cast<size_t>(i) * d + j];
  for (int j = 0; j < d; ++j) out[j] = static_cast<float>(acc[j] / n);
}

int CudaEngine::logits_rows(bool last_only) const {
  return last_only ? batch_size() : static_cast<int>(impl_->n_rows);
}
void CudaEngine::logits(float* out, bool last_only) { impl_->logits(out, last_only); }

void CudaEngine::commit_batch() {
  for (const auto& e : impl_->entries) impl_->seq_len[e.seq] = e.pos0 + e.n;
  impl_->entries.clear();
  impl_->n_rows = 0;
}

void CudaEngine::step(const std::vector<StepEntry>& in, float* out, bool last_only) {
  const int n_layers = impl_->c.n_layers;
  std::vector<BatchEntry> batch;
  batch.reserve(in.size());
  for (const StepEntry& e : in) {
    if (!e.layers.empty() && static_cast<int>(e.layers.size()) != n_layers)
      throw Error("step: a layer mask must have " + std::to_string(n_layers) + " entries, sequence " +
                  std::to_string(e.seq) + "'s has " + std::to_string(e.layers.size()));
    BatchEntry b;
    b.seq = e.seq;
    b.tokens = e.tokens;
    b.adapter = 0;
    batch.push_back(std::move(b));
  }
  begin_batch(batch);
  std::vector<int> which;
  for (int l = 0; l < n_layers; ++l) {
    which.clear();
    for (size_t i = 0; i < in.size(); ++i)
      if (in[i].layers.empty() || in[i].layers[l]) which.push_back(static_cast<int>(i));
    run_layer(l, which);
  }
  logits(out, last_only);
  commit_batch();
}

int64_t CudaEngine::used_blocks() const { return impl_->tables.used_blocks(); }
int64_t CudaEngine::free_blocks() const { return impl_->tables.free_blocks(); }
int64_t CudaEngine::sequence_layer_blocks(int seq, int layer) const {
  impl_->check_seq(seq);
  return impl_->tables.sequence_layer_blocks(seq, layer);
}
size_t CudaEngine::weight_bytes() const { return impl_->weights.bytes(); }

}  // namespace cuda
}  // namespace first
