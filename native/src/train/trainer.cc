// The Trainer: gated layer-by-layer forward, chunked cross-entropy, and the
// backward pass that recomputes each layer from its saved input.
//
// For one sequence with gate g at layer l, h' = h + g * (F(h) - h) where
// F(h) = x2 = x1 + mlp(x1), x1 = h + attn(h). With dy = dL/dh' and u = g dy:
//   dL/dg = sum over the sequence's rows of dy . (x2 - h)
//   dL/dh = dy - u + J_F^T u,  J_F^T u = dx1 + attn_bwd(dx1), dx1 = u + mlp_bwd(u).
// A sequence whose gate is exactly 0 does not run the layer at all: dL/dh = dy
// and its dL/dg is reported as 0.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "first/engine.h"
#include "first/error.h"
#include "first/decoder_layer.h"
#include "first/train.h"
#include "first/vec.h"

namespace first {

namespace {
template <typename T>
void grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}
const WeightView& module_weight(const LayerWeights& L, int m) {
  const WeightView* w[kLoraModules] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
  return *w[m];
}
}  // namespace

// A layer's internals on R gathered rows (recomputed in backward) and the
// gradient buffers of the backward pass.
struct Trainer::Acts {
  std::vector<float> x, dy;  // gathered input and upstream gradient (when not all sequences run)
  std::vector<float> xn1, q, k, v, att, x1, xn2, gate, up, act, x2;
  // Pre-norm copies where the recipe norms (per-head q/k, post-norms) and
  // the outputs' scratch.
  std::vector<float> q_pre, k_pre, attn_proj, attn_pre, mlp_proj, mlp_pre;
  std::vector<float> lora_t[kLoraModules];
  std::vector<float> u, dact, dgate, dup, dxn, dx1, datt, dq, dk, dv, dx, dproj;
  MatmulScratch mm;
  static float* ptr(std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }
  LayerActs qkv_acts() {
    LayerActs a;
    a.xn = xn1.data();
    a.q = q.data();
    a.k = k.data();
    a.v = v.data();
    a.att = att.data();
    a.q_pre = ptr(q_pre);
    a.k_pre = ptr(k_pre);
    a.proj = ptr(attn_proj);
    a.proj_pre = ptr(attn_pre);
    for (int m = 0; m < kLoraModules; ++m) a.lora_t[m] = lora_t[m].data();
    return a;
  }
  LayerActs mlp_acts() {
    LayerActs a;
    a.xn = xn2.data();
    a.gate = gate.data();
    a.up = up.data();
    a.act = act.data();
    a.proj = ptr(mlp_proj);
    a.proj_pre = ptr(mlp_pre);
    a.exact_activation = true;
    for (int m = 0; m < kLoraModules; ++m) a.lora_t[m] = lora_t[m].data();
    return a;
  }
};

// Every step of every recipe has its backward pass here except logit
// soft-capping (in the loss); a model with it would train on a wrong
// gradient, so it is refused.
static void check_trainable(const ModelConfig& c) {
  if (c.logit_softcap > 0)
    throw Error("trainer: " + c.architecture + " models with final logit soft-capping cannot be trained yet");
}

