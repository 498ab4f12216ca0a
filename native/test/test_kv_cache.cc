// Tests for the paged KV cache: block accounting per layer and sequence,
// copy-on-write after fork, capacity errors that change nothing, truncation,
// pointer stability while the pool grows, and a random stress test against a
// plain map model.
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "first/kv_cache.h"
#include "harness.h"

using first::KvCache;
using first::KvCacheConfig;

namespace {

KvCacheConfig small_config(int n_layers = 4, int kv_dim = 8, int block_tokens = 16, int64_t max_blocks = 256) {
  KvCacheConfig c;
  c.n_layers = n_layers;
  c.kv_dim = kv_dim;
  c.block_tokens = block_tokens;
  c.max_blocks = max_blocks;
  return c;
}

// Row contents derived from one seed, so the model only stores the seed.
float k_value(float seed, int j) { return seed + 0.25f * float(j); }
float v_value(float seed, int j) { return -seed - 0.5f * float(j); }

void write_pos(KvCache& kv, int seq, int layer, int pos, float seed) {
  float* k = kv.k_row(seq, layer, pos);
  float* v = kv.v_row(seq, layer, pos);
  for (int j = 0; j < kv.config().kv_dim; ++j) {
    k[j] = k_value(seed, j);
    v[j] = v_value(seed, j);
  }
}

bool pos_holds(KvCache& kv, int seq, int layer, int pos, float seed) {
  const float* k = kv.k_row(seq, layer, pos);
  const float* v = kv.v_row(seq, layer, pos);
  for (int j = 0; j < kv.config().kv_dim; ++j)
    if (k[j] != k_value(seed, j) || v[j] != v_value(seed, j)) return false;
  return true;
}

// Reserves [first, first + n) of a layer and writes seeds base + pos.
void append(KvCache& kv, int seq, int layer, int first, int n, float base) {
  kv.reserve(seq, layer, first + n, first);
  for (int p = first; p < first + n; ++p) write_pos(kv, seq, layer, p, base + float(p));
}

template <typename F>
bool throws_error(F&& f) {
  try {
    f();
  } catch (const first::Error&) {
    return true;
  }
  return false;
}

template <typename F>
std::string capacity_message(F&& f) {
  try {
    f();
  } catch (const first::KvCapacityError& e) {
    return e.what();
  }
  return "";
}

// Full observable state of the cache, to check that a failed call changed nothing.
using Snapshot = std::tuple<int64_t, int64_t, std::map<int, std::vector<std::vector<int32_t>>>, std::map<int, std::vector<int>>>;
Snapshot snapshot(const KvCache& kv, int max_seq = 64) {
  std::map<int, std::vector<std::vector<int32_t>>> tables;
  std::map<int, std::vector<int>> tokens;
  for (int s = 0; s < max_seq; ++s) {
    if (!kv.has_sequence(s)) continue;
    for (int l = 0; l < kv.config().n_layers; ++l) {
      tables[s].push_back(kv.block_table(s, l));
      tokens[s].push_back(kv.layer_tokens(s, l));
    }
  }
  return {kv.used_blocks(), kv.free_blocks(), tables, tokens};
}

}  // namespace

TEST(kv_bad_config_throws) {
  CHECK(throws_error([] { KvCache kv(small_config(0)); }));
  CHECK(throws_error([] { KvCache kv(small_config(4, 0)); }));
  CHECK(throws_error([] { KvCache kv(small_config(4, 8, 0)); }));
  CHECK(throws_error([] { KvCache kv(small_config(4, 8, 16, 0)); }));
  CHECK(throws_error([] { KvCache kv(small_config(4, 8, 16, int64_t(1) << 40)); }));
}

TEST(kv_block_bytes_and_empty_pool) {
  KvCache kv(small_config(30, 192, 16, 100));
  CHECK(kv.block_bytes() == size_t(2 * 16 * 192 * 4));
  CHECK(kv.used_blocks() == 0);
  CHECK(kv.free_blocks() == 100);
  CHECK(kv.pool_blocks() == 0) << "storage is allocated on demand";
  CHECK(kv.n_sequences() == 0);
}

