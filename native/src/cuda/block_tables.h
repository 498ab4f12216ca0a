// Host-side bookkeeping of the CUDA engine's paged KV pool: which block of the
// device pool holds which positions of which layer of which sequence. The
// rules are the CPU cache's (first/kv_cache.h): one table per layer per
// sequence, so a skipped layer holds no block; refcounted blocks shared after
// a fork; a shared block about to be written is first copied. Here the copy
// is only recorded (src, dst), for the caller to do on the device before it
// writes. Plain C++: the bookkeeping is tested without a GPU.
#pragma once
#include <cstdint>
#include <vector>

#include "first/error.h"

namespace first {
namespace cuda {

struct BlockCopy {
  int32_t src, dst;
};

class BlockTables {
 public:
  BlockTables(int n_layers, int block_tokens, int64_t max_blocks);  // throws Error on a bad config

  int block_tokens() const { return block_tokens_; }
  int64_t max_blocks() const { return max_blocks_; }

  int create_sequence();            // lowest free id
  void free_sequence(int seq);      // its blocks' refcounts drop
  int fork_sequence(int seq);       // shares every block (copy-on-write)
  bool has_sequence(int seq) const;

  // Layer `layer` of `seq` can then hold positions [0, n_tokens): missing
  // blocks are taken from the free list, and a shared block holding a
  // position >= first_write is replaced by a private one, appending the copy
  // to *copies. Throws KvCapacityError, changing nothing, when the pool
  // cannot supply every block needed.
  void reserve(int seq, int layer, int n_tokens, int first_write, std::vector<BlockCopy>* copies);
  void truncate(int seq, int n_tokens);  // every layer; frees whole blocks past the end

  const std::vector<int32_t>& table(int seq, int layer) const;
  int layer_tokens(int seq, int layer) const;
  // Slot of a position: block * block_tokens + offset (after reserve).
  int32_t slot(int seq, int layer, int pos) const;

  int64_t used_blocks() const { return max_blocks_ - static_cast<int64_t>(free_.size()); }
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
  int64_t sequence_layer_blocks(int seq, int layer) const;
  int32_t refcount(int32_t block) const;

 private:
  struct Sequence {
    bool live = false;
    std::vector<std::vector<int32_t>> tables;  // [layer] -> blocks
    std::vector<int> tokens;                   // [layer] -> reserved positions
  };
  Sequence& seq_ref(int seq);
  const Sequence& seq_ref(int seq) const;
  void check_layer(int layer) const;
  int add_sequence(Sequence s);
  void release(int32_t b);

  int n_layers_, block_tokens_;
  int64_t max_blocks_;
  std::vector<int32_t> refcount_;
  std::vector<int32_t> free_;  // a stack: the lowest ids are handed out first
  std::vector<Sequence> seqs_;
};

}  // namespace cuda
}  // namespace first