Trainer::Trainer(const Model& model, const TrainerOptions& opts)
    : model_(model),
      opts_(opts),
      pool_(opts.threads),
      rope_(model_rope(model)),
      rope_sliding_(model_rope(model, /*sliding_layer=*/true)),
      acts_(new Acts) {
  const ModelConfig& c = config();
  check_trainable(c);
  if (opts.ce_chunk <= 0) throw Error("trainer: ce_chunk must be positive");
  layer_lora_.assign(c.n_layers, LayerLora{});
  params_.resize(static_cast<size_t>(c.n_layers) * kLoraModules);
  if (opts.lora_rank < 0 || opts.lora_rank > 1024) throw Error("trainer: LoRA rank must be in 0..1024");
  if (opts.lora_rank == 0) {
    if (!opts.lora_targets.empty()) throw Error("trainer: LoRA targets given without a rank");
    return;
  }
  if (opts.lora_targets.empty()) throw Error("trainer: LoRA needs at least one target module");
  if (!(opts.lora_alpha >= 0) || !std::isfinite(opts.lora_alpha)) throw Error("trainer: LoRA alpha must be >= 0");
  bool wanted[kLoraModules] = {};
  for (const std::string& t : opts.lora_targets) {
    const int m = static_cast<int>(parse_lora_module(t));
    if (wanted[m]) throw Error("trainer: LoRA target '" + t + "' listed twice");
    wanted[m] = true;
  }
  const int r = opts.lora_rank;
  const float scale = opts.lora_alpha > 0 ? opts.lora_alpha / r : 1.f;
  std::mt19937_64 rng(opts.lora_seed);
  for (int l = 0; l < c.n_layers; ++l)
    for (int m = 0; m < kLoraModules; ++m) {
      if (!wanted[m]) continue;
      const WeightView& w = module_weight(model.layer(l), m);
      auto p = std::make_unique<Param>();
      p->w.rank = r;
      p->w.in = w.cols;
      p->w.out = w.rows;
      p->w.scale = scale;
      // A ~ U(-1/sqrt(in), 1/sqrt(in)), B = 0: the adapter starts as a no-op.
      const float bound = 1.0f / std::sqrt(static_cast<float>(w.cols));
      std::uniform_real_distribution<float> dist(-bound, bound);
      p->w.A.resize(r * w.cols);
      for (float& a : p->w.A) a = dist(rng);
      p->w.B.assign(w.rows * r, 0.f);
      p->gA.assign(p->w.A.size(), 0.f);
      p->gB.assign(p->w.B.size(), 0.f);
      layer_lora_[l].module[m] = &p->w;
      const std::string base = "blk." + std::to_string(l) + "." + lora_module_name(static_cast<LoraModule>(m));
      lora_info_.push_back({base + ".A", l, lora_module_name(static_cast<LoraModule>(m)), "A", r, w.cols});
      lora_info_.push_back({base + ".B", l, lora_module_name(static_cast<LoraModule>(m)), "B", w.rows, r});
      params_[static_cast<size_t>(l) * kLoraModules + m] = std::move(p);
    }
  for (size_t i = 0; i < lora_info_.size(); ++i) lora_index_[lora_info_[i].name] = i;
}

Trainer::~Trainer() = default;

// ---- LoRA parameters -------------------------------------------------------------

const LoraTensorInfo& Trainer::info_of(const std::string& name) const {
  auto it = lora_index_.find(name);
  if (it == lora_index_.end()) throw Error("unknown LoRA tensor '" + name + "'");
  return lora_info_[it->second];
}

Trainer::Param& Trainer::param_of(const LoraTensorInfo& t) const {
  return *params_[static_cast<size_t>(t.layer) * kLoraModules + static_cast<int>(parse_lora_module(t.module))];
}

int64_t Trainer::lora_size(const std::string& name) const {
  const LoraTensorInfo& t = info_of(name);
  return t.rows * t.cols;
}

void Trainer::get_lora(const std::string& name, float* out) const {
  const LoraTensorInfo& t = info_of(name);
  const Param& p = param_of(t);
  const std::vector<float>& v = t.kind == "A" ? p.w.A : p.w.B;
  std::memcpy(out, v.data(), sizeof(float) * v.size());
}

void Trainer::set_lora(const std::string& name, const float* data, int64_t n) {
  const LoraTensorInfo& t = info_of(name);
  if (n != t.rows * t.cols)
    throw Error("set_lora: '" + name + "' holds " + std::to_string(t.rows * t.cols) + " floats, got " + std::to_string(n));
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(data[i])) throw Error("set_lora: '" + name + "' has a non-finite value");
  Param& p = param_of(t);
  std::vector<float>& v = t.kind == "A" ? p.w.A : p.w.B;
  std::memcpy(v.data(), data, sizeof(float) * n);
}

void Trainer::lora_grad(const std::string& name, float* out) const {
  const LoraTensorInfo& t = info_of(name);
  const Param& p = param_of(t);
  const std::vector<float>& v = t.kind == "A" ? p.gA : p.gB;
  std::memcpy(out, v.data(), sizeof(float) * v.size());
}

void Trainer::zero_grad() {
  for (auto& p : params_)
    if (p) {
      std::fill(p->gA.begin(), p->gA.end(), 0.f);
      std::fill(p->gB.begin(), p->gB.end(), 0.f);
    }
}

