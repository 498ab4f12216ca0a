// The Trainer on tiny random models: its forward against the inference
// engine (with and without LoRA), gates of 0 and LoRA with B = 0, its
// gradients (dL/dh_l, dL/dg_l, LoRA, the mean-hidden input) against central
// differences of a double-precision reference of the whole gated model, and
// its errors.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "first/engine.h"
#include "first/error.h"
#include "first/quant.h"
#include "first/train.h"
#include "harness.h"
#include "train_testing.h"

using namespace first;
using namespace train_testing;

namespace {

std::vector<TrainSequence> sample_batch(int vocab) {
  std::vector<TrainSequence> b(3);
  b[0].tokens = {1, 5, 9, 2, 7};
  b[0].targets = {-1, 9, 2, 7, 3};
  b[0].prompt_length = 2;
  b[1].tokens = {4, 4, 11};
  b[1].targets = {-1, -1, 0};
  b[1].prompt_length = 1;
  b[2].tokens = {8, 3, 6, 12, 1, 19};
  b[2].targets = {3, -1, 12, 1, 19, vocab - 1};
  b[2].prompt_length = 4;
  return b;
}

TinyConfig quant_config() {
  TinyConfig c;
  c.n_layers = 3;
  c.d = 64;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.ffn = 96;
  c.vocab = 50;
  c.weights = TensorType::Q4_1;
  c.embd = TensorType::Q8_0;
  return c;
}

// Runs the engine over the batch's tokens, returning the hidden rows after
// every layer: [layer][row * d].
std::vector<std::vector<float>> engine_hidden(Engine& e, const std::vector<TrainSequence>& batch) {
  std::vector<BatchEntry> entries;
  for (const auto& s : batch) entries.push_back({e.create_sequence(), s.tokens});
  e.begin_batch(entries);
  std::vector<int> all;
  for (size_t i = 0; i < batch.size(); ++i) all.push_back(int(i));
  std::vector<std::vector<float>> out;
  const int d = e.config().d_model;
  for (int l = 0; l < e.config().n_layers; ++l) {
    e.run_layer(l, all);
    std::vector<float> h;
    for (size_t i = 0; i < batch.size(); ++i) {
      std::vector<float> rows(batch[i].tokens.size() * d);
      e.hidden_rows(int(i), rows.data());
      h.insert(h.end(), rows.begin(), rows.end());
    }
    out.push_back(h);
  }
  e.commit_batch();
  return out;
}

std::vector<std::vector<float>> trainer_hidden(Trainer& t, const std::vector<TrainSequence>& batch,
                                               const std::vector<float>& gates) {
  t.begin(batch);
  std::vector<std::vector<float>> out;
  for (int l = 0; l < t.config().n_layers; ++l) {
    t.forward_layer(l, gates.data(), int(gates.size()));
    out.push_back(t.hidden());
  }
  t.end();
  return out;
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0, scale = 0;
  for (float x : b) scale = std::fmax(scale, std::fabs(x));
  for (size_t i = 0; i < a.size(); ++i) worst = std::fmax(worst, std::fabs(a[i] - b[i]));
  return worst / std::fmax(scale, 1e-30);
}

// ---- double-precision reference of the gated model ------------------------------

struct Mat {
  int64_t rows = 0, cols = 0;
  std::vector<double> w;
};
Mat dequant(const WeightView& v) {
  Mat m{v.rows, v.cols, std::vector<double>(v.rows * v.cols)};
  std::vector<float> row(v.cols);
  for (int64_t r = 0; r < v.rows; ++r) {
    dequantize_row(v.type, v.data + r * v.row_bytes, row.data(), v.cols);
    for (int64_t i = 0; i < v.cols; ++i) m.w[r * v.cols + i] = row[i];
  }
  return m;
}

struct RefLora {
  bool on = false;
  int rank = 0;
  double scale = 0;
  std::vector<double> A, B;
};

struct Ref {
  const ModelConfig* c;
  Mat embd;
  std::vector<double> onorm;
  std::vector<std::vector<double>> an, fn;
  std::vector<std::vector<Mat>> w;                 // [layer][module]
  std::vector<std::vector<RefLora>> lora;          // [layer][module]
  std::vector<std::vector<double>> gates;          // [layer][seq]
  std::vector<std::vector<double>> mhg;            // [layer][seq * d]
};

Ref make_ref(const Model& m, const Trainer& t) {
  Ref r;
  r.c = &m.config();
  r.embd = dequant(m.token_embd());
  r.onorm.assign(m.output_norm().begin(), m.output_norm().end());
  for (int l = 0; l < r.c->n_layers; ++l) {
    const LayerWeights& L = m.layer(l);
    r.an.emplace_back(L.attn_norm.begin(), L.attn_norm.end());
    r.fn.emplace_back(L.ffn_norm.begin(), L.ffn_norm.end());
    r.w.push_back({dequant(L.wq), dequant(L.wk), dequant(L.wv), dequant(L.wo), dequant(L.w_gate), dequant(L.w_up),
                   dequant(L.w_down)});
    std::vector<RefLora> mods(kLoraModules);
    for (int k = 0; k < kLoraModules; ++k)
      if (const LoraAdapter* a = t.adapter(l, LoraModule(k))) {
        mods[k].on = true;
        mods[k].rank = a->rank;
        mods[k].scale = a->scale;
        mods[k].A.assign(a->A.begin(), a->A.end());
        mods[k].B.assign(a->B.begin(), a->B.end());
      }
    r.lora.push_back(mods);
  }
  return r;
}

std::vector<double> ref_norm(const std::vector<double>& x, const std::vector<double>& w, int n, int d, double eps) {
  std::vector<double> y(x.size());
  for (int r = 0; r < n; ++r) {
    double ss = 0;
    for (int i = 0; i < d; ++i) ss += x[r * d + i] * x[r * d + i];
    const double s = 1 / std::sqrt(ss / d + eps);
    for (int i = 0; i < d; ++i) y[r * d + i] = x[r * d + i] * s * w[i];
  }
  return y;
}

// y = W x (+ scale B A x) for n rows.
std::vector<double> ref_lin(const Mat& W, const RefLora& lo, const std::vector<double>& x, int n) {
  std::vector<double> y(n * W.rows, 0.0);
  for (int m = 0; m < n; ++m) {
    const double* xr = x.data() + m * W.cols;
    for (int64_t r = 0; r < W.rows; ++r) {
      double s = 0;
      for (int64_t i = 0; i < W.cols; ++i) s += W.w[r * W.cols + i] * xr[i];
      y[m * W.rows + r] = s;
    }
    if (!lo.on) continue;
    for (int k = 0; k < lo.rank; ++k) {
      double t = 0;
      for (int64_t i = 0; i < W.cols; ++i) t += lo.A[k * W.cols + i] * xr[i];
      for (int64_t r = 0; r < W.rows; ++r) y[m * W.rows + r] += lo.scale * lo.B[r * lo.rank + k] * t;
    }
  }
  return y;
}

void ref_rope(std::vector<double>& x, int n, int heads, int hd, double base) {
  for (int p = 0; p < n; ++p)
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        const double th = p * std::pow(base, -2.0 * i / hd);
        double* e = x.data() + (p * heads + h) * hd + 2 * i;
        const double a = e[0], b = e[1];
        e[0] = a * std::cos(th) - b * std::sin(th);
        e[1] = a * std::sin(th) + b * std::cos(th);
      }
}

