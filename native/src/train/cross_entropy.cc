// Cross-entropy over a large vocabulary without ever holding rows x vocab
// logits: pass 1 walks the output head chunk by chunk keeping a running
// log-sum-exp per row; pass 2 recomputes each chunk's logits, turns them
// into softmax - one-hot and accumulates dxn = dlogits * W_out chunk by chunk.
// The logits come from the same quantized matmul inference uses.
#include <algorithm>
#include <cmath>
#include <vector>

#include "first/error.h"
#include "first/train.h"

namespace first {

double chunked_cross_entropy(const WeightView& W_out, const float* w_norm, float eps, const float* h, int64_t rows,
                             const int32_t* targets, const float* row_weights, float* dh, int chunk, ThreadPool& pool,
                             CrossEntropyScratch& sc) {
  if (chunk <= 0) throw Error("cross entropy: chunk must be positive");
  const int64_t d = W_out.cols, V = W_out.rows;
  for (int64_t r = 0; r < rows; ++r)
    if (targets[r] < 0 || targets[r] >= V) throw Error("cross entropy: target " + std::to_string(targets[r]) + " out of range");
  if (rows == 0) return 0.0;
  const int64_t C = std::min<int64_t>(chunk, V);
  sc.xn.resize(rows * d);
  sc.logits.resize(rows * C);
  sc.dxn.assign(rows * d, 0.f);
  rmsnorm(h, w_norm, sc.xn.data(), rows, d, eps);

  std::vector<double> mx(rows, -INFINITY), sum(rows, 0.0), target_logit(rows, 0.0);
  for (int64_t v0 = 0; v0 < V; v0 += C) {
    const int64_t cw = std::min(C, V - v0);
    matmul(row_range(W_out, v0, cw), sc.xn.data(), rows, d, sc.logits.data(), cw, false, pool, sc.mm);
    pool.parallel_for(rows, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const float* l = sc.logits.data() + r * cw;
        const double cmax = *std::max_element(l, l + cw);
        if (cmax > mx[r]) {
          sum[r] *= std::exp(mx[r] - cmax);
          mx[r] = cmax;
        }
        const float m = static_cast<float>(mx[r]);
        float s = 0.f;
        for (int64_t j = 0; j < cw; ++j) s += std::exp(l[j] - m);
        sum[r] += s;
        if (targets[r] >= v0 && targets[r] < v0 + cw) target_logit[r] = l[targets[r] - v0];
      }
    });
  }
  sc.lse.resize(rows);
  double loss = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const double lse = mx[r] + std::log(sum[r]);
    sc.lse[r] = static_cast<float>(lse);
    loss += static_cast<double>(row_weights[r]) * (lse - target_logit[r]);
  }

  for (int64_t v0 = 0; v0 < V; v0 += C) {
    const int64_t cw = std::min(C, V - v0);
    const WeightView Wc = row_range(W_out, v0, cw);
    matmul(Wc, sc.xn.data(), rows, d, sc.logits.data(), cw, false, pool, sc.mm);
    pool.parallel_for(rows, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        float* l = sc.logits.data() + r * cw;
        const float lse = sc.lse[r], w = row_weights[r];
        for (int64_t j = 0; j < cw; ++j) l[j] = std::exp(l[j] - lse) * w;
        if (targets[r] >= v0 && targets[r] < v0 + cw) l[targets[r] - v0] -= w;
      }
    });
    matmul_input_grad(Wc, sc.logits.data(), rows, cw, sc.dxn.data(), d, true, pool);
  }
  rmsnorm_backward(h, w_norm, sc.dxn.data(), dh, rows, d, eps, false, &pool);
  return loss;
}

}  // namespace first