TEST(kv_blocks_only_in_reserved_layers) {
  KvCache kv(small_config(4, 8, 16));
  int s = kv.create_sequence();
  kv.reserve(s, 0, 37, 0);
  kv.reserve(s, 2, 37, 0);
  CHECK(kv.sequence_layer_blocks(s, 0) == 3) << "ceil(37/16)";
  CHECK(kv.sequence_layer_blocks(s, 1) == 0);
  CHECK(kv.sequence_layer_blocks(s, 2) == 3);
  CHECK(kv.sequence_layer_blocks(s, 3) == 0);
  CHECK(kv.block_table(s, 1).empty());
  CHECK(kv.layer_tokens(s, 0) == 37);
  CHECK(kv.layer_tokens(s, 1) == 0);
  CHECK(kv.sequence_blocks(s) == 6);
  CHECK(kv.used_blocks() == 6);
  CHECK(kv.free_blocks() == 256 - 6);
  // Exact multiples and growth by one token.
  kv.reserve(s, 3, 32, 0);
  CHECK(kv.sequence_layer_blocks(s, 3) == 2);
  kv.reserve(s, 3, 33, 32);
  CHECK(kv.sequence_layer_blocks(s, 3) == 3);
  kv.reserve(s, 1, 0, 0);
  CHECK(kv.sequence_layer_blocks(s, 1) == 0) << "reserving 0 tokens allocates nothing";
  CHECK(kv.used_blocks() == 9);
}

TEST(kv_skip_pattern_gives_fewer_blocks) {
  const int n_layers = 30, tokens = 100, bt = 16;
  KvCache kv(small_config(n_layers, 8, bt, 10000));
  int full = kv.create_sequence();
  int skip = kv.create_sequence();
  int kept = 0;
  for (int l = 0; l < n_layers; ++l) {
    kv.reserve(full, l, tokens, 0);
    if (l % 3 != 1) {  // skip every third layer
      kv.reserve(skip, l, tokens, 0);
      ++kept;
    }
  }
  const int64_t per_layer = (tokens + bt - 1) / bt;
  CHECK(kv.sequence_blocks(full) == n_layers * per_layer);
  CHECK(kv.sequence_blocks(skip) == kept * per_layer);
  CHECK(kept == 20);
  CHECK(kv.used_blocks() == (n_layers + kept) * per_layer);
}

TEST(kv_rows_round_trip) {
  KvCache kv(small_config(2, 8, 4));
  int s = kv.create_sequence();
  append(kv, s, 1, 0, 10, 100.f);
  for (int p = 0; p < 10; ++p) CHECK(pos_holds(kv, s, 1, p, 100.f + float(p))) << "pos " << p;
  // The same data through the block table and raw block pointers.
  const auto& table = kv.block_table(s, 1);
  CHECK(table.size() == 3);
  for (int p = 0; p < 10; ++p) {
    const float* k = kv.block_k(table[size_t(p / 4)]) + (p % 4) * 8;
    const float* v = kv.block_v(table[size_t(p / 4)]) + (p % 4) * 8;
    CHECK(k == kv.k_row(s, 1, p));
    CHECK(v == kv.v_row(s, 1, p));
    CHECK(k[3] == k_value(100.f + float(p), 3));
    CHECK(v[7] == v_value(100.f + float(p), 7));
  }
  // Continuing a sequence keeps the earlier rows.
  append(kv, s, 1, 10, 5, 100.f);
  for (int p = 0; p < 15; ++p) CHECK(pos_holds(kv, s, 1, p, 100.f + float(p))) << "pos " << p;
}