// F(h) for one sequence's n rows.
std::vector<double> ref_layer(const Ref& R, int l, const std::vector<double>& h, int n) {
  const ModelConfig& c = *R.c;
  const int d = c.d_model, hd = c.head_dim, group = c.n_heads / c.n_kv_heads;
  const auto& W = R.w[l];
  const auto& Lo = R.lora[l];
  auto xn = ref_norm(h, R.an[l], n, d, c.rms_eps);
  auto q = ref_lin(W[0], Lo[0], xn, n), k = ref_lin(W[1], Lo[1], xn, n), v = ref_lin(W[2], Lo[2], xn, n);
  ref_rope(q, n, c.n_heads, hd, c.rope_base);
  ref_rope(k, n, c.n_kv_heads, hd, c.rope_base);
  std::vector<double> att(n * c.q_dim(), 0.0);
  for (int hh = 0; hh < c.n_heads; ++hh) {
    const int kh = hh / group;
    for (int i = 0; i < n; ++i) {
      std::vector<double> p(i + 1);
      double mx = -1e300, sum = 0;
      for (int j = 0; j <= i; ++j) {
        double s = 0;
        for (int e = 0; e < hd; ++e) s += q[i * c.q_dim() + hh * hd + e] * k[j * c.kv_dim() + kh * hd + e];
        p[j] = s / std::sqrt(double(hd));
        mx = std::max(mx, p[j]);
      }
      for (auto& e : p) sum += (e = std::exp(e - mx));
      for (int j = 0; j <= i; ++j)
        for (int e = 0; e < hd; ++e) att[i * c.q_dim() + hh * hd + e] += p[j] / sum * v[j * c.kv_dim() + kh * hd + e];
    }
  }
  auto o = ref_lin(W[3], Lo[3], att, n);
  std::vector<double> x1(h);
  for (size_t i = 0; i < x1.size(); ++i) x1[i] += o[i];
  auto xn2 = ref_norm(x1, R.fn[l], n, d, c.rms_eps);
  auto g = ref_lin(W[4], Lo[4], xn2, n), u = ref_lin(W[5], Lo[5], xn2, n);
  for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
  auto down = ref_lin(W[6], Lo[6], g, n);
  for (size_t i = 0; i < x1.size(); ++i) x1[i] += down[i];
  return x1;
}

