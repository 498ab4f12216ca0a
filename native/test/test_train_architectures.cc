// The trainer's gradients on every architecture's layer (biases, per-head
// q/k norms, post-norms, GELU, sliding windows, fused tensors) against
// central differences of its own forward pass: LoRA gradients of all seven
// modules and the gates' gradients of every layer.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "first/train.h"
#include "harness.h"
#include "train_testing.h"

using namespace first;
using namespace train_testing;

namespace {

std::vector<TrainSequence> batch_of(int vocab) {
  std::vector<TrainSequence> b(2);
  b[0].tokens = {1, 5, 9, 2, 7, 3};
  b[0].targets = {-1, 9, 2, 7, 3, 4};
  b[0].prompt_length = 2;
  b[1].tokens = {8, 3, 6, 12, 1};
  b[1].targets = {3, -1, 12, 1, vocab - 1};
  b[1].prompt_length = 3;
  return b;
}

// Loss after a gated forward with the trainer's current weights.
double forward_loss(Trainer& t, const std::vector<TrainSequence>& batch, const std::vector<std::vector<float>>& gates) {
  t.begin(batch);
  for (size_t l = 0; l < gates.size(); ++l) t.forward_layer(int(l), gates[l].data(), int(gates[l].size()));
  const double loss = t.loss().loss;
  t.end();
  return loss;
}

void check_architecture(const std::string& arch, int head_dim) {
  TinyConfig tc;
  tc.arch = arch;
  tc.head_dim = head_dim;
  tc.n_layers = 3;
  tc.d = 32;
  tc.ffn = 40;
  tc.vocab = 37;
  auto model = tiny_model(tc);
  const ModelConfig& c = model->config();
  TrainerOptions to;
  to.threads = 1;
  to.lora_rank = 2;
  to.lora_alpha = 4;
  to.lora_targets = {"q", "k", "v", "o", "gate", "up", "down"};
  to.ce_chunk = 10;
  Trainer t(*model, to);
  uint32_t seed = 400;
  for (const auto& info : t.lora_tensors())
    if (info.kind == "B") {
      auto v = randn(info.rows * info.cols, seed++, 0.3f);
      t.set_lora(info.name, v.data(), int64_t(v.size()));
    }
  const auto batch = batch_of(c.vocab_size);
  const int S = int(batch.size());
  std::vector<std::vector<float>> gates = {{0.9f, 1.f}, {0.6f, 0.8f}, {1.f, 0.7f}};

  t.zero_grad();
  t.begin(batch);
  for (int l = 0; l < c.n_layers; ++l) t.forward_layer(l, gates[l].data(), S);
  t.loss();
  std::vector<std::vector<float>> dg(c.n_layers, std::vector<float>(S));
  for (int l = c.n_layers - 1; l >= 0; --l) t.backward_layer(l, nullptr, dg[l].data());
  t.end();

  // The forward runs in float: a step of 5e-3 keeps its rounding noise in
  // the difference quotient near 1e-4 and the curvature term small; a wrong
  // or missing backward step is off by far more than the 2% allowed.
  const double h = 5e-3, floor = 2e-2, tol = 2e-2;
  for (int l = 0; l < c.n_layers; ++l) {
    std::vector<double> g0(gates[l].begin(), gates[l].end());
    const std::string label = arch + " dL/dg_" + std::to_string(l);
    fd_check(label.c_str(), g0, [&](const std::vector<double>& g) {
      auto gs = gates;
      for (int s = 0; s < S; ++s) gs[l][s] = float(g[s]);
      return forward_loss(t, batch, gs);
    }, [&](size_t s) { return dg[l][s]; }, all_coords(S), h, floor, tol);
  }
  for (const auto& info : t.lora_tensors()) {
    if (info.layer == 2) continue;  // gemma3: layer 0 slides, layer 1 attends to all
    const int64_t n = info.rows * info.cols;
    std::vector<float> w(n), grad(n);
    t.get_lora(info.name, w.data());
    t.lora_grad(info.name, grad.data());
    const std::string label = arch + " " + info.name;
    fd_check(label.c_str(), to_double(w), [&](const std::vector<double>& x) {
      std::vector<float> f(x.begin(), x.end());
      t.set_lora(info.name, f.data(), n);
      const double loss = forward_loss(t, batch, gates);
      t.set_lora(info.name, w.data(), n);
      return loss;
    }, [&](size_t i) { return grad[i]; }, some_coords(n, 4, 11), h, floor, tol);
  }
}

}  // namespace

TEST(train_gradients_on_every_architecture_vs_finite_differences) {
  check_architecture("llama", 0);
  check_architecture("qwen2", 0);
  check_architecture("qwen3", 16);
  check_architecture("gemma3", 16);
  check_architecture("phi3", 0);
}
