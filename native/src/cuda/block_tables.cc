#include "cuda/block_tables.h"

#include <algorithm>
#include <string>

namespace first {
namespace cuda {

BlockTables::BlockTables(int n_layers, int block_tokens, int64_t max_blocks)
    : n_layers_(n_layers), block_tokens_(block_tokens), max_blocks_(max_blocks) {
  if (n_layers <= 0) throw Error("KV pool: n_layers must be positive");
  if (block_tokens <= 0 || block_tokens > 4096) throw Error("KV pool: block_tokens must be in 1..4096");
  if (max_blocks <= 0 || max_blocks > (int64_t{1} << 31) / block_tokens)
    throw Error("KV pool: max_blocks must be positive and its slots must fit 31 bits");
  refcount_.assign(static_cast<size_t>(max_blocks), 0);
  free_.reserve(static_cast<size_t>(max_blocks));
  for (int64_t b = max_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

BlockTables::Sequence& BlockTables::seq_ref(int seq) {
  if (seq < 0 || seq >= static_cast<int>(seqs_.size()) || !seqs_[seq].live)
    throw Error("KV pool: unknown sequence " + std::to_string(seq));
  return seqs_[seq];
}
const BlockTables::Sequence& BlockTables::seq_ref(int seq) const {
  return const_cast<BlockTables*>(this)->seq_ref(seq);
}

void BlockTables::check_layer(int layer) const {
  if (layer < 0 || layer >= n_layers_) throw Error("KV pool: layer " + std::to_string(layer) + " out of range");
}

int BlockTables::add_sequence(Sequence s) {
  s.live = true;
  for (size_t i = 0; i < seqs_.size(); ++i)
    if (!seqs_[i].live) {
      seqs_[i] = std::move(s);
      return static_cast<int>(i);
    }
  seqs_.push_back(std::move(s));
  return static_cast<int>(seqs_.size() - 1);
}

int BlockTables::create_sequence() {
  Sequence s;
  s.tables.assign(n_layers_, {});
  s.tokens.assign(n_layers_, 0);
  return add_sequence(std::move(s));
}

bool BlockTables::has_sequence(int seq) const {
  return seq >= 0 && seq < static_cast<int>(seqs_.size()) && seqs_[seq].live;
}

void BlockTables::release(int32_t b) {
  if (--refcount_[b] == 0) free_.push_back(b);
}

void BlockTables::free_sequence(int seq) {
  Sequence& s = seq_ref(seq);
  for (auto& t : s.tables)
    for (int32_t b : t) release(b);
  s = Sequence{};
}

int BlockTables::fork_sequence(int seq) {
  Sequence copy = seq_ref(seq);
  for (auto& t : copy.tables)
    for (int32_t b : t) ++refcount_[b];
  return add_sequence(std::move(copy));
}

void BlockTables::reserve(int seq, int layer, int n_tokens, int first_write, std::vector<BlockCopy>* copies) {
  check_layer(layer);
  Sequence& s = seq_ref(seq);
  if (n_tokens < 0 || first_write < 0) throw Error("KV pool: negative position");
  std::vector<int32_t>& t = s.tables[layer];
  const int have = static_cast<int>(t.size());
  const int want = std::max(have, (n_tokens + block_tokens_ - 1) / block_tokens_);
  // Count first, so running out changes nothing.
  int64_t need = want - have;
  for (int i = first_write / block_tokens_; i < have; ++i)
    if (refcount_[t[i]] > 1) ++need;
  if (need > static_cast<int64_t>(free_.size()))
    throw KvCapacityError("KV pool is full: sequence " + std::to_string(seq) + " layer " + std::to_string(layer) +
                          " needs " + std::to_string(need) + " more blocks, " + std::to_string(free_.size()) +
                          " of " + std::to_string(max_blocks_) + " are free");
  for (int i = first_write / block_tokens_; i < have; ++i) {
    if (refcount_[t[i]] <= 1) continue;
    const int32_t fresh = free_.back();
    free_.pop_back();
    refcount_[fresh] = 1;
    if (copies) copies->push_back({t[i], fresh});
    --refcount_[t[i]];
    t[i] = fresh;
  }
  for (int i = have; i < want; ++i) {
    const int32_t fresh = free_.back();
    free_.pop_back();
    refcount_[fresh] = 1;
    t.push_back(fresh);
  }
  s.tokens[layer] = std::max(s.tokens[layer], n_tokens);
}

void BlockTables::truncate(int seq, int n_tokens) {
  Sequence& s = seq_ref(seq);
  if (n_tokens < 0) throw Error("KV pool: negative length");
  const size_t keep = static_cast<size_t>((n_tokens + block_tokens_ - 1) / block_tokens_);
  for (int l = 0; l < n_layers_; ++l) {
    auto& t = s.tables[l];
    while (t.size() > keep) {
      release(t.back());
      t.pop_back();
    }
    s.tokens[l] = std::min(s.tokens[l], n_tokens);
  }
}

const std::vector<int32_t>& BlockTables::table(int seq, int layer) const {
  check_layer(layer);
  return seq_ref(seq).tables[layer];
}

int BlockTables::layer_tokens(int seq, int layer) const {
  check_layer(layer);
  return seq_ref(seq).tokens[layer];
}

int32_t BlockTables::slot(int seq, int layer, int pos) const {
  const auto& t = table(seq, layer);
  if (pos < 0 || pos / block_tokens_ >= static_cast<int>(t.size()))
    throw Error("KV pool: position " + std::to_string(pos) + " is not reserved");
  return t[pos / block_tokens_] * block_tokens_ + pos % block_tokens_;
}

int64_t BlockTables::sequence_layer_blocks(int seq, int layer) const {
  return static_cast<int64_t>(table(seq, layer).size());
}

int32_t BlockTables::refcount(int32_t block) const {
  if (block < 0 || block >= max_blocks_) throw Error("KV pool: block " + std::to_string(block) + " out of range");
  return refcount_[block];
}

}  // namespace cuda
}  // namespace first