TEST(kv_fork_shares_then_copies_tail_on_write) {
  KvCache kv(small_config(2, 8, 16));
  int a = kv.create_sequence();
  append(kv, a, 0, 0, 20, 0.f);  // blocks: [0,16) full, [16,20) partial
  CHECK(kv.used_blocks() == 2);
  int b = kv.fork_sequence(a);
  CHECK(b != a);
  CHECK(kv.n_sequences() == 2);
  CHECK(kv.used_blocks() == 2) << "fork shares every block";
  CHECK(kv.sequence_blocks(b) == 2);
  CHECK(kv.block_table(b, 0) == kv.block_table(a, 0));
  CHECK(kv.layer_tokens(b, 0) == 20);
  for (int32_t blk : kv.block_table(a, 0)) CHECK(kv.block_refcount(blk) == 2);

  // The fork writes position 20, which lives in the shared tail block.
  kv.reserve(b, 0, 21, 20);
  CHECK(kv.used_blocks() == 3) << "the shared tail block was copied";
  CHECK(kv.block_table(b, 0)[0] == kv.block_table(a, 0)[0]) << "the full head block stays shared";
  CHECK(kv.block_table(b, 0)[1] != kv.block_table(a, 0)[1]);
  CHECK(kv.block_refcount(kv.block_table(a, 0)[0]) == 2);
  CHECK(kv.block_refcount(kv.block_table(a, 0)[1]) == 1);
  CHECK(kv.block_refcount(kv.block_table(b, 0)[1]) == 1);
  write_pos(kv, b, 0, 20, 500.f);
  // The copy carries the old rows; the parent is untouched.
  for (int p = 0; p < 20; ++p) CHECK(pos_holds(kv, b, 0, p, float(p))) << "fork pos " << p;
  CHECK(pos_holds(kv, b, 0, 20, 500.f));
  CHECK(kv.layer_tokens(a, 0) == 20);
  for (int p = 0; p < 20; ++p) CHECK(pos_holds(kv, a, 0, p, float(p))) << "parent pos " << p;
  // Parent now writes its own position 20 into its (now private) tail: no copy.
  kv.reserve(a, 0, 21, 20);
  CHECK(kv.used_blocks() == 3);
  write_pos(kv, a, 0, 20, 600.f);
  CHECK(pos_holds(kv, a, 0, 20, 600.f));
  CHECK(pos_holds(kv, b, 0, 20, 500.f));
}

TEST(kv_overwrite_inside_shared_range_copies_from_first_write) {
  KvCache kv(small_config(1, 4, 4));
  int a = kv.create_sequence();
  append(kv, a, 0, 0, 16, 0.f);  // 4 full blocks
  int b = kv.fork_sequence(a);
  // Rewrite position 9 of the fork: blocks 2 and 3 hold positions >= 9.
  kv.reserve(b, 0, 10, 9);
  CHECK(kv.layer_tokens(b, 0) == 16) << "reserve never shrinks";
  CHECK(kv.used_blocks() == 6);
  CHECK(kv.block_table(b, 0)[1] == kv.block_table(a, 0)[1]);
  CHECK(kv.block_table(b, 0)[2] != kv.block_table(a, 0)[2]);
  CHECK(kv.block_table(b, 0)[3] != kv.block_table(a, 0)[3]);
  write_pos(kv, b, 0, 9, 99.f);
  CHECK(pos_holds(kv, a, 0, 9, 9.f));
  CHECK(pos_holds(kv, b, 0, 9, 99.f));
  for (int p = 10; p < 16; ++p) CHECK(pos_holds(kv, b, 0, p, float(p)));
}

TEST(kv_fresh_block_after_fork_does_not_copy) {
  KvCache kv(small_config(2, 8, 16));
  int a = kv.create_sequence();
  append(kv, a, 0, 0, 32, 0.f);  // exactly two full blocks
  append(kv, a, 1, 0, 32, 50.f);
  int b = kv.fork_sequence(a);
  CHECK(kv.used_blocks() == 4);
  kv.reserve(b, 0, 33, 32);
  CHECK(kv.used_blocks() == 5) << "one new block, no copies";
  CHECK(kv.block_table(b, 0)[0] == kv.block_table(a, 0)[0]);
  CHECK(kv.block_table(b, 0)[1] == kv.block_table(a, 0)[1]);
  CHECK(kv.block_refcount(kv.block_table(a, 0)[1]) == 2);
  write_pos(kv, b, 0, 32, 7.f);
  CHECK(kv.sequence_layer_blocks(a, 0) == 2);
  CHECK(kv.sequence_layer_blocks(b, 0) == 3);
  // A no-write reserve (first_write == n_tokens) of a shared layer copies nothing.
  kv.reserve(b, 1, 32, 32);
  CHECK(kv.used_blocks() == 5);
}