// Mean CE over targets + sum over layers >= start of <mhg_l, mean prompt h_{l+1}>,
// starting from hidden rows h (all sequences, batch order) entering `start`.
double ref_loss(const Ref& R, const std::vector<TrainSequence>& batch, std::vector<double> h, int start) {
  const ModelConfig& c = *R.c;
  const int d = c.d_model;
  double extra = 0, ce = 0;
  int64_t n_targets = 0;
  size_t row0 = 0;
  for (size_t s = 0; s < batch.size(); ++s) {
    const int n = int(batch[s].tokens.size());
    std::vector<double> x(h.begin() + row0 * d, h.begin() + (row0 + n) * d);
    for (int l = start; l < c.n_layers; ++l) {
      const double g = R.gates[l][s];
      if (g != 0) {
        auto f = ref_layer(R, l, x, n);
        for (size_t i = 0; i < x.size(); ++i) x[i] += g * (f[i] - x[i]);
      }
      // mhg_l is the gradient w.r.t. the mean prompt state leaving layer l.
      if (!R.mhg.empty())
        for (int p = 0; p < batch[s].prompt_length; ++p)
          for (int j = 0; j < d; ++j) extra += R.mhg[l][s * d + j] * x[p * d + j] / batch[s].prompt_length;
    }
    auto xn = ref_norm(x, R.onorm, n, d, c.rms_eps);
    for (int p = 0; p < n; ++p) {
      const int t = batch[s].targets[p];
      if (t < 0) continue;
      std::vector<double> logit(c.vocab_size);
      double mx = -1e300, sum = 0;
      for (int v = 0; v < c.vocab_size; ++v) {
        double z = 0;
        for (int j = 0; j < d; ++j) z += R.embd.w[v * d + j] * xn[p * d + j];
        logit[v] = z;
        mx = std::max(mx, z);
      }
      for (double z : logit) sum += std::exp(z - mx);
      ce += mx + std::log(sum) - logit[t];
      ++n_targets;
    }
    row0 += n;
  }
  return ce / n_targets + extra;
}

}  // namespace

TEST(train_forward_with_gates_one_equals_engine) {
  auto model = tiny_model(quant_config());
  auto batch = sample_batch(model->config().vocab_size);
  EngineOptions eo;
  eo.threads = 2;
  Engine engine(*model, eo);
  TrainerOptions to;
  to.threads = 2;
  Trainer trainer(*model, to);
  auto he = engine_hidden(engine, batch);
  auto ht = trainer_hidden(trainer, batch, {1.f, 1.f, 1.f});
  for (size_t l = 0; l < he.size(); ++l) {
    const double diff = max_rel_diff(ht[l], he[l]);
    CHECK(diff <= 1e-6) << "layer " << l << " differs by " << diff;
  }
}