const LoraAdapter* Trainer::adapter(int layer, LoraModule m) const {
  if (layer < 0 || layer >= config().n_layers) throw Error("adapter: layer out of range");
  return layer_lora_[layer].module[static_cast<int>(m)];
}

// ---- the step --------------------------------------------------------------------

void Trainer::begin(const std::vector<TrainSequence>& seqs) {
  const ModelConfig& c = config();
  phase_ = Phase::Idle;
  if (seqs.empty()) throw Error("begin: no sequences");
  int64_t rows = 0;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const TrainSequence& q = seqs[s];
    const std::string which = "sequence " + std::to_string(s);
    const int64_t n = static_cast<int64_t>(q.tokens.size());
    if (n == 0) throw Error("begin: " + which + " has no tokens");
    if (n > c.context_length)
      throw Error("begin: " + which + " has " + std::to_string(n) + " tokens, the context holds " +
                  std::to_string(c.context_length));
    if (static_cast<int64_t>(q.targets.size()) != n)
      throw Error("begin: " + which + " has " + std::to_string(q.targets.size()) + " targets for " + std::to_string(n) +
                  " tokens");
    if (q.prompt_length < 1 || q.prompt_length > n)
      throw Error("begin: " + which + " prompt length " + std::to_string(q.prompt_length) + " is not in 1.." +
                  std::to_string(n));
    for (int64_t i = 0; i < n; ++i) {
      if (q.tokens[i] < 0 || q.tokens[i] >= c.vocab_size)
        throw Error("begin: " + which + " token " + std::to_string(q.tokens[i]) + " is outside the vocabulary (0.." +
                    std::to_string(c.vocab_size - 1) + ")");
      if (q.targets[i] < -1 || q.targets[i] >= c.vocab_size)
        throw Error("begin: " + which + " target " + std::to_string(q.targets[i]) + " is neither -1 nor a token id");
    }
    rows += n;
  }
  const int d = c.d_model;
  seqs_.clear();
  targets_.clear();
  h_.resize(static_cast<size_t>(rows) * d);
  int64_t r = 0;
  for (const TrainSequence& q : seqs) {
    const int n = static_cast<int>(q.tokens.size());
    seqs_.push_back({r, n, q.prompt_length});
    targets_.insert(targets_.end(), q.targets.begin(), q.targets.end());
    model_.embed(q.tokens.data(), n, h_.data() + r * d);
    r += n;
  }
  n_rows_ = rows;
  saved_.resize(c.n_layers);
  gates_.assign(c.n_layers, std::vector<float>());
  dh_.clear();
  next_layer_ = 0;
  phase_ = Phase::Forward;
}

void Trainer::mean_hidden(int seq, float* out) const {
  if (phase_ == Phase::Idle) throw Error("meanHidden: no step in progress (call begin first)");
  if (seq < 0 || seq >= n_sequences()) throw Error("meanHidden: sequence " + std::to_string(seq) + " out of range");
  const Seq& s = seqs_[seq];
  const int d = config().d_model;
  std::vector<double> acc(d, 0.0);
  for (int i = 0; i < s.prompt; ++i) {
    const float* row = h_.data() + (s.row0 + i) * d;
    for (int j = 0; j < d; ++j) acc[j] += row[j];
  }
  for (int j = 0; j < d; ++j) out[j] = static_cast<float>(acc[j] / s.prompt);
}

std::vector<SeqRows> Trainer::active_rows(const std::vector<int>& active) const {
  std::vector<SeqRows> rows;
  int64_t r = 0;
  for (int s : active) {
    rows.push_back({r, seqs_[s].n});
    r += seqs_[s].n;
  }
  return rows;
}

void Trainer::gather(const std::vector<int>& active, const float* src, float* dst) const {
  const int d = config().d_model;
  for (int s : active) {
    std::memcpy(dst, src + seqs_[s].row0 * d, sizeof(float) * seqs_[s].n * d);
    dst += static_cast<int64_t>(seqs_[s].n) * d;
  }
}

void Trainer::scatter(const std::vector<int>& active, const float* src, float* dst) const {
  const int d = config().d_model;
  for (int s : active) {
    std::memcpy(dst + seqs_[s].row0 * d, src, sizeof(float) * seqs_[s].n * d);
    src += static_cast<int64_t>(seqs_[s].n) * d;
  }
}