TEST(kv_free_parent_keeps_child_data) {
  KvCache kv(small_config(2, 8, 4));
  int a = kv.create_sequence();
  append(kv, a, 0, 0, 10, 0.f);
  append(kv, a, 1, 0, 6, 30.f);
  int b = kv.fork_sequence(a);
  const int64_t used = kv.used_blocks();
  kv.free_sequence(a);
  CHECK(!kv.has_sequence(a));
  CHECK(kv.has_sequence(b));
  CHECK(kv.n_sequences() == 1);
  CHECK(kv.used_blocks() == used) << "the child still holds every block";
  for (int p = 0; p < 10; ++p) CHECK(pos_holds(kv, b, 0, p, float(p)));
  for (int p = 0; p < 6; ++p) CHECK(pos_holds(kv, b, 1, p, 30.f + float(p)));
  for (int32_t blk : kv.block_table(b, 0)) CHECK(kv.block_refcount(blk) == 1);
  // Writing the tail now needs no copy since nothing else shares it.
  kv.reserve(b, 0, 11, 10);
  CHECK(kv.used_blocks() == used);
  kv.free_sequence(b);
  CHECK(kv.used_blocks() == 0);
  CHECK(kv.free_blocks() == kv.config().max_blocks);
}

TEST(kv_capacity_error_changes_nothing) {
  KvCache kv(small_config(2, 8, 4, 5));
  int a = kv.create_sequence();
  append(kv, a, 0, 0, 12, 0.f);  // 3 blocks
  int b = kv.create_sequence();
  append(kv, b, 0, 0, 4, 40.f);  // 1 block, 1 free
  const Snapshot before = snapshot(kv);
  // Needs 2 new blocks, only 1 free: nothing may be allocated at all.
  std::string msg = capacity_message([&] { kv.reserve(b, 1, 8, 0); });
  CHECK(!msg.empty()) << "expected KvCapacityError";
  CHECK(msg.find("needs 2 blocks") != std::string::npos) << msg;
  CHECK(msg.find("only 1 of 5 are free") != std::string::npos) << msg;
  CHECK(msg.find("4 tokens") != std::string::npos) << msg;
  CHECK(snapshot(kv) == before) << "state changed after a failed reserve";
  for (int p = 0; p < 12; ++p) CHECK(pos_holds(kv, a, 0, p, float(p)));
  // A capacity error is still a first::Error.
  CHECK(throws_error([&] { kv.reserve(b, 0, 12, 4); }));
  CHECK(snapshot(kv) == before);
  // Freeing another sequence makes room.
  kv.free_sequence(a);
  kv.reserve(b, 1, 8, 0);
  CHECK(kv.sequence_layer_blocks(b, 1) == 2);
  CHECK(kv.used_blocks() == 3);
  CHECK(pos_holds(kv, b, 0, 3, 43.f));
}

TEST(kv_capacity_counts_copy_on_write) {
  KvCache kv(small_config(1, 8, 4, 4));
  int a = kv.create_sequence();
  append(kv, a, 0, 0, 14, 0.f);  // 4 blocks, pool full
  int b = kv.fork_sequence(a);
  CHECK(kv.free_blocks() == 0);
  const Snapshot before = snapshot(kv);
  // Writing position 13 of the fork needs a private copy of the tail block.
  CHECK(!capacity_message([&] { kv.reserve(b, 0, 14, 13); }).empty());
  CHECK(snapshot(kv) == before);
  // Once the parent is gone the fork owns every block and writes without copying.
  kv.free_sequence(a);
  CHECK(kv.free_blocks() == 0) << "b holds all four blocks";
  kv.reserve(b, 0, 14, 13);
  CHECK(kv.used_blocks() == 4);
}

