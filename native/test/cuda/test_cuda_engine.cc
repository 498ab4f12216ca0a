// The CUDA engine against the CPU engine on tiny random llama models: the
// same prompts and greedy continuations, entries with their own layer masks,
// a fork that then diverges (copy-on-write of a shared block), both through
// step() and the layer-by-layer calls. Logits must agree within
// kLogitBound * max(1, max |logit|); greedy tokens must be equal wherever the
// CPU's top two logits are further apart than that bound.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cuda/cuda_testing.h"
#include "first/cuda/cuda_engine.h"
#include "first/engine.h"
#include "first/error.h"
#include "harness.h"
#include "train_testing.h"

using namespace first;
using first::cuda::CudaEngine;
using first::cuda::CudaEngineOptions;
using first::cuda::StepEntry;

namespace {

constexpr double kLogitBound = 2e-3;

train_testing::TinyConfig tiny(TensorType weights, TensorType embd) {
  train_testing::TinyConfig c;
  c.n_layers = 3;
  c.d = 64;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.ffn = 96;
  c.vocab = 50;
  c.context = 128;
  c.weights = weights;
  c.embd = embd;
  return c;
}

int argmax(const float* x, int n) { return static_cast<int>(std::max_element(x, x + n) - x); }

// Compares one step's logits (rows x vocab); returns the CPU's greedy tokens.
std::vector<int32_t> compare(const std::vector<float>& cpu, const std::vector<float>& gpu, int vocab,
                             const std::string& where) {
  std::vector<int32_t> next;
  const int rows = static_cast<int>(cpu.size() / vocab);
  for (int r = 0; r < rows; ++r) {
    const float* a = cpu.data() + r * vocab;
    const float* b = gpu.data() + r * vocab;
    double mx = 1, diff = 0;
    for (int i = 0; i < vocab; ++i) {
      mx = std::max(mx, std::fabs(double(a[i])));
      diff = std::max(diff, std::fabs(double(a[i]) - b[i]));
    }
    const double bound = kLogitBound * mx;
    CHECK(diff <= bound) << where << " row " << r << ": logits differ by " << diff << " (bound " << bound << ")";
    const int ta = argmax(a, vocab), tb = argmax(b, vocab);
    std::vector<float> sorted(a, a + vocab);
    std::sort(sorted.rbegin(), sorted.rend());
    if (sorted[0] - sorted[1] > 2 * bound) CHECK(ta == tb) << where << " row " << r << ": greedy " << ta << " vs " << tb;
    next.push_back(ta);
  }
  return next;
}

// CPU side of a step: each entry runs the layers its mask keeps.
std::vector<float> cpu_step(Engine& e, const std::vector<StepEntry>& in) {
  std::vector<BatchEntry> batch;
  for (const auto& s : in) batch.push_back({s.seq, s.tokens});
  e.begin_batch(batch);
  for (int l = 0; l < e.config().n_layers; ++l) {
    std::vector<int> which;
    for (size_t i = 0; i < in.size(); ++i)
      if (in[i].layers.empty() || in[i].layers[l]) which.push_back(static_cast<int>(i));
    e.run_layer(l, which);
  }
  std::vector<float> out(static_cast<size_t>(e.logits_rows(true)) * e.config().vocab_size);
  e.logits(out.data(), true);
  e.commit_batch();
  return out;
}

void run_scenario(TensorType weights, TensorType embd) {
  const std::string name = std::string(type_info(static_cast<uint32_t>(weights))->name) + "/" +
                           type_info(static_cast<uint32_t>(embd))->name;
  auto model = train_testing::tiny_model(tiny(weights, embd));
  EngineOptions eo;
  eo.threads = 2;
  eo.block_tokens = 8;
  eo.max_sequences = 6;
  Engine cpu(*model, eo);
  CudaEngineOptions co;
  co.block_tokens = 8;
  co.max_sequences = 6;
  CudaEngine gpu(*model, co);
  const int vocab = model->config().vocab_size;

  std::vector<int> cs, gs;
  for (int i = 0; i < 3; ++i) {
    cs.push_back(cpu.create_sequence());
    gs.push_back(gpu.create_sequence());
    CHECK(cs.back() == gs.back());
  }
  // Prefill: 13, 1 and 20 tokens; entry 1 skips layer 1, entry 2 layers 0 and 2.
  const std::vector<std::vector<uint8_t>> masks = {{}, {1, 0, 1}, {0, 1, 0}};
  std::vector<StepEntry> step;
  for (int i = 0; i < 3; ++i) {
    StepEntry s;
    s.seq = cs[i];
    for (int t = 0; t < (i == 0 ? 13 : i == 1 ? 1 : 20); ++t) s.tokens.push_back((7 * t + 3 * i + 1) % vocab);
    s.layers = masks[i];
    step.push_back(s);
  }
  std::vector<float> gl(3 * vocab);
  gpu.step(step, gl.data());
  std::vector<int32_t> next = compare(cpu_step(cpu, step), gl, vocab, name + " prefill");
  CHECK(gpu.sequence_layer_blocks(gs[1], 1) == 0) << "a skipped layer holds no KV block";
  CHECK(gpu.sequence_layer_blocks(gs[2], 0) == 0 && gpu.sequence_layer_blocks(gs[2], 1) == 3);

  for (int it = 0; it < 8; ++it) {
    if (it == 2) {  // fork entry 0 at 15 positions (mid-block): the shared last block is copied on the next write
      cs.push_back(cpu.fork_sequence(cs[0]));
      gs.push_back(gpu.fork_sequence(gs[0]));
      CHECK(cs.back() == gs.back());
      StepEntry s;
      s.seq = cs.back();
      step.push_back(s);
      next.push_back((next[0] + 5) % vocab);  // the fork takes another token
    }
    for (size_t i = 0; i < step.size(); ++i) step[i].tokens = {next[i]};
    gl.assign(step.size() * vocab, 0.f);
    gpu.step(step, gl.data());
    next = compare(cpu_step(cpu, step), gl, vocab, name + " decode " + std::to_string(it));
  }
  for (size_t i = 0; i < cs.size(); ++i) CHECK(gpu.sequence_length(gs[i]) == cpu.sequence_length(cs[i]));
  CHECK(gpu.used_blocks() == cpu.kv().used_blocks()) << gpu.used_blocks() << " vs " << cpu.kv().used_blocks();

  // The layer-by-layer calls give the same hidden state as the CPU's.
  std::vector<BatchEntry> b = {{cs[1], {4, 9}}, {cs[0], {2}}};
  cpu.begin_batch(b);
  gpu.begin_batch(b);
  cpu.run_layer(0, {1, 0});
  gpu.run_layer(0, {1, 0});
  cpu.run_layer(2, {0});
  gpu.run_layer(2, {0});
  const int d = model->config().d_model;
  std::vector<float> hc(d), hg(d);
  for (int e = 0; e < 2; ++e) {
    cpu.mean_hidden(e, hc.data());
    gpu.mean_hidden(e, hg.data());
    double diff = 0, mx = 1;
    for (int j = 0; j < d; ++j) diff = std::max(diff, std::fabs(double(hc[j]) - hg[j])), mx = std::max(mx, std::fabs(double(hc[j])));
    CHECK(diff <= 1e-3 * mx) << name << " mean_hidden of entry " << e << " differs by " << diff;
  }
  std::vector<float> lc(2 * vocab), lg(2 * vocab);
  cpu.logits(lc.data());
  gpu.logits(lg.data());
  compare(lc, lg, vocab, name + " layer by layer");
  cpu.commit_batch();
  gpu.commit_batch();
}

}  // namespace