// Recomputes layer `layer` on n rows x: every internal lands in a, F(x) in a.x2.
void Trainer::run_layer(int layer, const float* x, int64_t n, const std::vector<SeqRows>& rows, Acts& a) {
  const ModelConfig& c = config();
  const LayerWeights& L = model_.layer(layer);
  const LayerLora* lora = layer_lora_[layer].any() ? &layer_lora_[layer] : nullptr;
  const size_t d = c.d_model, qd = c.q_dim(), kvd = c.kv_dim(), ff = c.ffn_dim, N = n;
  for (auto* v : {&a.xn1, &a.x1, &a.xn2, &a.x2}) grow(*v, N * d);
  for (auto* v : {&a.q, &a.att}) grow(*v, N * qd);
  for (auto* v : {&a.k, &a.v}) grow(*v, N * kvd);
  for (auto* v : {&a.gate, &a.up, &a.act}) grow(*v, N * ff);
  if (c.recipe.qk_norm) grow(a.q_pre, N * qd), grow(a.k_pre, N * kvd);
  if (c.recipe.post_norms)
    for (auto* v : {&a.attn_proj, &a.attn_pre, &a.mlp_proj, &a.mlp_pre}) grow(*v, N * d);
  if (lora)
    for (int m = 0; m < kLoraModules; ++m)
      if (lora->module[m]) grow(a.lora_t[m], N * lora->module[m]->rank);

  const LayerActs qkv = a.qkv_acts();
  layer_qkv(c, L, lora, x, n, qkv, pool_, a.mm);
  const Rope& rope = layer_rope(layer);
  for (const SeqRows& s : rows)
    for (int i = 0; i < s.n; ++i) {
      rope.apply(a.q.data() + (s.row0 + i) * qd, c.n_heads, i);
      rope.apply(a.k.data() + (s.row0 + i) * kvd, c.n_kv_heads, i);
    }
  dense_attention_forward(attention_shape(layer), rows, a.q.data(), a.k.data(), a.v.data(), a.att.data(), pool_);
  std::memcpy(a.x1.data(), x, sizeof(float) * N * d);
  layer_attn_out(c, L, lora, a.x1.data(), n, qkv, pool_, a.mm);
  std::memcpy(a.x2.data(), a.x1.data(), sizeof(float) * N * d);
  layer_mlp(c, L, lora, a.x2.data(), n, a.mlp_acts(), pool_, a.mm);
}

void Trainer::forward_layer(int layer, const float* gates, int n_gates) {
  const ModelConfig& c = config();
  if (phase_ != Phase::Forward) throw Error("forwardLayer: no forward pass in progress (call begin first)");
  if (layer < 0 || layer >= c.n_layers) throw Error("forwardLayer: layer " + std::to_string(layer) + " out of range");
  if (layer != next_layer_)
    throw Error("forwardLayer: expected layer " + std::to_string(next_layer_) + ", got " + std::to_string(layer));
  if (n_gates != n_sequences())
    throw Error("forwardLayer: " + std::to_string(n_gates) + " gates for " + std::to_string(n_sequences()) +
                " sequences");
  for (int s = 0; s < n_gates; ++s)
    if (!std::isfinite(gates[s])) throw Error("forwardLayer: gate " + std::to_string(s) + " is not finite");
  const int d = c.d_model;
  saved_[layer].assign(h_.begin(), h_.begin() + n_rows_ * d);
  gates_[layer].assign(gates, gates + n_gates);
  ++next_layer_;

  std::vector<int> active;
  for (int s = 0; s < n_gates; ++s)
    if (gates[s] != 0.f) active.push_back(s);
  if (active.empty()) return;
  Acts& a = *acts_;
  const bool all = static_cast<int>(active.size()) == n_sequences();
  int64_t R = 0;
  for (int s : active) R += seqs_[s].n;
  const float* x = h_.data();
  if (!all) {
    grow(a.x, static_cast<size_t>(R) * d);
    gather(active, h_.data(), a.x.data());
    x = a.x.data();
  }
  run_layer(layer, x, R, active_rows(active), a);
  // h = x + g (F(x) - x); a gate of 1 takes F(x) as is (inference's numbers).
  int64_t r = 0;
  for (int s : active) {
    const float g = gates[s];
    float* out = h_.data() + seqs_[s].row0 * d;
    const float* fx = a.x2.data() + r * d;
    const int64_t cnt = static_cast<int64_t>(seqs_[s].n) * d;
    if (g == 1.f) {
      std::memcpy(out, fx, sizeof(float) * cnt);
    } else {
      for (int64_t i = 0; i < cnt; ++i) out[i] += g * (fx[i] - out[i]);
    }
    r += seqs_[s].n;
  }
}