TEST(kv_capacity_is_all_or_nothing_for_copies_plus_new_blocks) {
  KvCache kv(small_config(1, 8, 4, 5));
  int a = kv.create_sequence();
  append(kv, a, 0, 0, 6, 0.f);  // 2 blocks, the second one partial
  int b = kv.fork_sequence(a);
  CHECK(kv.free_blocks() == 3);
  const Snapshot before = snapshot(kv);
  // Writing [6, 17) needs 1 copy + 3 new blocks = 4 > 3 free.
  std::string msg = capacity_message([&] { kv.reserve(b, 0, 17, 6); });
  CHECK(msg.find("needs 4 blocks (3 new, 1 copy-on-write)") != std::string::npos) << msg;
  CHECK(snapshot(kv) == before);
  // Writing [6, 13) needs 1 copy + 2 new = 3: fits exactly.
  kv.reserve(b, 0, 13, 6);
  CHECK(kv.free_blocks() == 0);
  CHECK(kv.block_table(b, 0)[0] == kv.block_table(a, 0)[0]);
  for (int p = 0; p < 6; ++p) CHECK(pos_holds(kv, b, 0, p, float(p)));
}

TEST(kv_truncate_frees_whole_blocks) {
  KvCache kv(small_config(3, 8, 4));
  int s = kv.create_sequence();
  append(kv, s, 0, 0, 10, 0.f);  // 3 blocks
  append(kv, s, 2, 0, 3, 20.f);  // 1 block
  CHECK(kv.used_blocks() == 4);
  kv.truncate(s, 5);
  CHECK(kv.layer_tokens(s, 0) == 5);
  CHECK(kv.sequence_layer_blocks(s, 0) == 2);
  CHECK(kv.layer_tokens(s, 1) == 0) << "truncate never grows a layer";
  CHECK(kv.layer_tokens(s, 2) == 3);
  CHECK(kv.used_blocks() == 3);
  for (int p = 0; p < 5; ++p) CHECK(pos_holds(kv, s, 0, p, float(p)));
  CHECK(throws_error([&] { kv.k_row(s, 0, 5); })) << "truncated positions are gone";
  kv.truncate(s, 8);
  CHECK(kv.layer_tokens(s, 0) == 5);
  kv.truncate(s, 4);
  CHECK(kv.sequence_layer_blocks(s, 0) == 1);
  kv.truncate(s, 0);
  CHECK(kv.sequence_blocks(s) == 0);
  CHECK(kv.used_blocks() == 0);
  // Regrowing after truncate works and reuses freed blocks.
  append(kv, s, 0, 0, 6, 70.f);
  CHECK(kv.used_blocks() == 2);
  CHECK(kv.pool_blocks() == KvCache::kChunkBlocks) << "no new storage was needed";
  for (int p = 0; p < 6; ++p) CHECK(pos_holds(kv, s, 0, p, 70.f + float(p)));
}

TEST(kv_truncate_inside_shared_block_then_write_copies) {
  KvCache kv(small_config(1, 8, 4));
  int a = kv.create_sequence();
  append(kv, a, 0, 0, 8, 0.f);
  int b = kv.fork_sequence(a);
  kv.truncate(b, 6);  // keeps both blocks, the second one still shared
  CHECK(kv.used_blocks() == 2);
  kv.reserve(b, 0, 7, 6);
  CHECK(kv.used_blocks() == 3);
  write_pos(kv, b, 0, 6, 66.f);
  CHECK(pos_holds(kv, a, 0, 6, 6.f)) << "parent must not see the fork's rewrite";
  CHECK(pos_holds(kv, a, 0, 7, 7.f));
  CHECK(pos_holds(kv, b, 0, 6, 66.f));
  CHECK(pos_holds(kv, b, 0, 5, 5.f));
}