TEST(train_gate_zero_leaves_hidden_unchanged) {
  auto model = tiny_model(quant_config());
  auto batch = sample_batch(model->config().vocab_size);
  TrainerOptions to;
  to.threads = 2;
  Trainer t(*model, to);
  const int d = model->config().d_model;
  auto ones = trainer_hidden(t, batch, {1.f, 1.f, 1.f});
  auto mixed = trainer_hidden(t, batch, {0.f, 1.f, 0.f});
  std::vector<float> h0(batch.size() * 0);
  t.begin(batch);
  std::vector<float> embedded = t.hidden();
  t.end();
  const size_t r1 = batch[0].tokens.size() * d, r2 = r1 + batch[1].tokens.size() * d;
  for (size_t l = 0; l < mixed.size(); ++l) {
    for (size_t i = 0; i < r1; ++i) CHECK(mixed[l][i] == embedded[i]) << "seq 0 moved at layer " << l;
    for (size_t i = r1; i < r2; ++i) CHECK(mixed[l][i] == ones[l][i]) << "seq 1 differs at layer " << l;
    for (size_t i = r2; i < embedded.size(); ++i) CHECK(mixed[l][i] == embedded[i]) << "seq 2 moved at layer " << l;
  }
}

// Sequences are independent through the layers, so the per-sequence loss of a
// batch must be the mean of each sequence's loss alone, and its gradient each
// sequence's solo gradient divided by the number of sequences.
TEST(train_sequence_weighting_is_the_mean_of_solo_sequences) {
  auto model = tiny_model(quant_config());
  auto batch = sample_batch(model->config().vocab_size);
  const int S = int(batch.size()), L = model->config().n_layers;
  TrainerOptions to;
  to.threads = 2;
  Trainer t(*model, to);
  const std::vector<float> ones(S, 1.f);
  auto step = [&](const std::vector<TrainSequence>& seqs, LossWeighting w, std::vector<float>& dh0) {
    t.begin(seqs);
    for (int l = 0; l < L; ++l) t.forward_layer(l, ones.data(), int(seqs.size()));
    const LossResult r = t.loss(w);
    std::vector<float> dg(seqs.size());
    for (int l = L - 1; l >= 0; --l) t.backward_layer(l, nullptr, dg.data());
    dh0 = t.hidden_grad();
    t.end();
    return r;
  };
  std::vector<float> dh_batch, dh_tokens;
  const LossResult by_seq = step(batch, LossWeighting::Sequences, dh_batch);
  const LossResult by_tok = step(batch, LossWeighting::Tokens, dh_tokens);
  double mean_solo = 0, tokens_solo = 0;
  size_t row0 = 0;
  for (int s = 0; s < S; ++s) {
    std::vector<float> dh_solo;
    const LossResult solo = step({batch[s]}, LossWeighting::Tokens, dh_solo);
    mean_solo += solo.loss / S;
    tokens_solo += solo.loss * double(solo.tokens);
    for (size_t i = 0; i < dh_solo.size(); ++i)
      CHECK_NEAR(dh_batch[row0 + i], dh_solo[i] / S, 1e-6 + 1e-4 * std::fabs(dh_solo[i] / S)) << "seq " << s << " dh " << i;
    row0 += dh_solo.size();
  }
  CHECK(row0 == dh_batch.size());
  CHECK_NEAR(by_seq.loss, mean_solo, 1e-5 * std::fabs(mean_solo));
  CHECK_NEAR(by_tok.loss, tokens_solo / double(by_tok.tokens), 1e-5 * std::fabs(by_tok.loss));
  // The batch's sequences have different target counts, so the two weightings differ.
  CHECK(std::fabs(by_seq.loss - by_tok.loss) > 1e-6);
}