LossResult Trainer::loss(LossWeighting weighting) {
  const ModelConfig& c = config();
  if (phase_ != Phase::Forward || next_layer_ != c.n_layers)
    throw Error("loss: run forwardLayer for every layer first (" + std::to_string(next_layer_) + " of " +
                std::to_string(c.n_layers) + " done)");
  const int d = c.d_model;
  std::vector<int64_t> rows;
  std::vector<int32_t> tgt;
  std::vector<int> seq_of;  // sequence of each target row
  for (int s = 0; s < static_cast<int>(seqs_.size()); ++s)
    for (int64_t r = seqs_[s].row0; r < seqs_[s].row0 + seqs_[s].n; ++r)
      if (targets_[r] >= 0) {
        rows.push_back(r);
        tgt.push_back(targets_[r]);
        seq_of.push_back(s);
      }
  const int64_t T = static_cast<int64_t>(rows.size());
  std::vector<float> weight(static_cast<size_t>(T), T > 0 ? 1.0f / static_cast<float>(T) : 0.f);
  if (weighting == LossWeighting::Sequences && T > 0) {
    std::vector<int64_t> count(seqs_.size(), 0);
    for (int s : seq_of) ++count[s];
    const auto with_targets = std::count_if(count.begin(), count.end(), [](int64_t n) { return n > 0; });
    for (int64_t i = 0; i < T; ++i) weight[i] = 1.0f / static_cast<float>(with_targets * count[seq_of[i]]);
  }
  dh_.assign(static_cast<size_t>(n_rows_) * d, 0.f);
  LossResult res;
  res.tokens = T;
  if (T > 0) {
    Acts& a = *acts_;
    grow(a.x, static_cast<size_t>(T) * d);
    grow(a.dx, static_cast<size_t>(T) * d);
    for (int64_t i = 0; i < T; ++i) std::memcpy(a.x.data() + i * d, h_.data() + rows[i] * d, sizeof(float) * d);
    const double sum = chunked_cross_entropy(model_.output(), model_.output_norm().data(), c.rms_eps, a.x.data(), T,
                                             tgt.data(), weight.data(), a.dx.data(), opts_.ce_chunk, pool_, ce_);
    for (int64_t i = 0; i < T; ++i) std::memcpy(dh_.data() + rows[i] * d, a.dx.data() + i * d, sizeof(float) * d);
    res.loss = sum;
  }
  phase_ = Phase::Backward;
  next_layer_ = c.n_layers - 1;
  return res;
}

