// CUDA engine throughput on a random model of SmolLM2-135M's shape (30
// layers, d_model 576, 9 heads, 3 KV heads, head_dim 64, ffn 1536, vocab
// 49152, Q4_1 layers, tied Q8_0 embedding/head), generated here: decode
// tokens/s at batch 1, 16 and 64 and prefill tokens/s of a 512-token prompt,
// with every layer and with 6 and 9 layers skipped. Writes JSON.
//
// Usage: first_cuda_bench [out.json] [decode_steps]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "first/cuda/cuda_engine.h"
#include "first/cuda/device.h"
#include "first/error.h"
#include "train_testing.h"

using namespace first;
using first::cuda::CudaEngine;
using first::cuda::StepEntry;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// n_layers flags with `skip` middle layers off, spread evenly (the first and
// last layers always run, as FiRST's routers keep them).
std::vector<uint8_t> mask_skipping(int n_layers, int skip) {
  std::vector<uint8_t> m(n_layers, 1);
  for (int i = 0; i < skip; ++i) m[1 + (i * (n_layers - 2)) / skip] = 0;
  return m;
}

struct Result {
  std::string kind;
  int batch, skipped, tokens;
  double seconds;
};

// Decode: `batch` sequences with a 32-token prompt each, then `steps` timed
// steps of one token per sequence (after two untimed ones).
Result bench_decode(const Model& model, int batch, int skip, int steps) {
  cuda::CudaEngineOptions o;
  o.max_sequences = batch;
  o.context_length = 32 + steps + 8;
  CudaEngine e(model, o);
  const int vocab = model.config().vocab_size, L = model.config().n_layers;
  const auto mask = mask_skipping(L, skip);
  std::vector<StepEntry> step(batch);
  for (int i = 0; i < batch; ++i) {
    step[i].seq = e.create_sequence();
    step[i].layers = mask;
    for (int t = 0; t < 32; ++t) step[i].tokens.push_back((i * 131 + t * 17) % vocab);
  }
  std::vector<float> logits(static_cast<size_t>(batch) * vocab);
  e.step(step, logits.data());
  auto next = [&] {
    for (int i = 0; i < batch; ++i)
      step[i].tokens = {static_cast<int32_t>(std::max_element(logits.begin() + i * vocab, logits.begin() + (i + 1) * vocab) -
                                             (logits.begin() + i * vocab))};
  };
  for (int w = 0; w < 2; ++w) {
    next();
    e.step(step, logits.data());
  }
  const double t0 = now_s();
  for (int s = 0; s < steps; ++s) {
    next();
    e.step(step, logits.data());
  }
  return {"decode", batch, skip, batch * steps, now_s() - t0};
}

Result bench_prefill(const Model& model, int skip, int prompt, int reps) {
  cuda::CudaEngineOptions o;
  o.max_sequences = 1;
  o.context_length = prompt;
  CudaEngine e(model, o);
  const int vocab = model.config().vocab_size;
  std::vector<StepEntry> step(1);
  step[0].layers = mask_skipping(model.config().n_layers, skip);
  for (int t = 0; t < prompt; ++t) step[0].tokens.push_back((t * 7919) % vocab);
  std::vector<float> logits(vocab);
  double total = 0;
  for (int r = 0; r <= reps; ++r) {
    step[0].seq = e.create_sequence();
    const double t0 = now_s();
    e.step(step, logits.data());
    if (r > 0) total += now_s() - t0;  // the first is a warm-up
    e.free_sequence(step[0].seq);
  }
  return {"prefill", 1, skip, prompt * reps, total};
}

}  // namespace

int main(int argc, char** argv) {
  const std::string out_path = argc > 1 ? argv[1] : "bench_cuda.json";
  const int steps = argc > 2 ? std::atoi(argv[2]) : 64;
  try {
    const cuda::DeviceInfo dev = cuda::probe_device();
    if (!dev.available) {
      std::fprintf(stderr, "no CUDA device: %s\n", dev.reason.c_str());
      return 2;
    }
    train_testing::TinyConfig c;
    c.n_layers = 30;
    c.d = 576;
    c.n_heads = 9;
    c.n_kv_heads = 3;
    c.ffn = 1536;
    c.vocab = 49152;
    c.context = 8192;
    c.weights = TensorType::Q4_1;
    c.embd = TensorType::Q8_0;
    c.rope_base = 100000.f;
    const double g0 = now_s();
    auto model = train_testing::tiny_model(c);
    std::fprintf(stderr, "random SmolLM2-135M-shaped model made in %.1f s\n", now_s() - g0);

    std::vector<Result> results;
    for (int skip : {0, 6, 9}) {
      for (int batch : {1, 16, 64}) {
        results.push_back(bench_decode(*model, batch, skip, steps));
        const Result& r = results.back();
        std::fprintf(stderr, "decode  batch %2d skip %d: %8.1f tok/s\n", batch, skip, r.tokens / r.seconds);
      }
      results.push_back(bench_prefill(*model, skip, 512, 5));
      const Result& r = results.back();
      std::fprintf(stderr, "prefill 512     skip %d: %8.1f tok/s\n", skip, r.tokens / r.seconds);
    }
    FILE* f = std::fopen(out_path.c_str(), "w");
    if (!f) throw Error("cannot write " + out_path);
    std::fprintf(f, "{\n  \"device\": \"%s\",\n  \"model\": \"random, SmolLM2-135M shape, Q4_1 layers, tied Q8_0 head\",\n",
                 dev.name.c_str());
    std::fprintf(f, "  \"decode_steps\": %d,\n  \"results\": [\n", steps);
    for (size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      std::fprintf(f,
                   "    {\"kind\": \"%s\", \"batch\": %d, \"layers_skipped\": %d, \"tokens\": %d, \"seconds\": %.6f, "
                   "\"tokens_per_s\": %.2f}%s\n",
                   r.kind.c_str(), r.batch, r.skipped, r.tokens, r.seconds, r.tokens / r.seconds,
                   i + 1 < results.size() ? "," : "");
    }
    std::fprintf(f, "  ]\n}\n");
    std::fclose(f);
    std::fprintf(stderr, "wrote %s\n", out_path.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda: %s\n", e.what());
    return 1;
  }
  return 0;
}