TEST(train_lora_with_zero_b_changes_nothing) {
  auto model = tiny_model(quant_config());
  auto batch = sample_batch(model->config().vocab_size);
  TrainerOptions plain;
  plain.threads = 2;
  TrainerOptions with = plain;
  with.lora_rank = 4;
  with.lora_alpha = 8;
  with.lora_targets = {"q", "k", "v", "o", "gate", "up", "down"};
  Trainer a(*model, plain), b(*model, with);
  CHECK(b.lora_tensors().size() == size_t(2 * kLoraModules * model->config().n_layers));
  auto ha = trainer_hidden(a, batch, {1.f, 0.5f, 1.f});
  auto hb = trainer_hidden(b, batch, {1.f, 0.5f, 1.f});
  for (size_t l = 0; l < ha.size(); ++l) CHECK(max_rel_diff(hb[l], ha[l]) <= 1e-6) << "layer " << l;

  EngineOptions eo;
  eo.threads = 2;
  Engine e1(*model, eo), e2(*model, eo);
  for (int l = 0; l < model->config().n_layers; ++l)
    for (int m = 0; m < kLoraModules; ++m) {
      const LoraAdapter* ad = b.adapter(l, LoraModule(m));
      e2.set_lora(l, lora_module_name(LoraModule(m)), ad->rank, ad->A.data(), ad->B.data(), ad->scale);
    }
  auto h1 = engine_hidden(e1, batch), h2 = engine_hidden(e2, batch);
  for (size_t l = 0; l < h1.size(); ++l) CHECK(max_rel_diff(h2[l], h1[l]) <= 1e-6) << "engine layer " << l;
}

TEST(train_engine_lora_equals_trainer_lora) {
  auto model = tiny_model(quant_config());
  auto batch = sample_batch(model->config().vocab_size);
  TrainerOptions to;
  to.threads = 2;
  to.lora_rank = 3;
  to.lora_alpha = 6;
  to.lora_targets = {"q", "v", "o", "down", "up"};
  Trainer t(*model, to);
  // The engine runs the adapters in int8 (first/low_rank.h), the trainer in
  // f32: their layers may differ by that rounding, a few percent of what the
  // adapters change, and no more.
  uint32_t seed = 100;
  for (const auto& info : t.lora_tensors()) {
    std::vector<float> v(info.rows * info.cols);
    if (info.kind == "B") v = randn(info.rows * info.cols, seed++, 0.3f);
    else t.get_lora(info.name, v.data());
    for (float& x : v) x = f16_to_f32(f32_to_f16(x));
    t.set_lora(info.name, v.data(), int64_t(v.size()));
  }
  EngineOptions eo;
  eo.threads = 2;
  Engine e(*model, eo), plain(*model, eo);
  for (int l = 0; l < model->config().n_layers; ++l)
    for (int m = 0; m < kLoraModules; ++m)
      if (const LoraAdapter* ad = t.adapter(l, LoraModule(m)))
        e.set_lora(l, lora_module_name(LoraModule(m)), ad->rank, ad->A.data(), ad->B.data(), ad->scale);
  auto he = engine_hidden(e, batch), hp = engine_hidden(plain, batch);
  auto ht = trainer_hidden(t, batch, {1.f, 1.f, 1.f});
  for (size_t l = 0; l < he.size(); ++l) {
    const double rounding = max_rel_diff(ht[l], he[l]), effect = max_rel_diff(hp[l], ht[l]);
    std::fprintf(stderr, "     layer %zu: engine vs trainer %.3g, the adapters' effect %.3g\n", l, rounding, effect);
    CHECK(rounding <= 0.05 * effect) << "layer " << l << " differs by " << rounding << ", the adapters change " << effect;
    CHECK(max_rel_diff(hp[l], he[l]) > 1e-3) << "the adapters had no effect at layer " << l;
  }
  e.clear_lora();
  auto hc = engine_hidden(e, batch);
  for (size_t l = 0; l < hc.size(); ++l) CHECK(max_rel_diff(hc[l], hp[l]) == 0) << "clear_lora left an adapter";
}