void Trainer::backward_layer(int layer, const float* mean_hidden_grad, float* dgates_out) {
  const ModelConfig& c = config();
  if (phase_ == Phase::Done) throw Error("backwardLayer: every layer has been run backward (call end or begin)");
  if (phase_ != Phase::Backward) throw Error("backwardLayer: call loss() after the forward pass first");
  if (layer < 0 || layer >= c.n_layers) throw Error("backwardLayer: layer " + std::to_string(layer) + " out of range");
  if (layer != next_layer_)
    throw Error("backwardLayer: expected layer " + std::to_string(next_layer_) + ", got " + std::to_string(layer));
  const LayerWeights& L = model_.layer(layer);
  const LayerLora& lora = layer_lora_[layer];
  const std::vector<float>& gates = gates_[layer];
  const int n_seq = n_sequences();
  const size_t d = c.d_model, qd = c.q_dim(), kvd = c.kv_dim(), ff = c.ffn_dim;

  // The routers' input gradient (w.r.t. the mean prompt hidden state leaving
  // layer l, i.e. the input of router l+1) joins dL/dh_{l+1} before it
  // flows through layer l.
  if (mean_hidden_grad) {
    for (int s = 0; s < n_seq; ++s) {
      const Seq& sq = seqs_[s];
      const float inv = 1.0f / static_cast<float>(sq.prompt);
      const float* g = mean_hidden_grad + static_cast<size_t>(s) * d;
      for (int i = 0; i < sq.prompt; ++i) vec_axpy_f32(inv, g, dh_.data() + (sq.row0 + i) * d, d);
    }
  }

  std::vector<int> active;
  for (int s = 0; s < n_seq; ++s) {
    dgates_out[s] = 0.f;
    if (gates[s] != 0.f) active.push_back(s);
  }
  if (!active.empty()) {
    Acts& a = *acts_;
    const bool all = static_cast<int>(active.size()) == n_seq;
    int64_t R = 0;
    for (int s : active) R += seqs_[s].n;
    const size_t N = R;
    const float* x = saved_[layer].data();
    float* dy = dh_.data();
    if (!all) {
      grow(a.x, N * d);
      grow(a.dy, N * d);
      gather(active, saved_[layer].data(), a.x.data());
      gather(active, dh_.data(), a.dy.data());
      x = a.x.data();
      dy = a.dy.data();
    }
    const std::vector<SeqRows> rows = active_rows(active);
    run_layer(layer, x, R, rows, a);

    for (auto* v : {&a.u, &a.dxn, &a.dx1, &a.dx}) grow(*v, N * d);
    for (auto* v : {&a.datt, &a.dq}) grow(*v, N * qd);
    for (auto* v : {&a.dk, &a.dv}) grow(*v, N * kvd);
    for (auto* v : {&a.dact, &a.dgate, &a.dup}) grow(*v, N * ff);

    // dL/dg and u = g * dy.
    for (size_t i = 0; i < active.size(); ++i) {
      const int s = active[i];
      const float g = gates[s];
      double dg = 0;
      for (int64_t r = rows[i].row0; r < rows[i].row0 + rows[i].n; ++r)
        for (size_t j = 0; j < d; ++j) {
          const float y = dy[r * d + j];
          dg += static_cast<double>(y) * (a.x2[r * d + j] - x[r * d + j]);
          a.u[r * d + j] = g * y;
        }
      dgates_out[s] = static_cast<float>(dg);
    }

    auto lora_bwd = [&](LoraModule mod, const float* X, int64_t ldx, const float* dY, int64_t ldy, float* dX,
                        int64_t lddx) {
      const int m = static_cast<int>(mod);
      if (!lora.module[m]) return;
      Param& p = *params_[static_cast<size_t>(layer) * kLoraModules + m];
      lora_backward(p.w, X, ldx, a.lora_t[m].data(), dY, ldy, R, p.gA.data(), p.gB.data(), dX, lddx, pool_);
    };

    // Through a post-norm y = norm(p): dp from dy, into a.dproj.
    const bool post = c.recipe.post_norms;
    if (post) grow(a.dproj, N * d);
    auto through_post_norm = [&](const std::vector<float>& pre, const std::vector<float>& w, const float* dy_out) {
      rmsnorm_backward(pre.data(), w.data(), dy_out, a.dproj.data(), R, d, c.rms_eps, false, &pool_);
      return a.dproj.data();
    };

    // MLP: x2 = x1 + [post-norm] Wdown (act(Wgate xn2) * Wup xn2).
    const float* dmlp = post ? through_post_norm(a.mlp_pre, L.ffn_post_norm, a.u.data()) : a.u.data();
    matmul_input_grad(L.w_down, dmlp, R, d, a.dact.data(), ff, false, pool_);
    lora_bwd(LoraModule::Down, a.act.data(), ff, dmlp, d, a.dact.data(), ff);
    if (c.recipe.activation == MlpActivation::GeluTanh)
      gelu_tanh_mul_backward(a.gate.data(), a.up.data(), a.dact.data(), a.dgate.data(), a.dup.data(), R * ff, &pool_);
    else
      silu_mul_backward(a.gate.data(), a.up.data(), a.dact.data(), a.dgate.data(), a.dup.data(), R * ff, &pool_);
    matmul_input_grad(L.w_gate, a.dgate.data(), R, ff, a.dxn.data(), d, false, pool_);
    matmul_input_grad(L.w_up, a.dup.data(), R, ff, a.dxn.data(), d, true, pool_);
    lora_bwd(LoraModule::Gate, a.xn2.data(), d, a.dgate.data(), ff, a.dxn.data(), d);
    lora_bwd(LoraModule::Up, a.xn2.data(), d, a.dup.data(), ff, a.dxn.data(), d);
    std::memcpy(a.dx1.data(), a.u.data(), sizeof(float) * N * d);
    rmsnorm_backward(a.x1.data(), L.ffn_norm.data(), a.dxn.data(), a.dx1.data(), R, d, c.rms_eps, true, &pool_);

    // Attention: x1 = x + [post-norm] Wo attn(rope(qn(Wq xn1)), rope(kn(Wk xn1)), Wv xn1),
    // qn/kn the per-head norms where the recipe has them.
    const float* datt_out = post ? through_post_norm(a.attn_pre, L.attn_post_norm, a.dx1.data()) : a.dx1.data();
    matmul_input_grad(L.wo, datt_out, R, d, a.datt.data(), qd, false, pool_);
    lora_bwd(LoraModule::O, a.att.data(), qd, datt_out, d, a.datt.data(), qd);
    dense_attention_backward(attention_shape(layer), rows, a.q.data(), a.k.data(), a.v.data(), a.datt.data(),
                             a.dq.data(), a.dk.data(), a.dv.data(), pool_);
    const Rope& rope = layer_rope(layer);
    for (const SeqRows& s : rows)
      for (int i = 0; i < s.n; ++i) {
        rope_backward(rope, a.dq.data() + (s.row0 + i) * qd, c.n_heads, i);
        rope_backward(rope, a.dk.data() + (s.row0 + i) * kvd, c.n_kv_heads, i);
      }
    if (c.recipe.qk_norm) {  // in place: rmsnorm_backward reads each row before writing it
      rmsnorm_backward(a.q_pre.data(), L.q_norm.data(), a.dq.data(), a.dq.data(), R * c.n_heads, c.head_dim, c.rms_eps,
                       false, &pool_);
      rmsnorm_backward(a.k_pre.data(), L.k_norm.data(), a.dk.data(), a.dk.data(), R * c.n_kv_heads, c.head_dim,
                       c.rms_eps, false, &pool_);
    }
    matmul_input_grad(L.wq, a.dq.data(), R, qd, a.dxn.data(), d, false, pool_);
    matmul_input_grad(L.wk, a.dk.data(), R, kvd, a.dxn.data(), d, true, pool_);
    matmul_input_grad(L.wv, a.dv.data(), R, kvd, a.dxn.data(), d, true, pool_);
    lora_bwd(LoraModule::Q, a.xn1.data(), d, a.dq.data(), qd, a.dxn.data(), d);
    lora_bwd(LoraModule::K, a.xn1.data(), d, a.dk.data(), kvd, a.dxn.data(), d);
    lora_bwd(LoraModule::V, a.xn1.data(), d, a.dv.data(), kvd, a.dxn.data(), d);
    std::memcpy(a.dx.data(), a.dx1.data(), sizeof(float) * N * d);
    rmsnorm_backward(x, L.attn_norm.data(), a.dxn.data(), a.dx.data(), R, d, c.rms_eps, true, &pool_);

    // dL/dh = dy - u + J_F^T u, written back over dy.
    for (size_t i = 0; i < N * d; ++i) a.dx[i] += dy[i] - a.u[i];
    if (all)
      std::memcpy(dh_.data(), a.dx.data(), sizeof(float) * N * d);
    else
      scatter(active, a.dx.data(), dh_.data());
  }

  if (layer == 0)
    phase_ = Phase::Done;
  else
    --next_layer_;
}

const Rope& Trainer::layer_rope(int layer) const { return config().sliding(layer) ? rope_sliding_ : rope_; }

DenseAttentionShape Trainer::attention_shape(int layer) const {
  const ModelConfig& c = config();
  DenseAttentionShape s{c.n_heads, c.n_kv_heads, c.head_dim};
  s.scale = c.query_scale();
  s.window = c.sliding(layer) ? c.sliding_window : 0;
  return s;
}

void Trainer::end() {
  phase_ = Phase::Idle;
  seqs_.clear();
  next_layer_ = 0;
}

}  // namespace first