TEST(cuda_engine_refuses_cleanly_without_a_device) {
  if (first::cuda::probe_device().available) {
    std::printf("     skipped: a CUDA device is present\n");
    return;
  }
  auto model = train_testing::tiny_model(tiny(TensorType::F32, TensorType::F32));
  bool threw = false;
  try {
    CudaEngine e(*model, CudaEngineOptions{});
  } catch (const first::Error& err) {
    threw = std::string(err.what()).find("no CUDA device") != std::string::npos;
    std::printf("     %s\n", err.what());
  }
  CHECK(threw) << "expected a first::Error saying there is no CUDA device";
}

TEST(cuda_engine_matches_cpu_q4_1_q8_0) {
  REQUIRE_GPU();
  run_scenario(TensorType::Q4_1, TensorType::Q8_0);
}

TEST(cuda_engine_matches_cpu_q8_0_q4_0) {
  REQUIRE_GPU();
  run_scenario(TensorType::Q8_0, TensorType::Q4_0);
}

TEST(cuda_engine_matches_cpu_float_formats) {
  REQUIRE_GPU();
  run_scenario(TensorType::F32, TensorType::F32);
  run_scenario(TensorType::F16, TensorType::BF16);
  run_scenario(TensorType::BF16, TensorType::F16);
}

TEST(cuda_engine_refuses_unsupported_weights) {
  REQUIRE_GPU();
  auto cfg = tiny(TensorType::Q6_K, TensorType::Q8_0);
  cfg.d = cfg.ffn = 256;  // K-quant rows are whole super-blocks of 256
  auto model = train_testing::tiny_model(cfg);
  bool threw = false;
  try {
    CudaEngine e(*model, CudaEngineOptions{});
  } catch (const first::Error& err) {
    threw = std::string(err.what()).find("no CUDA kernel") != std::string::npos;
  }
  CHECK(threw);
}
