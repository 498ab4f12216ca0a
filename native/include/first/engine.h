// The layer-by-layer engine that the TypeScript side drives.
//
// A step works on a batch of sequences: begin_batch() embeds each entry's new
// tokens into a native hidden-state buffer; run_layer(l, entries) runs decoder
// layer l on a subset of the entries (the ones that execute l) using their
// KV blocks for l; logits() applies the final norm and the output head to the
// last position of each entry; commit_batch() advances the sequences. Entries
// that skip a layer pass through it untouched and never get KV blocks for it.
#pragma once
#include <memory>
#include <string>
#include <vector>
#include "first/decoder_layer.h"
#include "first/kv_cache.h"
#include "first/lora.h"
#include "first/matmul.h"
#include "first/model.h"
#include "first/ops.h"
#include "first/threadpool.h"

namespace first {

struct EngineOptions {
  int threads = 0;            // 0: all hardware threads
  int block_tokens = 16;      // positions per KV block
  int64_t kv_blocks = 0;      // 0: enough for `max_sequences` full-context sequences
  int max_sequences = 4;      // only used to size the default pool
  int context_length = 0;     // 0: the model's; may be set lower
};

struct BatchEntry {
  int seq = -1;
  std::vector<int32_t> tokens;
  // The adapter this entry's rows take: -1 the engine's default (see
  // set_default_adapter), 0 none, k >= 1 adapter k. A batch may mix them.
  int adapter = -1;
};

class Engine {
 public:
  Engine(const Model& model, const EngineOptions& opts);

  const ModelConfig& config() const { return model_.config(); }
  int context_length() const { return ctx_len_; }
  int threads() const { return pool_.size(); }
  KvCache& kv() { return kv_; }
  const KvCache& kv() const { return kv_; }

  int create_sequence();
  void free_sequence(int seq);
  int fork_sequence(int seq);             // shares KV blocks copy-on-write
  int sequence_length(int seq) const;     // committed positions
  void truncate_sequence(int seq, int n);

  // Starts a step. Throws Error if a token is outside the vocabulary, a
  // sequence is unknown or appears twice, or the context would overflow.
  void begin_batch(const std::vector<BatchEntry>& entries);
  int batch_size() const { return static_cast<int>(entries_.size()); }
  int batch_tokens(int entry) const;

  // Runs layer l for the given entry indices (any order, no repeats). Throws
  // KvCapacityError if the pool cannot hold the new positions (nothing of
  // this layer is written then).
  void run_layer(int layer, const std::vector<int>& entries);

  // Mean over the entry's positions in this step of the hidden state as it
  // stands now (i.e. entering the next layer to run). out: d_model floats.
  void mean_hidden(int entry, float* out) const;
  // Copies the hidden state rows of an entry (batch_tokens(entry) x d_model).
  void hidden_rows(int entry, float* out) const;

  // Final norm + output head. last_only: one row per entry (its last
  // position), else every position of every entry, in batch order.
  // out: rows x vocab floats.
  void logits(float* out, bool last_only = true);
  int logits_rows(bool last_only) const;

  // Advances every entry's sequence by its tokens; ends the step.
  void commit_batch();

  // Unmerged LoRA on a layer's projection: y += scale * B (A x), module one
  // of q,k,v,o,gate,up,down; A: rank x in, B: out x rank (copied), as part of
  // adapter `adapter` (1..kMaxAdapters). Replaces what that adapter had there.
  // Layers without adapters run as before.
  static constexpr int kMaxAdapters = 64;
  void set_lora(int layer, const std::string& module, int rank, const float* A, const float* B, float scale,
                int adapter = 1);
  // The adapter of entries that name none (-1): by default adapter 1 when it
  // exists, else none; 0 makes them run the base model.
  void set_default_adapter(int adapter);
  int adapter_count() const { return static_cast<int>(adapters_.size()); }
  void clear_lora();

 private:
  struct Entry {
    int seq;
    int pos0;      // first position of this step's tokens
    int n;         // tokens in this step
    int64_t row0;  // first row in hidden_
    int adapter;   // resolved: 0 none, k adapter k
  };
  // One adapter: its weights by [layer][module] and the per-layer view.
  struct AdapterSet {
    std::vector<std::vector<LoraAdapter>> store;  // rank 0 = none
    std::vector<LayerLora> layers;
  };
  const LayerLora* layer_lora(int adapter, int layer) const;
  void check_seq(int seq) const;
  void layer_forward(int layer, float* x, int64_t n_rows, const std::vector<int>& entries);

  const Model& model_;
  ThreadPool pool_;
  KvCache kv_;
  Rope rope_, rope_sliding_;  // full-attention and sliding-window layers
  // This batch's RoPE cosines and sines per row (rope_dim/2 of each), for
  // each rope: computed at the first layer that needs them, not per layer.
  std::vector<float> rope_angles_[2];
  bool rope_angles_ready_[2] = {false, false};
  const float* rope_angles(bool sliding);
  int ctx_len_;
  std::vector<int> seq_len_;  // by sequence id; -1 = free

  std::vector<Entry> entries_;
  int64_t n_rows_ = 0;
  std::vector<float> hidden_;  // n_rows_ x d

  std::vector<AdapterSet> adapters_;  // adapter k at k - 1
  int default_adapter_ = -1;          // -1: adapter 1 when it exists, else none

  // Scratch reused across steps so decode does not allocate.
  std::vector<float> x_, xn_, q_, k_, v_, att_, gate_, up_, proj_, rows_;
  MatmulScratch mm_;
};

}  // namespace first
