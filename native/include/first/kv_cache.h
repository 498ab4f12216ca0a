// Paged KV cache. Memory is a pool of fixed-size blocks; each block holds the
// K and V rows of `block_tokens` consecutive positions for ONE layer of ONE
// sequence (shared between sequences after a fork, copy-on-write).
// Each sequence has one block table per layer, so a layer that a sequence
// skips never gets a block: KV memory falls with every skipped layer.
//
// Design:
// - Block storage comes in chunks of kChunkBlocks blocks, allocated on demand
//   until max_blocks is reached and never moved or freed before the cache
//   dies, so pointers from k_row/v_row/block_k/block_v stay valid while other
//   sequences reserve (as long as the block itself stays referenced).
// - A block is laid out as K[block_tokens][kv_dim] then V[block_tokens][kv_dim].
// - Blocks are refcounted; a block whose count drops to 0 goes on a free list
//   and is handed out again (its old contents are not cleared; fresh chunks
//   start zeroed).
// - reserve() only grows a layer: n_tokens below the reserved count leaves the
//   count alone (use truncate to shrink). It copies every shared block that
//   holds a position >= first_write within the layer's reserved range, so the
//   caller may then write any position in [first_write, layer_tokens).
//   k_row/v_row hand out writable pointers even into shared blocks (reading
//   shared rows is normal); writing is only safe after such a reserve.
// - Capacity: reserve counts the blocks it needs (new + copies) before it
//   touches anything, and throws KvCapacityError with the numbers if the pool
//   cannot supply them all; the cache is then unchanged.
// - Sequence ids are the lowest free slot, so ids are reused after free.
// - Every bad id, layer, block or position throws first::Error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
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
  static constexpr int64_t kChunkBlocks = 64;  // blocks per storage chunk

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
  int64_t pool_blocks() const;       // blocks whose storage exists (grows by chunks)
  int32_t block_refcount(int32_t block) const;  // 0 for a free block

 private:
  struct Sequence {
    bool live = false;
    std::vector<std::vector<int32_t>> tables;  // [layer] -> block ids
    std::vector<int> tokens;                   // [layer] -> reserved positions
  };
  int add_sequence(Sequence s);       // lowest free id
  int32_t alloc_block();
  void release_block(int32_t b);
  void ensure_storage(int64_t n_new);  // storage for n_new more blocks, or throws
  float* block_data(int32_t b) const;
  float* row(int seq, int layer, int pos, size_t offset);
  void check_block(int32_t b) const;
  void check_layer(int layer) const;
  Sequence& seq_ref(int seq);
  const Sequence& seq_ref(int seq) const;

  KvCacheConfig cfg_;
  size_t row_floats_ = 0;              // kv_dim
  size_t half_floats_ = 0;             // K (or V) part of one block
  size_t block_floats_ = 0;            // K and V of one block
  std::vector<std::unique_ptr<float[]>> chunks_;  // never moved once allocated
  std::vector<int32_t> refcount_;      // [block], for blocks carved so far
  std::vector<int32_t> free_list_;     // carved blocks with refcount 0
  int64_t n_allocated_ = 0;            // blocks ever carved from storage
  int64_t n_storage_ = 0;              // blocks the chunks can hold
  std::vector<Sequence> seqs_;
  int n_live_ = 0;
};

}  // namespace first
