// Helpers for the training tests: a tiny random llama model written to a
// GGUF file and loaded like a real one, random data, and a central
// finite-difference checker that reports the largest relative error.
#pragma once
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "first/gguf.h"
#include "first/model.h"
#include "first/quant.h"
#include "harness.h"

namespace train_testing {

inline std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

struct TinyConfig {
  std::string arch = "llama";  // llama, qwen2 (biases), qwen3 (q/k norms), gemma3 (all of Gemma's pieces), phi3 (fused)
  int head_dim = 0;            // 0: d / n_heads (written as key_length otherwise)
  int n_layers = 2, d = 32, n_heads = 4, n_kv_heads = 2, ffn = 48, vocab = 40, context = 64;
  first::TensorType weights = first::TensorType::F32;  // layer matrices
  first::TensorType embd = first::TensorType::F32;     // token_embd (tied output)
  float rope_base = 10000.f, eps = 1e-5f;
  uint32_t seed = 1;
};

// Writes a GGUF model of c.arch with random weights and loads it (the file
// is removed at once; the mapping keeps the data).
inline std::unique_ptr<first::Model> tiny_model(const TinyConfig& c) {
  std::vector<uint8_t> b;
  auto raw = [&](const void* p, size_t n) { b.insert(b.end(), (const uint8_t*)p, (const uint8_t*)p + n); };
  auto u32 = [&](uint32_t v) { raw(&v, 4); };
  auto u64 = [&](uint64_t v) { raw(&v, 8); };
  auto str = [&](const std::string& s) { u64(s.size()); raw(s.data(), s.size()); };
  auto kv_u32 = [&](const std::string& k, uint32_t v) { str(k), u32(4), u32(v); };
  auto kv_f32 = [&](const std::string& k, float v) { str(k), u32(6), raw(&v, 4); };

  struct T {
    std::string name;
    int64_t cols, rows;  // rows = 1 for vectors
    first::TensorType type;
    std::vector<uint8_t> data;
  };
  std::vector<T> tensors;
  uint32_t seed = c.seed;
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols, first::TensorType t, float scale) {
    auto f = randn(rows * cols, seed++, scale);
    const size_t rb = first::row_bytes(t, cols);
    std::vector<uint8_t> data(rb * rows);
    for (int64_t r = 0; r < rows; ++r) first::quantize_row(t, f.data() + r * cols, data.data() + r * rb, cols);
    tensors.push_back({name, cols, rows, t, std::move(data)});
  };
  auto norm = [&](const std::string& name, int64_t n) {
    auto f = randn(n, seed++, 0.2f);
    for (auto& x : f) x += 1.f;
    std::vector<uint8_t> data(n * 4);
    std::memcpy(data.data(), f.data(), n * 4);
    tensors.push_back({name, n, 1, first::TensorType::F32, std::move(data)});
  };
  auto bias = [&](const std::string& name, int64_t n) {
    auto f = randn(n, seed++, 0.3f);
    std::vector<uint8_t> data(n * 4);
    std::memcpy(data.data(), f.data(), n * 4);
    tensors.push_back({name, n, 1, first::TensorType::F32, std::move(data)});
  };
  const std::string& a = c.arch;
  const int hd = c.head_dim > 0 ? c.head_dim : c.d / c.n_heads, qd = hd * c.n_heads, kvd = hd * c.n_kv_heads;
  matrix("token_embd.weight", c.vocab, c.d, c.embd, a == "gemma3" ? 0.2f : 1.0f);
  norm("output_norm.weight", c.d);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const float s = 1.0f / std::sqrt(float(c.d));
    norm(p + "attn_norm.weight", c.d);
    if (a == "phi3") {
      matrix(p + "attn_qkv.weight", qd + 2 * kvd, c.d, c.weights, 2 * s);
    } else {
      matrix(p + "attn_q.weight", qd, c.d, c.weights, 2 * s);
      matrix(p + "attn_k.weight", kvd, c.d, c.weights, 2 * s);
      matrix(p + "attn_v.weight", kvd, c.d, c.weights, s);
    }
    if (a == "qwen2") bias(p + "attn_q.bias", qd), bias(p + "attn_k.bias", kvd), bias(p + "attn_v.bias", kvd);
    matrix(p + "attn_output.weight", c.d, qd, c.weights, s);
    if (a == "qwen3" || a == "gemma3") norm(p + "attn_q_norm.weight", hd), norm(p + "attn_k_norm.weight", hd);
    if (a == "gemma3") norm(p + "post_attention_norm.weight", c.d);
    norm(p + "ffn_norm.weight", c.d);
    if (a == "phi3") {
      matrix(p + "ffn_up.weight", 2 * c.ffn, c.d, c.weights, s);
    } else {
      matrix(p + "ffn_gate.weight", c.ffn, c.d, c.weights, s);
      matrix(p + "ffn_up.weight", c.ffn, c.d, c.weights, s);
    }
    matrix(p + "ffn_down.weight", c.d, c.ffn, c.weights, 1.0f / std::sqrt(float(c.ffn)));
    if (a == "gemma3") norm(p + "post_ffw_norm.weight", c.d);
  }

  const uint32_t align = 32;
  b.insert(b.end(), {'G', 'G', 'U', 'F'});
  const bool gemma = a == "gemma3";
  const uint64_t n_kv = 10 + (c.head_dim > 0 ? 2 : 0) + (gemma ? 3 : 0);
  u32(3), u64(tensors.size()), u64(n_kv);
  str("general.architecture"), u32(8), str(a);
  kv_u32("general.alignment", align);
  const std::string k = a + ".";
  kv_u32(k + "block_count", c.n_layers);
  kv_u32(k + "embedding_length", c.d);
  kv_u32(k + "attention.head_count", c.n_heads);
  kv_u32(k + "attention.head_count_kv", c.n_kv_heads);
  kv_u32(k + "feed_forward_length", c.ffn);
  kv_u32(k + "context_length", c.context);
  kv_f32(k + "attention.layer_norm_rms_epsilon", c.eps);
  kv_f32(k + "rope.freq_base", c.rope_base);
  if (c.head_dim > 0) kv_u32(k + "attention.key_length", hd), kv_u32(k + "attention.value_length", hd);
  if (gemma) {
    // A window of 3 (shorter than the test sequences) on every other layer.
    kv_u32(k + "attention.sliding_window", 3);
    kv_u32(k + "attention.sliding_window_pattern", 2);
    kv_f32(k + "rope.freq_base_swa", 500.f);
  }
  uint64_t off = 0;
  for (const T& t : tensors) {
    str(t.name);
    if (t.rows == 1) {
      u32(1), u64(t.cols);
    } else {
      u32(2), u64(t.cols), u64(t.rows);
    }
    u32(static_cast<uint32_t>(t.type)), u64(off);
    off += (t.data.size() + align - 1) / align * align;
  }
  while (b.size() % align) b.push_back(0);
  for (const T& t : tensors) {
    raw(t.data.data(), t.data.size());
    while (b.size() % align) b.push_back(0);
  }
  static int counter = 0;
  const std::string path = "/tmp/first_train_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + ".gguf";
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(b.data(), 1, b.size(), f);
  std::fclose(f);
  auto m = first::Model::load(path);
  std::remove(path.c_str());
  return m;
}