TEST(train_layer_gradients_vs_finite_differences) {
  TinyConfig tc;
  tc.n_layers = 3;
  tc.d = 32;
  tc.n_heads = 4;
  tc.n_kv_heads = 2;
  tc.ffn = 40;
  tc.vocab = 37;
  auto model = tiny_model(tc);
  const ModelConfig& c = model->config();
  const int d = c.d_model, L = c.n_layers;
  auto batch = sample_batch(c.vocab_size);
  const int S = int(batch.size());
  TrainerOptions to;
  to.threads = 2;
  to.lora_rank = 2;
  to.lora_alpha = 4;
  to.lora_targets = {"q", "k", "v", "o", "gate", "up", "down"};
  to.ce_chunk = 10;
  Trainer t(*model, to);
  uint32_t seed = 200;
  for (const auto& info : t.lora_tensors())
    if (info.kind == "B") {
      auto v = randn(info.rows * info.cols, seed++, 0.2f);
      t.set_lora(info.name, v.data(), int64_t(v.size()));
    }
  const std::vector<std::vector<float>> gates = {{0.9f, 0.4f, 1.f}, {0.7f, 0.f, 1.2f}, {1.f, 0.6f, 0.3f}};
  std::vector<std::vector<float>> mhg;
  for (int l = 0; l < L; ++l) mhg.push_back(randn(S * d, 300 + l, 0.5f));

  // Analytic: one step.
  t.zero_grad();
  t.begin(batch);
  std::vector<std::vector<float>> h_in;
  for (int l = 0; l < L; ++l) {
    h_in.push_back(t.hidden());
    t.forward_layer(l, gates[l].data(), S);
  }
  const LossResult lr = t.loss();
  std::vector<std::vector<float>> dg(L, std::vector<float>(S)), dh(L);
  for (int l = L - 1; l >= 0; --l) {
    t.backward_layer(l, mhg[l].data(), dg[l].data());
    dh[l] = t.hidden_grad();
  }
  t.end();

  Ref R = make_ref(*model, t);
  for (const auto& g : gates) R.gates.emplace_back(g.begin(), g.end());
  for (const auto& m : mhg) R.mhg.emplace_back(m.begin(), m.end());
  // The loss itself (without the mean-hidden terms).
  {
    Ref plain = R;
    plain.mhg.clear();
    const double ref = ref_loss(plain, batch, to_double(h_in[0]), 0);
    CHECK_NEAR(lr.loss, ref, 1e-4 * std::fabs(ref)) << "loss";
    CHECK(lr.tokens == 10);
  }
  // dL/dh_l at l = 0 and l = 1 (gradients w.r.t. the layer's input rows).
  for (int l : {0, 1}) {
    const std::string label = "dL/dh_" + std::to_string(l);
    fd_check(label.c_str(), to_double(h_in[l]), [&](const std::vector<double>& h) { return ref_loss(R, batch, h, l); },
             [&](size_t i) { return dh[l][i]; }, some_coords(h_in[l].size(), 80, 5 + l), 1e-5, 1e-3, 2e-3);
  }
  // dL/dg_l for every layer and sequence (gate 0: reported as 0, not run).
  for (int l = 0; l < L; ++l) {
    std::vector<size_t> run;
    for (int s = 0; s < S; ++s)
      if (gates[l][s] != 0.f)
        run.push_back(s);
      else
        CHECK(dg[l][s] == 0.f);
    const std::string label = "dL/dg_" + std::to_string(l);
    fd_check(label.c_str(), R.gates[l], [&](const std::vector<double>& g) {
      Ref r2 = R;
      r2.gates[l] = g;
      return ref_loss(r2, batch, to_double(h_in[0]), 0);
    }, [&](size_t s) { return dg[l][s]; }, run, 1e-5, 1e-3, 2e-3);
  }
  // LoRA gradients: a sample of A and B entries of a few tensors.
  size_t checked = 0;
  for (const auto& info : t.lora_tensors()) {
    if ((info.layer + int(info.module.size()) + (info.kind == "A")) % 3 != 0) continue;
    std::vector<float> grad(info.rows * info.cols);
    t.lora_grad(info.name, grad.data());
    const int m = int(parse_lora_module(info.module));
    std::vector<double>& target = info.kind == "A" ? R.lora[info.layer][m].A : R.lora[info.layer][m].B;
    const std::string label = "LoRA " + info.name;
    fd_check(label.c_str(), target, [&](const std::vector<double>& v) {
      Ref r2 = R;
      (info.kind == "A" ? r2.lora[info.layer][m].A : r2.lora[info.layer][m].B) = v;
      return ref_loss(r2, batch, to_double(h_in[0]), 0);
    }, [&](size_t i) { return grad[i]; }, some_coords(grad.size(), 6, 9), 1e-5, 1e-3, 2e-3);
    ++checked;
  }
  CHECK(checked >= 7);
}