TEST(kv_pointers_stable_while_pool_grows) {
  KvCache kv(small_config(2, 8, 4, 1000));
  int a = kv.create_sequence();
  append(kv, a, 0, 0, 4, 11.f);
  const float* k0 = kv.k_row(a, 0, 2);
  const float* blk = kv.block_k(kv.block_table(a, 0)[0]);
  CHECK(kv.pool_blocks() == KvCache::kChunkBlocks);
  // Other sequences grow the pool over many chunks.
  std::vector<int> others;
  for (int i = 0; i < 12; ++i) {
    int s = kv.create_sequence();
    others.push_back(s);
    append(kv, s, 0, 0, 40, float(1000 * i));
    append(kv, s, 1, 0, 40, float(-1000 * i));
  }
  CHECK(kv.used_blocks() == 1 + 12 * 20);
  CHECK(kv.pool_blocks() == 4 * KvCache::kChunkBlocks);
  CHECK(kv.k_row(a, 0, 2) == k0) << "row moved while the pool grew";
  CHECK(kv.block_k(kv.block_table(a, 0)[0]) == blk);
  for (int p = 0; p < 4; ++p) CHECK(pos_holds(kv, a, 0, p, 11.f + float(p)));
  for (size_t i = 0; i < others.size(); ++i)
    CHECK(pos_holds(kv, others[i], 1, 39, float(-1000 * int(i)) + 39.f));
}

TEST(kv_pool_stops_at_max_blocks) {
  KvCache kv(small_config(1, 8, 1, 70));  // last chunk is partial: 64 + 6
  int s = kv.create_sequence();
  kv.reserve(s, 0, 70, 0);
  CHECK(kv.pool_blocks() == 70);
  CHECK(kv.free_blocks() == 0);
  for (int p = 0; p < 70; ++p) write_pos(kv, s, 0, p, float(p));
  for (int p = 0; p < 70; ++p) CHECK(pos_holds(kv, s, 0, p, float(p)));
  CHECK(!capacity_message([&] { kv.reserve(s, 0, 71, 70); }).empty());
}

TEST(kv_sequence_ids_reused_after_free) {
  KvCache kv(small_config());
  int a = kv.create_sequence(), b = kv.create_sequence(), c = kv.create_sequence();
  CHECK(a == 0 && b == 1 && c == 2);
  kv.reserve(b, 0, 10, 0);
  kv.free_sequence(b);
  int d = kv.create_sequence();
  CHECK(d == 1) << "lowest free id is reused";
  CHECK(kv.sequence_blocks(d) == 0) << "a reused id starts empty";
  CHECK(kv.layer_tokens(d, 0) == 0);
  kv.free_sequence(a);
  CHECK(kv.fork_sequence(c) == 0);
  CHECK(kv.n_sequences() == 3);
}

TEST(kv_many_sequences) {
  KvCache kv(small_config(2, 4, 8, 4096));
  std::vector<int> seqs;
  for (int i = 0; i < 300; ++i) {
    int s = kv.create_sequence();
    seqs.push_back(s);
    append(kv, s, i % 2, 0, 1 + i % 17, float(i * 100));
  }
  CHECK(kv.n_sequences() == 300);
  int64_t expect = 0;
  for (int i = 0; i < 300; ++i) expect += (1 + i % 17 + 7) / 8;
  CHECK(kv.used_blocks() == expect);
  for (int i = 0; i < 300; ++i) {
    int n = 1 + i % 17;
    CHECK(pos_holds(kv, seqs[size_t(i)], i % 2, n - 1, float(i * 100 + n - 1))) << "seq " << i;
  }
  for (int i = 0; i < 300; i += 2) kv.free_sequence(seqs[size_t(i)]);
  CHECK(kv.n_sequences() == 150);
  for (int i = 1; i < 300; i += 2) kv.free_sequence(seqs[size_t(i)]);
  CHECK(kv.used_blocks() == 0);
}