// Compares analytic gradients with central differences of f (in double) at
// the coordinates `which` of x. Relative error |a - n| / max(|n|, floor).
// Returns the largest relative error seen and prints it under `label`.
inline double fd_check(const char* label, std::vector<double> x, const std::function<double(const std::vector<double>&)>& f,
                       const std::function<double(size_t)>& analytic, const std::vector<size_t>& which, double h,
                       double floor, double tol) {
  double worst = 0;
  for (size_t i : which) {
    const double x0 = x[i];
    x[i] = x0 + h;
    const double fp = f(x);
    x[i] = x0 - h;
    const double fm = f(x);
    x[i] = x0;
    const double num = (fp - fm) / (2 * h), a = analytic(i);
    const double rel = std::fabs(a - num) / std::fmax(std::fabs(num), floor);
    worst = std::fmax(worst, rel);
    CHECK(rel <= tol) << label << " coordinate " << i << ": analytic " << a << " vs numeric " << num;
  }
  std::printf("     %-34s max rel err %.2e over %zu coords\n", label, worst, which.size());
  return worst;
}

inline std::vector<size_t> all_coords(size_t n) {
  std::vector<size_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

inline std::vector<size_t> some_coords(size_t n, size_t k, uint32_t seed) {
  if (n <= k) return all_coords(n);
  std::mt19937 rng(seed);
  std::vector<size_t> v;
  for (size_t i = 0; i < k; ++i) v.push_back(rng() % n);
  return v;
}

inline std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

}  // namespace train_testing
