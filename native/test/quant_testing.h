// Helpers shared by the quant and matmul tests: random data, weight rows in
// any format, and the error bound that activation quantization allows.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <random>
#include <vector>

#include "first/quant.h"
#include "first/tensor_type.h"

namespace quant_testing {

// The kernel sets this CPU runs, best first (scalar always); says once, on
// stderr, which sets it lacks, since their tests then do not run here.
inline const std::vector<first::KernelSet>& kernel_sets_here() {
  static const std::vector<first::KernelSet> sets = [] {
    std::vector<first::KernelSet> v;
    const first::KernelSet best = first::best_kernel_set();
    for (first::KernelSet s : {first::KernelSet::Avx512, first::KernelSet::Avx2, first::KernelSet::Scalar}) {
      if (s <= best)
        v.push_back(s);
      else
        std::fprintf(stderr, "  note: this CPU lacks the %s kernels; their tests are skipped here\n", first::kernel_set_name(s));
    }
    return v;
  }();
  return sets;
}

// Runs fn once on every kernel set this CPU has, then lifts the cap again.
template <typename Fn>
void on_every_kernel_set(Fn fn) {
  for (first::KernelSet s : kernel_sets_here()) {
    first::set_kernel_limit(s);
    fn();
  }
  first::set_kernel_limit(first::KernelSet::Avx512);
}


inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline const first::TensorType kWeightTypes[] = {
    first::TensorType::F32,  first::TensorType::F16,  first::TensorType::BF16, first::TensorType::Q4_0,
    first::TensorType::Q4_1, first::TensorType::Q8_0, first::TensorType::Q4_K, first::TensorType::Q6_K,
};

inline int64_t block_of(first::TensorType t) { return first::type_info(static_cast<uint32_t>(t))->block_size; }
inline const char* name_of(first::TensorType t) { return first::type_info(static_cast<uint32_t>(t))->name; }

// rows x cols weights quantized to t, rows packed back to back.
inline std::vector<uint8_t> make_weights(first::TensorType t, int64_t rows, int64_t cols, uint32_t seed) {
  const size_t rb = first::row_bytes(t, cols);
  std::vector<uint8_t> w(rb * static_cast<size_t>(rows));
  auto f = random_floats(static_cast<size_t>(rows * cols), seed, 0.05f);
  for (int64_t r = 0; r < rows; ++r) first::quantize_row(t, f.data() + r * cols, w.data() + r * rb, cols);
  return w;
}

// Largest error quantizing x into w's dot partner may add to dot(w, x):
// each activation moves by at most half a step (amax of its block / 254)
// plus the f16 rounding of the block scale (amax / 2048).
inline double partner_error_bound(first::TensorType t, const float* w_deq, const float* x, int64_t n) {
  const first::TensorType p = first::dot_partner(t);
  double bound = 0, magnitude = 0;
  const int64_t blk = p == first::TensorType::F32 ? 1 : block_of(p);
  for (int64_t b = 0; b < n; b += blk) {
    double amax = 0;
    for (int64_t i = b; i < b + blk; ++i) amax = std::fmax(amax, std::fabs(x[i]));
    const double half_step = p == first::TensorType::F32 ? 0.0 : amax * (1.0 / 254.0 + 1.0 / 2048.0) * 1.01;
    for (int64_t i = b; i < b + blk; ++i) {
      bound += std::fabs(w_deq[i]) * half_step;
      magnitude += std::fabs(double(w_deq[i]) * x[i]);
    }
  }
  // Float accumulation adds a little on top.
  return bound + 1e-4 * magnitude + 1e-6;
}

inline double dot_double(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(a[i]) * b[i];
  return s;
}

}  // namespace quant_testing
