// Paged KV cache: block pool with refcounted, copy-on-write blocks and one
// block table per (sequence, layer). See first/kv_cache.h for the design.
#include "first/kv_cache.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <new>

namespace first {

namespace {

int64_t blocks_for(int64_t tokens, int block_tokens) { return (tokens + block_tokens - 1) / block_tokens; }

}  // namespace

KvCache::KvCache(const KvCacheConfig& cfg) : cfg_(cfg) {
  if (cfg.n_layers <= 0) throw Error("KV cache: n_layers must be positive, got " + std::to_string(cfg.n_layers));
  if (cfg.kv_dim <= 0) throw Error("KV cache: kv_dim must be positive, got " + std::to_string(cfg.kv_dim));
  if (cfg.block_tokens <= 0)
    throw Error("KV cache: block_tokens must be positive, got " + std::to_string(cfg.block_tokens));
  if (cfg.max_blocks <= 0 || cfg.max_blocks > INT32_MAX)
    throw Error("KV cache: max_blocks must be in [1, " + std::to_string(INT32_MAX) + "], got " +
                std::to_string(cfg.max_blocks));
  // Guard the size arithmetic: one block must fit comfortably in size_t.
  if (int64_t(cfg.kv_dim) * cfg.block_tokens > (int64_t(1) << 40))
    throw Error("KV cache: block of " + std::to_string(cfg.block_tokens) + " tokens x " + std::to_string(cfg.kv_dim) +
                " floats is too large");
  row_floats_ = size_t(cfg.kv_dim);
  half_floats_ = row_floats_ * size_t(cfg.block_tokens);
  block_floats_ = 2 * half_floats_;
}

// ---- sequences -------------------------------------------------------------

KvCache::Sequence& KvCache::seq_ref(int seq) {
  return const_cast<Sequence&>(static_cast<const KvCache*>(this)->seq_ref(seq));
}

const KvCache::Sequence& KvCache::seq_ref(int seq) const {
  if (seq < 0 || size_t(seq) >= seqs_.size() || !seqs_[size_t(seq)].live)
    throw Error("KV cache: no sequence with id " + std::to_string(seq));
  return seqs_[size_t(seq)];
}

void KvCache::check_layer(int layer) const {
  if (layer < 0 || layer >= cfg_.n_layers)
    throw Error("KV cache: layer " + std::to_string(layer) + " out of range [0, " + std::to_string(cfg_.n_layers) +
                ")");
}

int KvCache::add_sequence(Sequence s) {
  size_t id = 0;
  while (id < seqs_.size() && seqs_[id].live) ++id;
  if (id >= size_t(INT_MAX)) throw Error("KV cache: too many sequences");
  s.live = true;
  if (id == seqs_.size())
    seqs_.push_back(std::move(s));
  else
    seqs_[id] = std::move(s);
  ++n_live_;
  return int(id);
}

int KvCache::create_sequence() {
  Sequence s;
  s.tables.resize(size_t(cfg_.n_layers));
  s.tokens.assign(size_t(cfg_.n_layers), 0);
  return add_sequence(std::move(s));
}

void KvCache::free_sequence(int seq) {
  Sequence& s = seq_ref(seq);
  for (auto& table : s.tables)
    for (int32_t b : table) release_block(b);
  s = Sequence();  // live = false, drops the tables' memory
  --n_live_;
}

int KvCache::fork_sequence(int seq) {
  Sequence child = seq_ref(seq);  // copies the tables: blocks are shared, not copied
  int id = add_sequence(std::move(child));
  for (const auto& table : seqs_[size_t(id)].tables)
    for (int32_t b : table) ++refcount_[size_t(b)];
  return id;
}

bool KvCache::has_sequence(int seq) const {
  return seq >= 0 && size_t(seq) < seqs_.size() && seqs_[size_t(seq)].live;
}

int KvCache::n_sequences() const { return n_live_; }

// ---- block pool ------------------------------------------------------------

void KvCache::ensure_storage(int64_t n_new) {
  int64_t carve = n_new - int64_t(free_list_.size());
  int64_t target = n_allocated_ + std::max<int64_t>(carve, 0);
  while (n_storage_ < target) {
    int64_t n = std::min(kChunkBlocks, cfg_.max_blocks - n_storage_);
    size_t floats = size_t(n) * block_floats_;
    try {
      refcount_.reserve(size_t(n_storage_ + n));
      chunks_.push_back(std::unique_ptr<float[]>(new float[floats]()));
    } catch (const std::bad_alloc&) {
      throw KvCapacityError("KV cache: out of host memory allocating a chunk of " + std::to_string(n) +
                            " blocks (" + std::to_string(floats * sizeof(float)) + " bytes)");
    }
    refcount_.resize(size_t(n_storage_ + n), 0);
    n_storage_ += n;
  }
}

int32_t KvCache::alloc_block() {
  int32_t b;
  if (!free_list_.empty()) {
    b = free_list_.back();
    free_list_.pop_back();
  } else {
    b = int32_t(n_allocated_++);  // storage is there: ensure_storage ran first
  }
  refcount_[size_t(b)] = 1;
  return b;
}

void KvCache::release_block(int32_t b) {
  if (--refcount_[size_t(b)] == 0) free_list_.push_back(b);
}

float* KvCache::block_data(int32_t b) const {
  // Chunks before the last one are full, so block b lives in chunk b / kChunkBlocks.
  return chunks_[size_t(b / kChunkBlocks)].get() + size_t(b % kChunkBlocks) * block_floats_;
}

void KvCache::check_block(int32_t b) const {
  if (b < 0 || b >= n_allocated_ || refcount_[size_t(b)] == 0)
    throw Error("KV cache: block " + std::to_string(b) + " is not in use");
}

// ---- reserve / rows --------------------------------------------------------

void KvCache::reserve(int seq, int layer, int n_tokens, int first_write) {
  Sequence& s = seq_ref(seq);
  check_layer(layer);
  if (n_tokens < 0) throw Error("KV cache: reserve of " + std::to_string(n_tokens) + " tokens");
  if (first_write < 0 || first_write > n_tokens)
    throw Error("KV cache: first_write " + std::to_string(first_write) + " outside [0, " + std::to_string(n_tokens) +
                "]");
  std::vector<int32_t>& table = s.tables[size_t(layer)];
  const int bt = cfg_.block_tokens;
  const int end = std::max(s.tokens[size_t(layer)], n_tokens);
  const int64_t have = int64_t(table.size());
  const int64_t want = blocks_for(end, bt);

  // Count everything first so that a failure leaves the cache untouched.
  const int64_t first_block = first_write / bt;
  int64_t copies = 0;
  for (int64_t i = first_block; i < have; ++i)
    if (refcount_[size_t(table[size_t(i)])] > 1) ++copies;
  const int64_t need = (want - have) + copies;
  if (need > free_blocks())
    throw KvCapacityError("KV cache full: sequence " + std::to_string(seq) + " layer " + std::to_string(layer) +
                          " needs " + std::to_string(need) + " blocks (" + std::to_string(want - have) + " new, " +
                          std::to_string(copies) + " copy-on-write) but only " + std::to_string(free_blocks()) +
                          " of " + std::to_string(cfg_.max_blocks) + " are free (block = " + std::to_string(bt) +
                          " tokens, " + std::to_string(block_bytes()) + " bytes)");
  ensure_storage(need);
  table.reserve(size_t(want));

  for (int64_t i = first_block; i < have; ++i) {
    int32_t old = table[size_t(i)];
    if (refcount_[size_t(old)] <= 1) continue;
    int32_t fresh = alloc_block();
    std::memcpy(block_data(fresh), block_data(old), block_floats_ * sizeof(float));
    --refcount_[size_t(old)];  // still > 0: another sequence holds it
    table[size_t(i)] = fresh;
  }
  for (int64_t i = have; i < want; ++i) table.push_back(alloc_block());
  s.tokens[size_t(layer)] = end;
}

float* KvCache::row(int seq, int layer, int pos, size_t offset) {
  Sequence& s = seq_ref(seq);
  check_layer(layer);
  int tokens = s.tokens[size_t(layer)];
  if (pos < 0 || pos >= tokens)
    throw Error("KV cache: position " + std::to_string(pos) + " of sequence " + std::to_string(seq) + " layer " +
                std::to_string(layer) + " is outside the reserved range [0, " + std::to_string(tokens) + ")");
  const int bt = cfg_.block_tokens;
  int32_t b = s.tables[size_t(layer)][size_t(pos / bt)];
  return block_data(b) + offset + size_t(pos % bt) * row_floats_;
}

float* KvCache::k_row(int seq, int layer, int pos) { return row(seq, layer, pos, 0); }
float* KvCache::v_row(int seq, int layer, int pos) { return row(seq, layer, pos, half_floats_); }

const std::vector<int32_t>& KvCache::block_table(int seq, int layer) const {
  const Sequence& s = seq_ref(seq);
  check_layer(layer);
  return s.tables[size_t(layer)];
}

const float* KvCache::block_k(int32_t block) const {
  check_block(block);
  return block_data(block);
}

const float* KvCache::block_v(int32_t block) const {
  check_block(block);
  return block_data(block) + half_floats_;
}

int KvCache::layer_tokens(int seq, int layer) const {
  const Sequence& s = seq_ref(seq);
  check_layer(layer);
  return s.tokens[size_t(layer)];
}

void KvCache::truncate(int seq, int n_tokens) {
  Sequence& s = seq_ref(seq);
  if (n_tokens < 0) throw Error("KV cache: truncate to " + std::to_string(n_tokens) + " tokens");
  const size_t keep = size_t(blocks_for(n_tokens, cfg_.block_tokens));
  for (size_t l = 0; l < s.tables.size(); ++l) {
    if (s.tokens[l] <= n_tokens) continue;
    auto& table = s.tables[l];
    for (size_t i = keep; i < table.size(); ++i) release_block(table[i]);
    table.resize(std::min(keep, table.size()));
    s.tokens[l] = n_tokens;
  }
}

// ---- accounting ------------------------------------------------------------

int64_t KvCache::used_blocks() const { return n_allocated_ - int64_t(free_list_.size()); }
int64_t KvCache::free_blocks() const { return cfg_.max_blocks - used_blocks(); }

int64_t KvCache::sequence_blocks(int seq) const {
  int64_t n = 0;
  for (const auto& table : seq_ref(seq).tables) n += int64_t(table.size());
  return n;
}

int64_t KvCache::sequence_layer_blocks(int seq, int layer) const {
  return int64_t(block_table(seq, layer).size());
}

size_t KvCache::block_bytes() const { return block_floats_ * sizeof(float); }

int64_t KvCache::pool_blocks() const { return n_storage_; }

int32_t KvCache::block_refcount(int32_t block) const {
  if (block < 0 || block >= n_allocated_) throw Error("KV cache: no block " + std::to_string(block));
  return refcount_[size_t(block)];
}

}  // namespace first