TEST(train_errors_throw) {
  auto model = tiny_model(quant_config());
  const ModelConfig& c = model->config();
  auto batch = sample_batch(c.vocab_size);
  auto throws = [](const char* what, const std::function<void()>& fn) {
    try {
      fn();
    } catch (const first::Error&) {
      return;
    }
    CHECK(false) << what << " did not throw first::Error";
  };
  TrainerOptions bad;
  bad.lora_rank = 2;
  bad.lora_targets = {"q", "nope"};
  throws("unknown LoRA target", [&] { Trainer t(*model, bad); });
  bad.lora_targets = {};
  throws("LoRA without targets", [&] { Trainer t(*model, bad); });

  TrainerOptions to;
  to.threads = 1;
  to.lora_rank = 2;
  to.lora_targets = {"v"};
  Trainer t(*model, to);
  std::vector<float> buf(4096), g3 = {1, 1, 1}, dg(3);
  throws("unknown tensor name", [&] { t.get_lora("blk.0.q.A", buf.data()); });
  throws("set_lora size", [&] { t.set_lora("blk.0.v.A", buf.data(), 3); });
  throws("forward before begin", [&] { t.forward_layer(0, g3.data(), 3); });
  throws("meanHidden before begin", [&] { t.mean_hidden(0, buf.data()); });
  auto b2 = batch;
  b2[1].tokens[0] = c.vocab_size;
  throws("token out of range", [&] { t.begin(b2); });
  b2 = batch;
  b2[0].targets[1] = -2;
  throws("bad target", [&] { t.begin(b2); });
  b2 = batch;
  b2[2].targets.pop_back();
  throws("targets length", [&] { t.begin(b2); });
  b2 = batch;
  b2[0].prompt_length = 0;
  throws("prompt length", [&] { t.begin(b2); });
  b2 = batch;
  b2[0].tokens.assign(c.context_length + 1, 1);
  b2[0].targets.assign(c.context_length + 1, 1);
  throws("too long sequence", [&] { t.begin(b2); });
  throws("empty batch", [&] { t.begin({}); });

  t.begin(batch);
  throws("meanHidden out of range", [&] { t.mean_hidden(3, buf.data()); });
  throws("wrong gate count", [&] { t.forward_layer(0, g3.data(), 2); });
  throws("layer out of order", [&] { t.forward_layer(1, g3.data(), 3); });
  throws("loss too early", [&] { t.loss(); });
  throws("backward too early", [&] { t.backward_layer(c.n_layers - 1, nullptr, dg.data()); });
  for (int l = 0; l < c.n_layers; ++l) t.forward_layer(l, g3.data(), 3);
  throws("forward past the last layer", [&] { t.forward_layer(c.n_layers, g3.data(), 3); });
  t.loss();
  throws("loss twice", [&] { t.loss(); });
  throws("backward out of order", [&] { t.backward_layer(0, nullptr, dg.data()); });
  for (int l = c.n_layers - 1; l >= 0; --l) t.backward_layer(l, nullptr, dg.data());
  throws("backward after layer 0", [&] { t.backward_layer(0, nullptr, dg.data()); });
  t.end();
  // A fresh step works after errors.
  t.begin(batch);
  for (int l = 0; l < c.n_layers; ++l) t.forward_layer(l, g3.data(), 3);
  CHECK(std::isfinite(t.loss().loss));
  t.end();

  EngineOptions eo;
  eo.threads = 1;
  Engine e(*model, eo);
  throws("engine LoRA unknown module", [&] { e.set_lora(0, "x", 1, buf.data(), buf.data(), 1.f); });
  throws("engine LoRA layer", [&] { e.set_lora(c.n_layers, "q", 1, buf.data(), buf.data(), 1.f); });
  throws("engine LoRA rank", [&] { e.set_lora(0, "q", 0, buf.data(), buf.data(), 1.f); });
}
