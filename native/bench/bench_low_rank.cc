// What a LoRA adapter's low-rank terms add to one decode token's matmuls, on
// SmolLM2-135M shapes laid out as the engine lays them (Q4_1 weights and a
// Q8_0 head in row groups where the kernel set has them; q/k/v and gate/up
// share one call). Plain and adapted tokens alternate round by round in one
// process, so a drift in memory bandwidth hits both; medians and their ratio.
// Not part of the test build. Build by hand against the engine library, e.g.:
//   g++ -std=c++17 -O3 -Iinclude -Isrc bench/bench_low_rank.cc build/libfirst_engine.a -lpthread -o /tmp/bench_low_rank
//   /tmp/bench_low_rank [rank=16] [rounds=1001]   (BENCH_THREADS=1|2, BENCH_ONLY=plain|adapted for a profiler)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "first/matmul.h"
#include "first/quant.h"
#include "first/row_groups.h"

using namespace first;

namespace {

struct Weight {
  std::vector<uint8_t> bytes;
  RowGroups groups;
  WeightView view;
};

std::unique_ptr<Weight> random_weight(TensorType t, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> dist(0, 0.05f);
  auto w = std::make_unique<Weight>();
  const size_t rb = row_bytes(t, cols);
  w->bytes.resize(rb * rows);
  std::vector<float> row(cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = dist(rng);
    quantize_row(t, row.data(), w->bytes.data() + r * rb, cols);
  }
  w->view = WeightView{t, rows, cols, w->bytes.data(), rb};
  if (active_kernel_set() == KernelSet::Avx512 && row_groups_supported(t) && rows >= kRowGroup) {
    w->groups = make_row_groups(w->view);
    w->view.row_groups = w->groups.data.get();
  }
  return w;
}

LowRank random_term(int rank, int64_t in, int64_t out, std::mt19937& rng) {
  std::normal_distribution<float> dist(0, 0.05f);
  std::vector<float> A(static_cast<size_t>(rank) * in), B(static_cast<size_t>(out) * rank);
  for (auto& v : A) v = dist(rng);
  for (auto& v : B) v = dist(rng);
  return make_low_rank(rank, in, out, 2.f, A.data(), B.data());
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int rank = argc > 1 ? std::atoi(argv[1]) : 16;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 1001;
  constexpr int kLayers = 30;
  constexpr int64_t d = 576, kv = 192, ff = 1536, vocab = 49152;
  std::mt19937 rng(1);
  struct Layer {
    std::unique_ptr<Weight> q, k, v, o, gate, up, down;
    LowRank lq, lk, lv, lo, lgate, lup, ldown;
  };
  std::vector<Layer> layers(kLayers);
  for (auto& L : layers) {
    L.q = random_weight(TensorType::Q4_1, d, d, rng);
    L.k = random_weight(TensorType::Q4_1, kv, d, rng);
    L.v = random_weight(TensorType::Q4_1, kv, d, rng);
    L.o = random_weight(TensorType::Q4_1, d, d, rng);
    L.gate = random_weight(TensorType::Q4_1, ff, d, rng);
    L.up = random_weight(TensorType::Q4_1, ff, d, rng);
    L.down = random_weight(TensorType::Q4_1, d, ff, rng);
    L.lq = random_term(rank, d, d, rng);
    L.lk = random_term(rank, d, kv, rng);
    L.lv = random_term(rank, d, kv, rng);
    L.lo = random_term(rank, d, d, rng);
    L.lgate = random_term(rank, d, ff, rng);
    L.lup = random_term(rank, d, ff, rng);
    L.ldown = random_term(rank, ff, d, rng);
  }
  auto head = random_weight(TensorType::Q8_0, vocab, d, rng);
  std::vector<float> x(d, 0.5f), q(d), k(kv), v(kv), gate(ff), up(ff), logits(vocab);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.1f * i);
  std::vector<float> act(ff);
  for (size_t i = 0; i < act.size(); ++i) act[i] = std::cos(0.07f * i);
  std::printf("kernels: %s, rank %d, %d rounds\n", kernel_isa(), rank, rounds);
  // BENCH_THREADS=1 or 2 runs that thread count alone.
  const char* only_threads = std::getenv("BENCH_THREADS");
  for (int threads : {1, 2}) {
    if (only_threads && std::atoi(only_threads) != threads) continue;
    ThreadPool pool(threads);
    MatmulScratch mm;
    auto token = [&](bool adapted) {
      for (auto& L : layers) {
        std::vector<const LowRank*> qkv = {&L.lq, &L.lk, &L.lv}, gu = {&L.lgate, &L.lup};
        matmul_multi({&L.q->view, &L.k->view, &L.v->view}, x.data(), 1, d, {q.data(), k.data(), v.data()}, {d, kv, kv},
                     pool, mm, adapted ? &qkv : nullptr);
        matmul(L.o->view, q.data(), 1, d, x.data(), d, true, pool, mm, adapted ? &L.lo : nullptr);
        matmul_multi({&L.gate->view, &L.up->view}, x.data(), 1, d, {gate.data(), up.data()}, {ff, ff}, pool, mm,
                     adapted ? &gu : nullptr);
        matmul(L.down->view, act.data(), 1, ff, x.data(), d, true, pool, mm, adapted ? &L.ldown : nullptr);
        for (auto& e : x) e = std::tanh(e);  // keep x bounded, like the norm would
      }
      matmul(head->view, x.data(), 1, d, logits.data(), vocab, false, pool, mm);
    };
    std::vector<double> plain, adapted;
    // BENCH_ONLY=adapted or plain runs one side alone (for a profiler).
    const char* only = std::getenv("BENCH_ONLY");
    for (int r = 0; r < rounds + 2; ++r)
      for (bool a : {false, true}) {
        if (only && std::string(only) != (a ? "adapted" : "plain")) continue;
        auto t0 = std::chrono::steady_clock::now();
        token(a);
        const double ms = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1e3;
        if (r >= 2) (a ? adapted : plain).push_back(ms);  // two warm-up rounds
      }
    if (only) continue;
    // Each round's adapted token over its plain one: a drift slower than a round cancels.
    std::vector<double> ratios;
    for (size_t i = 0; i < plain.size(); ++i) ratios.push_back(adapted[i] / plain[i]);
    const double p = median(plain), a = median(adapted);
    std::printf("%d thread(s): plain %.3f ms, adapted %.3f ms, x%.3f (median of the rounds' ratios x%.3f)\n", threads, p,
                a, a / p, median(ratios));
    std::fflush(stdout);
  }
  return 0;
}
