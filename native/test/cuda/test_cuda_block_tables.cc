// The CUDA engine's KV block bookkeeping (host side, runs without a GPU):
// skipped layers hold no block, forks share, a shared block is copied before
// a write, a full pool throws and changes nothing, freeing returns blocks.
#include "cuda/block_tables.h"
#include "harness.h"

using first::cuda::BlockCopy;
using first::cuda::BlockTables;

TEST(cuda_block_tables_skipped_layers_hold_no_blocks) {
  BlockTables t(3, 4, 32);
  const int s = t.create_sequence();
  t.reserve(s, 0, 9, 0, nullptr);
  t.reserve(s, 2, 9, 0, nullptr);
  CHECK(t.sequence_layer_blocks(s, 0) == 3);
  CHECK(t.sequence_layer_blocks(s, 1) == 0);
  CHECK(t.sequence_layer_blocks(s, 2) == 3);
  CHECK(t.used_blocks() == 6);
  CHECK(t.layer_tokens(s, 1) == 0);
  CHECK(t.slot(s, 0, 5) == t.table(s, 0)[1] * 4 + 1);
  t.free_sequence(s);
  CHECK(t.used_blocks() == 0);
}

TEST(cuda_block_tables_fork_copies_on_write) {
  BlockTables t(1, 4, 16);
  const int a = t.create_sequence();
  t.reserve(a, 0, 6, 0, nullptr);  // blocks 0 (positions 0..3) and 1 (4, 5)
  const int b = t.fork_sequence(a);
  CHECK(t.table(b, 0) == t.table(a, 0));
  CHECK(t.refcount(t.table(a, 0)[1]) == 2);
  std::vector<BlockCopy> copies;
  t.reserve(b, 0, 7, 6, &copies);  // writes position 6: the shared block 1 is copied, block 0 stays shared
  CHECK(copies.size() == 1);
  if (copies.size() == 1) {
    CHECK(copies[0].src == t.table(a, 0)[1]);
    CHECK(copies[0].dst == t.table(b, 0)[1]);
  }
  CHECK(t.table(b, 0)[0] == t.table(a, 0)[0]);
  CHECK(t.table(b, 0)[1] != t.table(a, 0)[1]);
  CHECK(t.refcount(t.table(a, 0)[0]) == 2);
  CHECK(t.refcount(t.table(a, 0)[1]) == 1);
  copies.clear();
  t.reserve(b, 0, 8, 7, &copies);  // its own block now: no copy
  CHECK(copies.empty());
  t.free_sequence(a);
  CHECK(t.refcount(t.table(b, 0)[0]) == 1);
  CHECK(t.used_blocks() == 2);
}

TEST(cuda_block_tables_full_pool_throws_and_changes_nothing) {
  BlockTables t(2, 4, 3);
  const int s = t.create_sequence();
  t.reserve(s, 0, 8, 0, nullptr);
  bool threw = false;
  try {
    t.reserve(s, 1, 8, 0, nullptr);
  } catch (const first::KvCapacityError&) {
    threw = true;
  }
  CHECK(threw);
  CHECK(t.sequence_layer_blocks(s, 1) == 0);
  CHECK(t.used_blocks() == 2);
  t.truncate(s, 3);
  CHECK(t.sequence_layer_blocks(s, 0) == 1);
  CHECK(t.layer_tokens(s, 0) == 3);
  CHECK(t.free_blocks() == 2);
  threw = false;
  try {
    t.table(7, 0);
  } catch (const first::Error&) {
    threw = true;
  }
  CHECK(threw);
}
