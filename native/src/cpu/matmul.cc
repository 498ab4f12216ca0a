// Matmuls against block-format weights. X is quantized once into the weights'
// dot partner, then each thread takes a contiguous share of the weight rows:
// decode (M = 1) runs one row-tile kernel call per thread; prefill walks
// kRowBlock weight rows x kTokenBlock tokens so both stay in L1/L2 while they
// are reused.
#include "first/matmul.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "first/error.h"
#include "first/quant.h"
#include "first/row_groups.h"
#include "quant/kernels.h"

namespace first {

namespace {

constexpr int kRowBlock = 16;          // weight rows per prefill tile
constexpr int kTokenBlock = 64;        // tokens per prefill tile
constexpr int64_t kParallelQuantM = 8; // quantize X on all threads from this many tokens

const quant::FormatKernels& kernels_or_throw(const WeightView& W) {
  const quant::FormatKernels* k = quant::kernels_for(W.type);
  if (!k) {
    const TypeInfo* info = type_info(static_cast<uint32_t>(W.type));
    throw Error(std::string("matmul: unsupported weight type ") +
                (info ? info->name : std::to_string(static_cast<uint32_t>(W.type))));
  }
  return *k;
}

void check_weight(const WeightView& W, int64_t M, int64_t ldx, int64_t ldy) {
  if (W.rows < 0 || W.cols <= 0 || M < 0) throw Error("matmul: negative or empty shape");
  if (!W.data && W.rows > 0) throw Error("matmul: weight has no data");
  const size_t packed = row_bytes(W.type, W.cols);  // throws if cols is not whole blocks
  if (W.row_bytes < packed) throw Error("matmul: weight row stride is smaller than a row");
  if (ldx < W.cols) throw Error("matmul: ldx is smaller than the weight's column count");
  if (ldy < W.rows) throw Error("matmul: ldy is smaller than the weight's row count");
}

// The dot-partner buffers one call needs; F32 weights read X in place.
enum PartnerSlot { kSlotQ8_0, kSlotQ8_1, kSlotQ8_K, kSlotCount, kSlotNone };

PartnerSlot slot_of(TensorType partner) {
  switch (partner) {
    case TensorType::Q8_0: return kSlotQ8_0;
    case TensorType::Q8_1: return kSlotQ8_1;
    case TensorType::Q8_K: return kSlotQ8_K;
    default: return kSlotNone;
  }
}

struct ActBuffers {
  uint8_t* data[kSlotCount] = {};
  size_t stride[kSlotCount] = {};
  quant::QuantizeFn quantize[kSlotCount] = {};
};

struct QuantJob {
  const ActBuffers* bufs;
  const float* X;
  int64_t M, ldx, cols;
};

void quantize_rows(const QuantJob& job, int64_t m0, int64_t m1) {
  for (int s = 0; s < kSlotCount; ++s) {
    if (!job.bufs->quantize[s]) continue;
    for (int64_t m = m0; m < m1; ++m)
      job.bufs->quantize[s](job.X + m * job.ldx, job.bufs->data[s] + m * job.bufs->stride[s], job.cols);
  }
}

// Quantizes X into every buffer that has a quantizer, on all threads when M is large.
void quantize_inputs(const ActBuffers& bufs, const float* X, int64_t M, int64_t ldx, int64_t cols, ThreadPool& pool) {
  QuantJob job{&bufs, X, M, ldx, cols};
  if (M < kParallelQuantM || pool.size() == 1) {
    quantize_rows(job, 0, M);
    return;
  }
  pool.run([&job](int i, int nt) { quantize_rows(job, job.M * i / nt, job.M * (i + 1) / nt); });
}

// One weight's share of the work.
struct Product {
  const WeightView* W;
  const quant::FormatKernels* k;
  const uint8_t* act;
  size_t act_stride;
  float* Y;
  int64_t ldy;
  bool accumulate;
  // A low-rank term added to the rows each thread computes. With few tokens
  // the threads project with A themselves (term_a: A's product, Y unused):
  // when they split the weight's rows, each projects its share of t's rows
  // into term_t (M x kq, shared) and counts itself in term_parts, so A is
  // read once, not once per thread. With more tokens, t was projected and
  // quantized in an earlier pass (term_q, term_d: M x kq values and M scales,
  // for all of p's tokens).
  const LowRank* term = nullptr;
  const struct Product* term_a = nullptr;
  float* term_t = nullptr;
  std::atomic<int>* term_parts = nullptr;
  const int8_t* term_q = nullptr;
  const float* term_d = nullptr;
};

void run_tile(const Product& p, int64_t r0, int nr, int64_t m0, int nc) {
  const uint8_t* w = p.W->data + r0 * static_cast<int64_t>(p.W->row_bytes);
  const uint8_t* a = p.act + m0 * static_cast<int64_t>(p.act_stride);
  float* y = p.Y + m0 * p.ldy + r0;
  if (p.k->tile)
    p.k->tile(p.W->cols, w, p.W->row_bytes, nr, a, p.act_stride, nc, y, p.ldy, p.accumulate);
  else
    quant::tile_by_dots(p.k->dot, p.W->cols, w, p.W->row_bytes, nr, a, p.act_stride, nc, y, p.ldy, p.accumulate);
}

// Whether rows [r0, ...) of p can run on its row groups.
bool uses_groups(const Product& p) { return p.W->row_groups && p.k->group_tile; }

// Rows [r0, r1) of one product for all M tokens: whole row groups on their
// kernel (r0 is then a multiple of 16), the rest row by row.
void run_rows(const Product& p, int64_t r0, int64_t r1, int64_t M) {
  if (r0 >= r1) return;
  if (uses_groups(p)) {
    const int64_t g_end = std::min(r1, p.W->rows / kRowGroup * kRowGroup);
    if (g_end > r0) {
      const size_t group_bytes = row_group_bytes(p.W->type, p.W->cols);
      const uint8_t* groups = p.W->row_groups + static_cast<size_t>(r0 / kRowGroup) * group_bytes;
      const int ngroups = static_cast<int>((g_end - r0) / kRowGroup);
      for (int64_t m0 = 0; m0 < M; m0 += kTokenBlock) {
        const int nc = static_cast<int>(std::min<int64_t>(kTokenBlock, M - m0));
        p.k->group_tile(p.W->cols, groups, group_bytes, ngroups, p.act + m0 * static_cast<int64_t>(p.act_stride),
                        p.act_stride, nc, p.Y + m0 * p.ldy + r0, p.ldy, p.accumulate);
      }
      r0 = g_end;
    }
    if (r0 >= r1) return;
  }
  if (M == 1) {
    run_tile(p, r0, static_cast<int>(r1 - r0), 0, 1);
    return;
  }
  for (int64_t m0 = 0; m0 < M; m0 += kTokenBlock) {
    const int nc = static_cast<int>(std::min<int64_t>(kTokenBlock, M - m0));
    for (int64_t r = r0; r < r1; r += kRowBlock) run_tile(p, r, static_cast<int>(std::min<int64_t>(kRowBlock, r1 - r)), m0, nc);
  }
}

// Thread i's share of `rows`, cut on multiples of `unit` (the micro-kernel height).
void share_of(int64_t rows, int i, int nt, int64_t unit, int64_t* r0, int64_t* r1) {
  const int64_t units = (rows + unit - 1) / unit;
  *r0 = std::min(rows, units * i / nt * unit);
  *r1 = std::min(rows, units * (i + 1) / nt * unit);
}

void prefetch_bytes(const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  for (size_t i = 0; i < n; i += 64) __builtin_prefetch(c + i);
}

// B's blocks for outputs [o0, o1), o0 a multiple of kLowRankBlock.
void prefetch_b(const LowRank& lr, int64_t o0, int64_t o1) {
  prefetch_bytes(lr.block(o0), static_cast<size_t>((o1 - o0 + kLowRankBlock - 1) / kLowRankBlock) * lr.block_bytes());
}

// Base rows per slice of a fused term's expansion (two row groups; a thread's
// share starts on a row group, so every slice starts on a block of B), and how
// many slices ahead of the expansion B's bytes are asked for.
constexpr int64_t kTermSlice = 2 * kRowGroup;
constexpr int64_t kTermAhead = 2;
static_assert(kRowGroup % kLowRankBlock == 0, "a share or slice must start on a block of B");

// Tokens [m0, m1) of a product: the same weight against a slice of X and Y.
Product token_slice(const Product& p, int64_t m0) {
  Product s = p;
  s.act += m0 * static_cast<int64_t>(p.act_stride);
  s.Y += m0 * p.ldy;
  return s;
}

// Columns [c0, c1) of W (whole blocks) as a weight of their own, for a
// projection split by columns. A single row group stays one: its blocks lie
// one after another (first/row_groups.h).
WeightView column_range(const WeightView& W, int64_t c0, int64_t c1) {
  WeightView v = W;
  const size_t before = row_bytes(W.type, c0);
  v.cols = c1 - c0;
  v.data = W.data + before;
  v.row_groups = W.row_groups && W.rows == kRowGroup ? W.row_groups + row_group_bytes(W.type, c0) : nullptr;
  return v;
}

// How a shared projection t = A x is cut among nparts threads: by row groups
// of A where there are enough for every thread, else by A's columns (each
// part a partial sum of every rank), so no part falls off the row-group
// kernel, whose 16 rows a split by ranks would cut apart.
bool t_by_columns(const Product& p, int nparts) {
  const WeightView& A = *p.term_a->W;
  const int64_t block = type_info(static_cast<uint32_t>(A.type))->block_size;
  return A.rows / kRowGroup < nparts && block > 1 && A.cols / block >= nparts;
}

// Part `part` of `nparts` of a shared projection, written into p.term_t and
// counted: its rows of t = A x for all M tokens, or (split by columns) its
// partial sums of all of t, M x kq at part * M * kq.
void project_t_part(const Product& p, int64_t M, int part, int nparts) {
  const LowRank& lr = *p.term;
  const WeightView& A = *p.term_a->W;
  Product pa = *p.term_a;
  if (t_by_columns(p, nparts)) {
    const int64_t block = type_info(static_cast<uint32_t>(A.type))->block_size;
    int64_t b0, b1;
    share_of(A.cols / block, part, nparts, 1, &b0, &b1);
    const WeightView a = column_range(A, b0 * block, b1 * block);
    pa.W = &a;
    pa.act += row_bytes(dot_partner(A.type), b0 * block);
    pa.Y = p.term_t + static_cast<int64_t>(part) * M * lr.kq;
    pa.ldy = lr.kq;
    run_rows(pa, 0, lr.kq, M);
  } else {
    int64_t k0, k1;
    share_of(lr.kq, part, nparts, A.rows / kRowGroup >= nparts ? kRowGroup : kLowRankQuad, &k0, &k1);
    if (k0 < k1) {
      const WeightView a = row_range(A, k0, k1 - k0);
      pa.W = &a;
      pa.Y = p.term_t + k0;
      pa.ldy = lr.kq;
      run_rows(pa, 0, k1 - k0, M);
    }
  }
  p.term_parts->fetch_add(1, std::memory_order_release);
}

// Waits until all nparts threads have written their rows of p.term_t. No
// thread waits before writing its own, so none can wait for another forever.
void wait_for_t(const Product& p, int nparts) {
  spin_until([&p, nparts] { return p.term_parts->load(std::memory_order_acquire) >= nparts; });
}

// Rows [r0, r1) of p for tokens [m0, m1), with its low-rank term on those rows
// and tokens. The term's expansion follows the base rows a slice at a time,
// while the slice's outputs are still in L1 and with B's bytes asked for a few
// slices ahead, so they stream beside the weight's (expanded after all base
// rows, B arrived in one burst, and at prefill the outputs came back from L2).
// With few tokens the threads also project t with A themselves: alone, every
// rank's dot; as part `part` of `nparts` threads that split p's rows, their
// share of t's rows (shared through p.term_t), even with no rows of their own.
void run_share(const Product& p, int64_t r0, int64_t r1, int64_t m0, int64_t m1, int part = 0, int nparts = 1) {
  if (m0 >= m1) return;
  const bool shared_t = p.term && !p.term_q && p.term_t && nparts > 1;
  if (shared_t) project_t_part(p, m1 - m0, part, nparts);
  if (r0 >= r1) return;
  const Product s = token_slice(p, m0);
  const int64_t M = m1 - m0;
  if (!p.term) {
    run_rows(s, r0, r1, M);
    return;
  }
  const LowRank& lr = *p.term;
  prefetch_b(lr, r0, std::min(r1, r0 + (kTermAhead + 1) * kTermSlice));
  int64_t r = r0, re = std::min(r1, r0 + kTermSlice);
  run_rows(s, r, re, M);
  const int8_t* q = p.term_q ? p.term_q + m0 * lr.kq : nullptr;
  const float* d = p.term_d ? p.term_d + m0 : nullptr;
  if (!q) {
    thread_local std::vector<float> own_t, td;
    thread_local std::vector<int8_t> tq;
    tq.resize(static_cast<size_t>(M) * lr.kq);
    td.resize(static_cast<size_t>(M));
    const float* t;
    if (shared_t) {
      wait_for_t(p, nparts);
      t = p.term_t;
      if (t_by_columns(p, nparts)) {  // the parts' partial sums, added
        own_t.assign(p.term_t, p.term_t + tq.size());
        for (int i = 1; i < nparts; ++i) {
          const float* part_t = p.term_t + static_cast<int64_t>(i) * M * lr.kq;
          for (size_t j = 0; j < tq.size(); ++j) own_t[j] += part_t[j];
        }
        t = own_t.data();
      }
    } else {
      own_t.resize(tq.size());
      Product a = token_slice(*p.term_a, m0);
      a.Y = own_t.data();
      a.ldy = lr.kq;
      run_rows(a, 0, lr.kq, M);
      t = own_t.data();
    }
    for (int64_t m = 0; m < M; ++m) td[m] = low_rank_quantize_t(t + m * lr.kq, lr.kq, tq.data() + m * lr.kq);
    q = tq.data();
    d = td.data();
  }
  for (;;) {
    low_rank_expand(lr, q, d, M, s.Y, s.ldy, r, re);
    if (re >= r1) break;
    r = re;
    re = std::min(r1, r + kTermSlice);
    const int64_t ahead = r + kTermAhead * kTermSlice;
    if (ahead < r1) prefetch_b(lr, ahead, std::min(r1, ahead + kTermSlice));
    run_rows(s, r, re, M);
  }
}

void run_products(const Product* products, size_t count, int64_t M, ThreadPool& pool) {
  int64_t total_rows = 0;
  for (size_t i = 0; i < count; ++i) total_rows += products[i].W->rows;
  if (pool.size() == 1 || total_rows * M < 64) {
    for (size_t i = 0; i < count; ++i) run_share(products[i], 0, products[i].W->rows, 0, M);
    return;
  }
  pool.run([products, count, M](int t, int nt) {
    for (size_t i = 0; i < count; ++i) {
      const Product& p = products[i];
      // A weight of fewer rows than a row group per thread (a low-rank term's A)
      // splits its tokens instead, where there are enough, so no thread gets it whole.
      if (p.W->rows < kRowGroup * nt && M >= 2 * nt) {
        run_share(p, 0, p.W->rows, M * t / nt, M * (t + 1) / nt);
        continue;
      }
      int64_t r0, r1;
      share_of(p.W->rows, t, nt, uses_groups(p) || p.term ? kRowGroup : 4, &r0, &r1);
      run_share(p, r0, r1, 0, M, t, nt);
    }
  });
}

// A low-rank term's t (M x kq, from A's product in the first pass), its
// quantized form (q, d: buffers of the caller's) and where it expands.
struct Expansion {
  const LowRank* lr;
  bool in_product;  // expanded inside its weight's product, not on its own
  const float* t;
  int8_t* q;
  float* d;
  float* Y;
  int64_t ldy;
};

// t's M rows quantized per token, into e.q and e.d.
void quantize_t(const Expansion& e, int64_t M) {
  const int kq = e.lr->kq;
  for (int64_t m = 0; m < M; ++m) e.d[m] = low_rank_quantize_t(e.t + m * kq, kq, e.q + m * kq);
}

// Terms whose weight has no rows (low_rank_add): the expansion on its own, split by outputs.
void run_expansions(const Expansion* ex, size_t count, int64_t M, ThreadPool& pool) {
  int64_t total = 0;
  for (size_t i = 0; i < count; ++i) total += ex[i].lr->out;
  if (pool.size() == 1 || total * M < 256) {
    for (size_t i = 0; i < count; ++i) low_rank_expand(*ex[i].lr, ex[i].q, ex[i].d, M, ex[i].Y, ex[i].ldy, 0, ex[i].lr->out);
    return;
  }
  pool.run([ex, count, M](int t, int nt) {
    for (size_t i = 0; i < count; ++i) {
      int64_t o0, o1;
      share_of(ex[i].lr->out, t, nt, kLowRankBlock, &o0, &o1);
      if (o0 < o1) low_rank_expand(*ex[i].lr, ex[i].q, ex[i].d, M, ex[i].Y, ex[i].ldy, o0, o1);
    }
  });
}

// Lays out one buffer per needed partner in scratch.act (growing it only when too small).
void prepare_buffers(const bool (&needed)[kSlotCount], int64_t M, int64_t cols, MatmulScratch& scratch, ActBuffers* bufs) {
  static const TensorType kPartner[kSlotCount] = {TensorType::Q8_0, TensorType::Q8_1, TensorType::Q8_K};
  static const TensorType kWeightOf[kSlotCount] = {TensorType::Q8_0, TensorType::Q4_1, TensorType::Q4_K};
  size_t offsets[kSlotCount] = {}, total = 0;
  for (int s = 0; s < kSlotCount; ++s) {
    if (!needed[s]) continue;
    bufs->stride[s] = row_bytes(kPartner[s], cols);
    offsets[s] = total;
    total += bufs->stride[s] * static_cast<size_t>(M);
    bufs->quantize[s] = kernels_or_throw(WeightView{kWeightOf[s]}).quantize_act;
  }
  if (scratch.act.size() < total) scratch.act.resize(total);
  for (int s = 0; s < kSlotCount; ++s)
    if (needed[s]) bufs->data[s] = scratch.act.data() + offsets[s];
}

void check_low_rank(const LowRank* lr, const WeightView& W) {
  if (!lr) return;
  if (lr->in != W.cols || lr->out != W.rows) throw Error("matmul: low-rank term does not match the weight's shape");
}

constexpr size_t kMaxWeights = 8;

// Every product of one call: the weights that share X and their low-rank
// terms. A term rides inside its weight's product, each thread expanding its
// own rows slice by slice; with few tokens each thread also projects with A,
// otherwise A's products run in a pass before. A weight without rows
// (low_rank_add) takes a pass for A's product and one for the expansion.
void multiply(const WeightView* const* Ws, size_t count, const float* X, int64_t M, int64_t ldx, float* const* ys,
              const int64_t* ldys, bool accumulate, const LowRank* const* lrs, ThreadPool& pool,
              MatmulScratch& scratch) {
  if (M == 0) return;
  const bool fused = M <= kLowRankFusedRows;
  WeightView a_views[kMaxWeights];
  bool needed[kSlotCount] = {};
  auto need = [&needed](TensorType t) {
    const PartnerSlot s = slot_of(dot_partner(t));
    if (s != kSlotNone) needed[s] = true;
  };
  size_t t_floats = 0;
  for (size_t i = 0; i < count; ++i) {
    if (Ws[i]->rows > 0) need(Ws[i]->type);
    if (!lrs || !lrs[i]) continue;
    a_views[i] = lrs[i]->a_view();
    need(a_views[i].type);
    // With threads, a shared projection may be split by columns: a partial t per thread.
    if (!fused || Ws[i]->rows == 0) t_floats += static_cast<size_t>(M) * lrs[i]->kq;
    else if (pool.size() > 1) t_floats += static_cast<size_t>(M) * lrs[i]->kq * pool.size();
  }
  ActBuffers bufs;
  prepare_buffers(needed, M, Ws[0]->cols, scratch, &bufs);
  quantize_inputs(bufs, X, M, ldx, Ws[0]->cols, pool);
  if (scratch.lr_t.size() < t_floats) {
    scratch.lr_t.resize(t_floats);
    scratch.lr_q.resize(t_floats);
  }
  if (scratch.lr_d.size() < static_cast<size_t>(M) * count) scratch.lr_d.resize(static_cast<size_t>(M) * count);
  auto product_of = [&](const WeightView& W, float* Y, int64_t ldy, bool acc) {
    Product p{&W, &kernels_or_throw(W), nullptr, 0, Y, ldy, acc};
    const PartnerSlot s = slot_of(dot_partner(W.type));
    p.act = s == kSlotNone ? reinterpret_cast<const uint8_t*>(X) : bufs.data[s];
    p.act_stride = s == kSlotNone ? static_cast<size_t>(ldx) * sizeof(float) : bufs.stride[s];
    return p;
  };
  Product products[kMaxWeights], term_a[kMaxWeights], a_products[kMaxWeights];
  std::atomic<int> term_parts[kMaxWeights];
  Expansion ex[kMaxWeights];
  size_t n = 0, na = 0, nex = 0, t_off = 0;
  for (size_t i = 0; i < count; ++i) {
    const LowRank* lr = lrs ? lrs[i] : nullptr;
    const bool has_rows = Ws[i]->rows > 0;
    if (has_rows) products[n++] = product_of(*Ws[i], ys[i], ldys[i], accumulate);
    if (!lr) continue;
    if (fused && has_rows) {
      term_a[i] = product_of(a_views[i], nullptr, lr->kq, false);
      products[n - 1].term = lr;
      products[n - 1].term_a = &term_a[i];
      if (pool.size() > 1) {
        term_parts[i].store(0, std::memory_order_relaxed);
        products[n - 1].term_t = scratch.lr_t.data() + t_off;
        products[n - 1].term_parts = &term_parts[i];
        t_off += static_cast<size_t>(M) * lr->kq * pool.size();
      }
      continue;
    }
    // t for every token first (A's products in one pass), then the term rides
    // in its weight's product, or (no rows: low_rank_add) expands on its own.
    float* t = scratch.lr_t.data() + t_off;
    a_products[na++] = product_of(a_views[i], t, lr->kq, false);
    ex[nex] = Expansion{lr, has_rows, t, scratch.lr_q.data() + t_off, scratch.lr_d.data() + nex * M, ys[i], ldys[i]};
    if (has_rows) {
      products[n - 1].term = lr;
      products[n - 1].term_q = ex[nex].q;
      products[n - 1].term_d = ex[nex].d;
    }
    ++nex;
    t_off += static_cast<size_t>(M) * lr->kq;
  }
  if (na > 0) {
    run_products(a_products, na, M, pool);
    for (size_t i = 0; i < nex; ++i) quantize_t(ex[i], M);
  }
  run_products(products, n, M, pool);
  size_t rest = 0;
  for (size_t i = 0; i < nex; ++i)
    if (!ex[i].in_product) ex[rest++] = ex[i];
  if (rest > 0) run_expansions(ex, rest, M, pool);
}

}  // namespace

WeightView row_range(const WeightView& W, int64_t r0, int64_t n) {
  if (r0 < 0 || n < 0 || r0 + n > W.rows) throw Error("row_range: rows outside the weight");
  WeightView v = W;
  v.data = W.data + static_cast<size_t>(r0) * W.row_bytes;
  v.rows = n;
  v.row_groups = W.row_groups && r0 % kRowGroup == 0
                     ? W.row_groups + static_cast<size_t>(r0 / kRowGroup) * row_group_bytes(W.type, W.cols)
                     : nullptr;
  return v;
}

void matmul(const WeightView& W, const float* X, int64_t M, int64_t ldx, float* Y, int64_t ldy, bool accumulate,
            ThreadPool& pool, MatmulScratch& scratch, const LowRank* low_rank) {
  check_weight(W, M, ldx, ldy);
  check_low_rank(low_rank, W);
  kernels_or_throw(W);
  const WeightView* ws[1] = {&W};
  float* ys[1] = {Y};
  const int64_t lds[1] = {ldy};
  const LowRank* lrs[1] = {low_rank};
  multiply(ws, 1, X, M, ldx, ys, lds, accumulate, lrs, pool, scratch);
}

void matmul_multi(const std::vector<const WeightView*>& Ws, const float* X, int64_t M, int64_t ldx,
                  const std::vector<float*>& ys, const std::vector<int64_t>& ldys, ThreadPool& pool,
                  MatmulScratch& scratch, const std::vector<const LowRank*>* low_ranks) {
  if (Ws.size() != ys.size() || Ws.size() != ldys.size())
    throw Error("matmul_multi: weights, outputs and strides differ in count");
  if (low_ranks && low_ranks->size() != Ws.size()) throw Error("matmul_multi: low-rank terms and weights differ in count");
  if (Ws.empty() || M == 0) return;
  if (Ws.size() > kMaxWeights) throw Error("matmul_multi: at most 8 weights per call");
  const int64_t cols = Ws[0]->cols;
  for (size_t i = 0; i < Ws.size(); ++i) {
    if (!Ws[i]) throw Error("matmul_multi: null weight");
    if (Ws[i]->cols != cols) throw Error("matmul_multi: weights differ in column count");
    check_weight(*Ws[i], M, ldx, ldys[i]);
    if (low_ranks) check_low_rank((*low_ranks)[i], *Ws[i]);
    kernels_or_throw(*Ws[i]);
  }
  multiply(Ws.data(), Ws.size(), X, M, ldx, ys.data(), ldys.data(), false, low_ranks ? low_ranks->data() : nullptr, pool,
           scratch);
}

void low_rank_add(const LowRank& lr, const float* X, int64_t M, int64_t ldx, float* Y, int64_t ldy, ThreadPool& pool,
                  MatmulScratch& scratch) {
  if (ldx < lr.in || ldy < lr.out) throw Error("low_rank_add: a stride is smaller than a row");
  WeightView none{lr.a_type, 0, lr.in, nullptr, row_bytes(lr.a_type, lr.in)};
  const WeightView* ws[1] = {&none};
  float* ys[1] = {Y};
  const int64_t lds[1] = {ldy};
  const LowRank* lrs[1] = {&lr};
  multiply(ws, 1, X, M, ldx, ys, lds, true, lrs, pool, scratch);
}

void matmul_reference(const WeightView& W, const float* X, int64_t M, int64_t ldx, float* Y, int64_t ldy) {
  check_weight(W, M, ldx, ldy);
  std::vector<float> row(static_cast<size_t>(W.cols));
  for (int64_t r = 0; r < W.rows; ++r) {
    scalar::dequantize_row(W.type, W.data + r * static_cast<int64_t>(W.row_bytes), row.data(), W.cols);
    for (int64_t m = 0; m < M; ++m) {
      double sum = 0;
      for (int64_t i = 0; i < W.cols; ++i) sum += static_cast<double>(row[i]) * X[m * ldx + i];
      Y[m * ldy + r] = static_cast<float>(sum);
    }
  }
}

}  // namespace first
