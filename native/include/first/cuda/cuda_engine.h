// The llama decoder on a CUDA device, driven like first::Engine (batches of
// sequences, layer by layer, each entry running only the layers its mask
// keeps) plus step(): a whole decode step, every layer of every entry with
// its own mask, then the output head, in one call that launches everything
// on one stream and waits once for the logits.
//
// The model's weight blocks are uploaded as they are (no dequantized copy);
// the KV cache is a pool of blocks in device memory with one block table per
// layer per sequence (a skipped layer holds none), shared after a fork and
// copied on write. Supported: architecture llama, weights F32/F16/BF16/Q4_0/
// Q4_1/Q8_0, no LoRA adapters. Anything else, or no usable device, throws
// first::Error from the constructor. Plain C++ header (no CUDA types).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "first/engine.h"
#include "first/model.h"

namespace first {
namespace cuda {

struct CudaEngineOptions {
  int block_tokens = 16;    // positions per KV block
  int64_t kv_blocks = 0;    // 0: enough for max_sequences full-context sequences
  int max_sequences = 4;    // only sizes the default pool
  int context_length = 0;   // 0: the model's; may be set lower
};

// A step's entry: its tokens and which layers it runs (empty: all of them;
// else n_layers flags, nonzero = run).
struct StepEntry {
  int seq = -1;
  std::vector<int32_t> tokens;
  std::vector<uint8_t> layers;
};

class CudaEngine {
 public:
  CudaEngine(const Model& model, const CudaEngineOptions& opts);
  ~CudaEngine();
  CudaEngine(const CudaEngine&) = delete;
  CudaEngine& operator=(const CudaEngine&) = delete;

  const ModelConfig& config() const;
  int context_length() const;

  int create_sequence();
  void free_sequence(int seq);
  int fork_sequence(int seq);  // shares KV blocks copy-on-write
  int sequence_length(int seq) const;
  void truncate_sequence(int seq, int n);

  // As first::Engine. BatchEntry::adapter must be -1 or 0 (no LoRA here).
  void begin_batch(const std::vector<BatchEntry>& entries);
  int batch_size() const;
  int batch_tokens(int entry) const;
  void run_layer(int layer, const std::vector<int>& entries);
  void mean_hidden(int entry, float* out) const;
  void hidden_rows(int entry, float* out) const;
  int logits_rows(bool last_only) const;
  void logits(float* out, bool last_only = true);
  void commit_batch();

  // begin_batch + run_layer for every layer (each entry per its mask) +
  // logits(out, last_only) + commit_batch, in one call.
  void step(const std::vector<StepEntry>& entries, float* out, bool last_only = true);

  // KV accounting.
  int64_t used_blocks() const;
  int64_t free_blocks() const;
  int64_t sequence_layer_blocks(int seq, int layer) const;
  size_t weight_bytes() const;  // device bytes taken by the uploaded weights

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cuda
}  // namespace first