TEST(kv_bad_arguments_throw) {
  KvCache kv(small_config(4, 8, 4));
  int s = kv.create_sequence();
  kv.reserve(s, 0, 5, 0);
  int gone = kv.create_sequence();
  kv.free_sequence(gone);
  for (int bad_seq : {-1, gone, 7, 1 << 30}) {
    CHECK(throws_error([&] { kv.reserve(bad_seq, 0, 1, 0); })) << bad_seq;
    CHECK(throws_error([&] { kv.k_row(bad_seq, 0, 0); })) << bad_seq;
    CHECK(throws_error([&] { kv.free_sequence(bad_seq); })) << bad_seq;
    CHECK(throws_error([&] { kv.fork_sequence(bad_seq); })) << bad_seq;
    CHECK(throws_error([&] { kv.truncate(bad_seq, 0); })) << bad_seq;
    CHECK(throws_error([&] { kv.block_table(bad_seq, 0); })) << bad_seq;
    CHECK(throws_error([&] { kv.layer_tokens(bad_seq, 0); })) << bad_seq;
    CHECK(throws_error([&] { kv.sequence_blocks(bad_seq); })) << bad_seq;
    CHECK(!kv.has_sequence(bad_seq));
  }
  for (int bad_layer : {-1, 4, 100}) {
    CHECK(throws_error([&] { kv.reserve(s, bad_layer, 1, 0); })) << bad_layer;
    CHECK(throws_error([&] { kv.v_row(s, bad_layer, 0); })) << bad_layer;
    CHECK(throws_error([&] { kv.block_table(s, bad_layer); })) << bad_layer;
    CHECK(throws_error([&] { kv.sequence_layer_blocks(s, bad_layer); })) << bad_layer;
  }
  CHECK(throws_error([&] { kv.k_row(s, 0, 5); })) << "past the reserved range";
  CHECK(throws_error([&] { kv.k_row(s, 0, -1); }));
  CHECK(throws_error([&] { kv.v_row(s, 1, 0); })) << "layer never reserved";
  CHECK(throws_error([&] { kv.reserve(s, 0, -1, 0); }));
  CHECK(throws_error([&] { kv.reserve(s, 0, 4, 5); })) << "first_write past n_tokens";
  CHECK(throws_error([&] { kv.reserve(s, 0, 4, -1); }));
  CHECK(throws_error([&] { kv.truncate(s, -1); }));
  CHECK(throws_error([&] { kv.block_k(-1); }));
  CHECK(throws_error([&] { kv.block_v(12345); }));
  CHECK(throws_error([&] { kv.block_refcount(-3); }));
  kv.truncate(s, 0);  // block 0 and 1 go back to the free list
  CHECK(throws_error([&] { kv.block_k(0); })) << "a free block is not readable";
  CHECK(kv.block_refcount(0) == 0);
  CHECK(kv.has_sequence(s));
  CHECK(kv.used_blocks() == 0);
}

