// Paged KV cache. Memory is a pool of fixed-size blocks; each block holds the
// K and V rows of `block_tokens` consecutive positions for ONE layer of ONE
// sequence (shared between sequences after a fork, copy-on-write).
// Each sequence has one block table per layer, so a layer that a sequence
// skips never gets a block: KV memory falls with every skipped layer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>
#include "first/error.h"

namespace first {

struct KvCacheConfig {
  int n_layers = 0;
  int kv_dim = 0;            // n_kv_heads * head_dim: floats per K (and per V) row
  int block_tokens = 16;     // positions per block
  int64_t max_blocks = 0;    // capacity of the pool (blocks over all layers)
};

class KvCache {
 public:
  explicit KvCache(const KvCacheConfig& cfg);  // throws Error on bad config

  const KvCacheConfig& config() const { return cfg_; }

  // Sequences. Ids are small integers, reused after free.
  int create_sequence();
  void free_sequence(int seq);        // returns its blocks (refcounts drop)
  int fork_sequence(int seq);         // new sequence sharing all blocks (copy-on-write)
  bool has_sequence(int seq) const;
  int n_sequences() const;

  // Makes layer `layer` of `seq` able to hold positions [0, n_tokens):
  // allocates missing blocks, and un-shares (copies) a shared block that holds
  // any position >= first_write, since it is about to be written.
  // Throws KvCapacityError (and changes nothing) if the pool runs out.
  void reserve(int seq, int layer, int n_tokens, int first_write);

  // Row pointers for writing/reading position `pos` of a layer (after reserve).
  float* k_row(int seq, int layer, int pos);
  float* v_row(int seq, int layer, int pos);

  // Block table of one layer of a sequence and raw block storage, for the
  // attention kernel that reads K/V straight from the blocks.
  const std::vector<int32_t>& block_table(int seq, int layer) const;
  const float* block_k(int32_t block) const;  // block_tokens x kv_dim
  const float* block_v(int32_t block) const;

  // Number of positions a layer of a sequence has been reserved for.
  int layer_tokens(int seq, int layer) const;
  // Truncate every layer of a sequence to n_tokens positions (frees blocks).
  void truncate(int seq, int n_tokens);

  // Accounting.
  int64_t used_blocks() const;       // blocks referenced by any sequence
  int64_t free_blocks() const;
  int64_t sequence_blocks(int seq) const;        // blocks in its tables (shared counted)
  int64_t sequence_layer_blocks(int seq, int layer) const;
  size_t block_bytes() const;        // bytes one block takes (K and V)

 private:
  struct Sequence {
    bool live = false;
    std::vector<std::vector<int32_t>> tables;  // [layer] -> block ids
    std::vector<int> tokens;                   // [layer] -> reserved positions
  };
  int32_t alloc_block();
  void release_block(int32_t b);
  Sequence& seq_ref(int seq);
  const Sequence& seq_ref(int seq) const;

  KvCacheConfig cfg_;
  size_t block_floats_ = 0;            // K and V of one block
  std::vector<float> storage_;         // grown lazily, up to max_blocks blocks
  std::vector<int32_t> refcount_;
  std::vector<int32_t> free_list_;
  int64_t n_allocated_ = 0;            // blocks ever carved from storage
  std::vector<Sequence> seqs_;
};

}  // namespace first
