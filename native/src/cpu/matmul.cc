// Matmuls against block-format weights. X is quantized once into the weights'
// dot partner, then each thread takes a contiguous share of the weight rows:
// decode (M = 1) runs one row-tile kernel call per thread; prefill walks
// kRowBlock weight rows x kTokenBlock tokens so both stay in L1/L2 while they
// are reused.
#include "first/matmul.h"

#include <algorithm>
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
  const LowRank* low_rank;  // may be null
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

struct MultiJob {
  const Product* products;
  size_t count;
  int64_t M;
  const float* X;  // f32 input, for the low-rank projections
  int64_t ldx;
};

// Rows [r0, r1) of a product plus its low-rank term on those rows. The
// projection (rank dots per token) is repeated by every thread that has rows:
// cheaper than a second synchronisation.
void run_share(const MultiJob& job, const Product& p, int64_t r0, int64_t r1) {
  if (r0 >= r1) return;
  run_rows(p, r0, r1, job.M);
  if (!p.low_rank) return;
  thread_local std::vector<float> t;
  t.resize(static_cast<size_t>(p.low_rank->rank));
  for (int64_t m = 0; m < job.M; ++m) {
    low_rank_project(*p.low_rank, job.X + m * job.ldx, t.data());
    low_rank_expand(*p.low_rank, t.data(), p.Y + m * p.ldy, r0, r1);
  }
}

void run_products(const MultiJob& job, ThreadPool& pool) {
  int64_t total_rows = 0;
  for (size_t i = 0; i < job.count; ++i) total_rows += job.products[i].W->rows;
  if (pool.size() == 1 || total_rows * job.M < 64) {
    for (size_t i = 0; i < job.count; ++i) run_share(job, job.products[i], 0, job.products[i].W->rows);
    return;
  }
  pool.run([&job](int t, int nt) {
    for (size_t i = 0; i < job.count; ++i) {
      int64_t r0, r1;
      share_of(job.products[i].W->rows, t, nt, uses_groups(job.products[i]) ? kRowGroup : 4, &r0, &r1);
      run_share(job, job.products[i], r0, r1);
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

void check_low_rank(const LowRank* lr, const WeightView& W, int64_t M) {
  if (!lr) return;
  if (M > kLowRankMaxRows) throw Error("matmul: a low-rank term takes at most " + std::to_string(kLowRankMaxRows) + " rows");
  if (lr->in != W.cols || lr->out != W.rows) throw Error("matmul: low-rank term does not match the weight's shape");
}

}  // namespace

void matmul(const WeightView& W, const float* X, int64_t M, int64_t ldx, float* Y, int64_t ldy, bool accumulate,
            ThreadPool& pool, MatmulScratch& scratch, const LowRank* low_rank) {
  check_weight(W, M, ldx, ldy);
  check_low_rank(low_rank, W, M);
  const quant::FormatKernels& k = kernels_or_throw(W);
  if (M == 0 || W.rows == 0) return;
  const PartnerSlot slot = slot_of(dot_partner(W.type));
  bool needed[kSlotCount] = {};
  if (slot != kSlotNone) needed[slot] = true;
  ActBuffers bufs;
  prepare_buffers(needed, M, W.cols, scratch, &bufs);
  quantize_inputs(bufs, X, M, ldx, W.cols, pool);
  Product p{&W, &k, nullptr, 0, Y, ldy, accumulate, low_rank};
  if (slot == kSlotNone) {
    p.act = reinterpret_cast<const uint8_t*>(X);
    p.act_stride = static_cast<size_t>(ldx) * sizeof(float);
  } else {
    p.act = bufs.data[slot];
    p.act_stride = bufs.stride[slot];
  }
  run_products(MultiJob{&p, 1, M, X, ldx}, pool);
}

void matmul_multi(const std::vector<const WeightView*>& Ws, const float* X, int64_t M, int64_t ldx,
                  const std::vector<float*>& ys, const std::vector<int64_t>& ldys, ThreadPool& pool,
                  MatmulScratch& scratch, const std::vector<const LowRank*>* low_ranks) {
  if (Ws.size() != ys.size() || Ws.size() != ldys.size())
    throw Error("matmul_multi: weights, outputs and strides differ in count");
  if (low_ranks && low_ranks->size() != Ws.size()) throw Error("matmul_multi: low-rank terms and weights differ in count");
  if (Ws.empty() || M == 0) return;
  constexpr size_t kMaxWeights = 8;
  if (Ws.size() > kMaxWeights) throw Error("matmul_multi: at most 8 weights per call");
  const int64_t cols = Ws[0]->cols;
  bool needed[kSlotCount] = {};
  for (size_t i = 0; i < Ws.size(); ++i) {
    if (!Ws[i]) throw Error("matmul_multi: null weight");
    if (Ws[i]->cols != cols) throw Error("matmul_multi: weights differ in column count");
    check_weight(*Ws[i], M, ldx, ldys[i]);
    if (low_ranks) check_low_rank((*low_ranks)[i], *Ws[i], M);
    kernels_or_throw(*Ws[i]);
    const PartnerSlot s = slot_of(dot_partner(Ws[i]->type));
    if (s != kSlotNone) needed[s] = true;
  }
  ActBuffers bufs;
  prepare_buffers(needed, M, cols, scratch, &bufs);
  quantize_inputs(bufs, X, M, ldx, cols, pool);
  Product products[kMaxWeights];
  for (size_t i = 0; i < Ws.size(); ++i) {
    Product& p = products[i];
    p = Product{Ws[i], quant::kernels_for(Ws[i]->type), nullptr, 0, ys[i], ldys[i], false,
                low_ranks ? (*low_ranks)[i] : nullptr};
    const PartnerSlot s = slot_of(dot_partner(Ws[i]->type));
    if (s == kSlotNone) {
      p.act = reinterpret_cast<const uint8_t*>(X);
      p.act_stride = static_cast<size_t>(ldx) * sizeof(float);
    } else {
      p.act = bufs.data[s];
      p.act_stride = bufs.stride[s];
    }
  }
  run_products(MultiJob{products, Ws.size(), M, X, ldx}, pool);
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
