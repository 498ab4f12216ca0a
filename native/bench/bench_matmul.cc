// Microbenchmark of the matmul kernels on SmolLM2-135M shapes (not part of the
// test build). Build by hand, e.g.:
//   g++ -std=c++17 -O3 -Iinclude -Isrc bench/bench_matmul.cc src/tensor_type.cc src/cpu/*.cc src/quant/*.cc -lpthread
// (with -mavx2 -mfma -mf16c only on the src/quant/*_avx2.cc objects).
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "first/matmul.h"
#include "first/quant.h"

using namespace first;

namespace {

double run_case(TensorType t, int64_t rows, int64_t cols, int64_t M, int threads) {
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0, 0.05f);
  const size_t rb = row_bytes(t, cols);
  std::vector<uint8_t> w(rb * rows);
  std::vector<float> row(cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = dist(rng);
    quantize_row(t, row.data(), w.data() + r * rb, cols);
  }
  std::vector<float> X(M * cols), Y(M * rows);
  for (auto& v : X) v = dist(rng) * 20;
  WeightView W{t, rows, cols, w.data(), rb};
  ThreadPool pool(threads);
  MatmulScratch scratch;
  const double flops = 2.0 * rows * cols * M;
  // Repeat until about 0.3 s has passed; report the best of 5 timing rounds.
  int reps = 1;
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) matmul(W, X.data(), M, cols, Y.data(), rows, false, pool, scratch);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s > 0.06) break;
    reps *= 2;
  }
  double best = 1e30;
  for (int round = 0; round < 5; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) matmul(W, X.data(), M, cols, Y.data(), rows, false, pool, scratch);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps);
  }
  return flops / best / 1e9;
}

// One decode token's matmuls for SmolLM2-135M (30 layers of Q4_1 q/k/v/o/gate/up/down
// plus the Q8_0 output head), weights streaming from memory as in real decoding.
double decode_token_ms(int threads) {
  struct Mat { TensorType t; int64_t rows, cols; };
  const Mat layer[] = {{TensorType::Q4_1, 576, 576}, {TensorType::Q4_1, 192, 576}, {TensorType::Q4_1, 192, 576},
                       {TensorType::Q4_1, 576, 576}, {TensorType::Q4_1, 1536, 576}, {TensorType::Q4_1, 1536, 576},
                       {TensorType::Q4_1, 576, 1536}};
  std::vector<std::vector<uint8_t>> store;
  std::vector<WeightView> views;
  for (int l = 0; l < 30; ++l)
    for (const auto& m : layer) {
      const size_t rb = row_bytes(m.t, m.cols);
      store.emplace_back(rb * m.rows, static_cast<uint8_t>(l + 1));  // any bytes: speed does not depend on values
      views.push_back(WeightView{m.t, m.rows, m.cols, nullptr, rb});
    }
  store.emplace_back(row_bytes(TensorType::Q8_0, 576) * 49152, 3);
  views.push_back(WeightView{TensorType::Q8_0, 49152, 576, nullptr, row_bytes(TensorType::Q8_0, 576)});
  for (size_t i = 0; i < views.size(); ++i) views[i].data = store[i].data();
  std::vector<float> X(1536, 0.5f), Y(49152);
  ThreadPool pool(threads);
  MatmulScratch scratch;
  double best = 1e30;
  for (int round = 0; round < 10; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    for (const auto& v : views) matmul(v, X.data(), 1, v.cols, Y.data(), v.rows, false, pool, scratch);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best * 1e3;
}

}  // namespace

int main() {
  struct Shape { TensorType t; int64_t rows, cols; const char* name; };
  const Shape shapes[] = {
      {TensorType::Q4_1, 576, 576, "Q4_1 576x576 (attn q/o)"},
      {TensorType::Q4_1, 1536, 576, "Q4_1 1536x576 (ffn gate/up)"},
      {TensorType::Q4_1, 576, 1536, "Q4_1 576x1536 (ffn down)"},
      {TensorType::Q8_0, 49152, 576, "Q8_0 49152x576 (output head)"},
  };
  std::printf("kernels: %s\n", kernel_isa());
  std::printf("%-30s %6s %8s %10s %10s\n", "shape", "M", "threads", "GFLOP/s", "us/call");
  for (const auto& s : shapes) {
    for (int64_t M : {1, 512}) {
      if (s.rows == 49152 && M == 512) continue;  // prefill only needs the last token's logits
      for (int threads : {1, 2}) {
        const double g = run_case(s.t, s.rows, s.cols, M, threads);
        std::printf("%-30s %6lld %8d %10.1f %10.1f\n", s.name, static_cast<long long>(M), threads, g,
                    2.0 * s.rows * s.cols * M / g / 1e3);
        std::fflush(stdout);
      }
    }
  }
  for (int threads : {1, 2}) {
    const double ms = decode_token_ms(threads);
    std::printf("decode token matmuls (210 layer matmuls + head), %d thread(s): %.2f ms = %.0f tokens/s upper bound\n", threads,
                ms, 1e3 / ms);
  }
  return 0;
}