// Random operations against a model: (seq, layer, pos) -> seed of the written
// row, plus reserved token counts. Checks contents, block counts and that every
// refcount equals the number of table entries pointing at the block.
TEST(kv_random_stress_against_model) {
  const int n_layers = 3, bt = 4, max_seq = 10, max_blocks = 100;
  KvCache kv(small_config(n_layers, 6, bt, max_blocks));
  struct ModelSeq {
    std::vector<int> tokens = std::vector<int>(size_t(n_layers), 0);
    std::map<std::pair<int, int>, float> rows;  // (layer, pos) -> seed
  };
  std::map<int, ModelSeq> model;
  std::mt19937 rng(1234);
  auto pick = [&](int n) { return int(rng() % uint32_t(n)); };
  auto random_live = [&]() {
    auto it = model.begin();
    std::advance(it, pick(int(model.size())));
    return it->first;
  };
  int capacity_errors = 0, copies_seen = 0, failures_before = harness::current_failures;
  float next_seed = 1.f;

  auto check_all = [&](int step) {
    std::map<int32_t, int> refs;
    int64_t seq_blocks_total = 0;
    for (auto& [id, m] : model) {
      CHECK(kv.has_sequence(id)) << "step " << step;
      std::set<int32_t> own;
      for (int l = 0; l < n_layers; ++l) {
        CHECK(kv.layer_tokens(id, l) == m.tokens[size_t(l)]) << "step " << step << " seq " << id << " layer " << l;
        const auto& table = kv.block_table(id, l);
        CHECK(int64_t(table.size()) == (m.tokens[size_t(l)] + bt - 1) / bt) << "step " << step;
        for (int32_t b : table) {
          ++refs[b];
          CHECK(own.insert(b).second) << "block " << b << " twice in seq " << id;
        }
        seq_blocks_total += int64_t(table.size());
      }
      CHECK(kv.sequence_blocks(id) == int64_t(own.size()));
      for (auto& [lp, seed] : m.rows)
        CHECK(pos_holds(kv, id, lp.first, lp.second, seed))
            << "step " << step << " seq " << id << " layer " << lp.first << " pos " << lp.second;
    }
    CHECK(kv.n_sequences() == int(model.size()));
    CHECK(kv.used_blocks() == int64_t(refs.size())) << "step " << step;
    CHECK(kv.used_blocks() + kv.free_blocks() == max_blocks);
    // Every carved block's refcount equals its table references (0: free).
    for (int32_t b = 0; b < int32_t(kv.pool_blocks()); ++b) {
      if (throws_error([&] { kv.block_refcount(b); })) break;  // not carved yet
      CHECK(kv.block_refcount(b) == (refs.count(b) ? refs[b] : 0)) << "block " << b << " step " << step;
    }
  };

  for (int step = 0; step < 4000 && harness::current_failures == failures_before; ++step) {
    int op = pick(100);
    if (model.empty() || (op < 8 && int(model.size()) < max_seq)) {
      model[kv.create_sequence()] = ModelSeq();
    } else if (op < 16 && int(model.size()) < max_seq) {
      int parent = random_live();
      int child = kv.fork_sequence(parent);
      CHECK(!model.count(child));
      model[child] = model[parent];
    } else if (op < 22) {
      int id = random_live();
      kv.free_sequence(id);
      model.erase(id);
    } else if (op < 27) {
      int id = random_live();
      int n = pick(40);
      kv.truncate(id, n);
      ModelSeq& m = model[id];
      for (auto& t : m.tokens) t = std::min(t, n);
      for (auto it = m.rows.begin(); it != m.rows.end();)
        it = it->first.second >= n ? m.rows.erase(it) : std::next(it);
    } else {
      // Write [first, first + n) of one layer: append, or overwrite inside.
      int id = random_live();
      int layer = pick(n_layers);
      ModelSeq& m = model[id];
      int cur = m.tokens[size_t(layer)];
      int first = pick(4) == 0 ? pick(cur + 1) : cur;
      int n = 1 + pick(6);
      const Snapshot before = snapshot(kv, max_seq);
      int64_t used_before = kv.used_blocks();
      try {
        kv.reserve(id, layer, first + n, first);
      } catch (const first::KvCapacityError&) {
        ++capacity_errors;
        CHECK(snapshot(kv, max_seq) == before) << "failed reserve changed state at step " << step;
        check_all(step);
        continue;
      }
      int64_t new_blocks = (std::max(cur, first + n) + bt - 1) / bt - (cur + bt - 1) / bt;
      if (kv.used_blocks() > used_before + new_blocks) ++copies_seen;
      m.tokens[size_t(layer)] = std::max(cur, first + n);
      for (int p = first; p < first + n; ++p) {
        write_pos(kv, id, layer, p, next_seed);
        m.rows[{layer, p}] = next_seed;
        next_seed += 1.f;
      }
    }
    check_all(step);
  }
  std::printf("    stress: %d capacity errors, %d copy-on-write reserves, pool %lld blocks\n", capacity_errors,
              copies_seen, (long long)kv.pool_blocks());
  CHECK(capacity_errors > 0) << "stress never hit the capacity limit";
  CHECK(copies_seen > 0) << "stress never exercised copy-on-write";
  for (auto& [id, m] : model) kv.free_sequence(id);
  CHECK(kv.used_blocks() == 0);
}
