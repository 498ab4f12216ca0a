// The decoder layer's pieces, shared by the engine and the trainer.
#include "first/decoder_layer.h"

#include <algorithm>
#include <cstring>

#include "first/error.h"

namespace first {

namespace {
// The engine's adapters carry an int8 form (first/low_rank.h) that runs inside
// the base matmul's call. The trainer's adapters have none and take lora_forward
// (f32, with the t its backward pass needs).
bool fused_lora(const LayerLora* lora) {
  if (!lora) return false;
  for (const LoraAdapter* a : lora->module)
    if (a && a->decode.rank == 0) return false;
  return true;
}
const LowRank* decode_form(const LayerLora* lora, LoraModule m) {
  const LoraAdapter* a = lora->module[static_cast<int>(m)];
  return a ? &a->decode : nullptr;
}

// Each run's low-rank term of module m: Y rows += scale B (A X rows), in the
// int8 form a run alone would take, so a row's result does not depend on its batch.
void add_runs(const std::vector<LoraRun>& runs, LoraModule m, const float* X, int64_t ldx, float* Y, int64_t ldy,
              ThreadPool& pool, MatmulScratch& mm) {
  for (const LoraRun& r : runs) {
    const LoraAdapter* ad = r.lora ? r.lora->module[static_cast<int>(m)] : nullptr;
    if (ad) low_rank_add(ad->decode, X + r.row0 * ldx, r.n, ldx, Y + r.row0 * ldy, ldy, pool, mm);
  }
}
}  // namespace

namespace {
// q, k, v = Wq xn, Wk xn, Wv xn with each adapter's term.
void qkv_projections(const ModelConfig& c, const LayerWeights& L, const LayerLora* lora, int64_t n, const LayerActs& a,
                     ThreadPool& pool, MatmulScratch& mm, const std::vector<LoraRun>* runs) {
  const int d = c.d_model, qd = c.q_dim(), kvd = c.kv_dim();
  if (runs) {
    matmul_multi({&L.wq, &L.wk, &L.wv}, a.xn, n, d, {a.q, a.k, a.v}, {qd, kvd, kvd}, pool, mm);
    add_runs(*runs, LoraModule::Q, a.xn, d, a.q, qd, pool, mm);
    add_runs(*runs, LoraModule::K, a.xn, d, a.k, kvd, pool, mm);
    add_runs(*runs, LoraModule::V, a.xn, d, a.v, kvd, pool, mm);
    return;
  }
  if (fused_lora(lora)) {
    const std::vector<const LowRank*> lr = {decode_form(lora, LoraModule::Q), decode_form(lora, LoraModule::K),
                                            decode_form(lora, LoraModule::V)};
    matmul_multi({&L.wq, &L.wk, &L.wv}, a.xn, n, d, {a.q, a.k, a.v}, {qd, kvd, kvd}, pool, mm, &lr);
    return;
  }
  matmul_multi({&L.wq, &L.wk, &L.wv}, a.xn, n, d, {a.q, a.k, a.v}, {qd, kvd, kvd}, pool, mm);
  if (!lora) return;
  float* outs[3] = {a.q, a.k, a.v};
  const int64_t lds[3] = {qd, kvd, kvd};
  for (int m = 0; m < 3; ++m)
    if (const LoraAdapter* ad = lora->module[m]) lora_forward(*ad, a.xn, n, d, outs[m], lds[m], a.lora_t[m], pool);
}

void add_bias(float* y, int64_t n, const std::vector<float>& bias) {
  if (bias.empty()) return;
  const int64_t w = static_cast<int64_t>(bias.size());
  for (int64_t r = 0; r < n; ++r)
    for (int64_t i = 0; i < w; ++i) y[r * w + i] += bias[i];
}

// out (n x d) = W in (+ adapter), then x += post_norm(out); without a
// post-norm the product is accumulated into x directly.
template <typename Product>
void add_output(const ModelConfig& c, const std::vector<float>& post_norm, float* x, int64_t n, const LayerActs& a,
                Product product) {
  if (post_norm.empty()) {
    product(x, /*accumulate=*/true);
    return;
  }
  const int d = c.d_model;
  float* proj = a.proj;
  product(proj, /*accumulate=*/false);
  if (a.proj_pre) std::memcpy(a.proj_pre, proj, sizeof(float) * n * d);
  rmsnorm(proj, post_norm.data(), proj, n, d, c.rms_eps);
  for (int64_t i = 0; i < n * d; ++i) x[i] += proj[i];
}
}  // namespace

void layer_qkv(const ModelConfig& c, const LayerWeights& L, const LayerLora* lora, const float* x, int64_t n,
               const LayerActs& a, ThreadPool& pool, MatmulScratch& mm, const std::vector<LoraRun>* runs) {
  rmsnorm(x, L.attn_norm.data(), a.xn, n, c.d_model, c.rms_eps);
  qkv_projections(c, L, lora, n, a, pool, mm, runs);
  add_bias(a.q, n, L.bq);
  add_bias(a.k, n, L.bk);
  add_bias(a.v, n, L.bv);
  if (a.q_pre && !L.q_norm.empty()) std::memcpy(a.q_pre, a.q, sizeof(float) * n * c.q_dim());
  if (a.k_pre && !L.k_norm.empty()) std::memcpy(a.k_pre, a.k, sizeof(float) * n * c.kv_dim());
  if (!L.q_norm.empty()) rmsnorm(a.q, L.q_norm.data(), a.q, n * c.n_heads, c.head_dim, c.rms_eps);
  if (!L.k_norm.empty()) rmsnorm(a.k, L.k_norm.data(), a.k, n * c.n_kv_heads, c.head_dim, c.rms_eps);
}

void layer_attn_out(const ModelConfig& c, const LayerWeights& L, const LayerLora* lora, float* x, int64_t n,
                    const LayerActs& a, ThreadPool& pool, MatmulScratch& mm, const std::vector<LoraRun>* runs) {
  const int d = c.d_model, qd = c.q_dim();
  const int o = static_cast<int>(LoraModule::O);
  add_output(c, L.attn_post_norm, x, n, a, [&](float* y, bool accumulate) {
    if (runs) {
      matmul(L.wo, a.att, n, qd, y, d, accumulate, pool, mm);
      add_runs(*runs, LoraModule::O, a.att, qd, y, d, pool, mm);
    } else if (fused_lora(lora)) {
      matmul(L.wo, a.att, n, qd, y, d, accumulate, pool, mm, decode_form(lora, LoraModule::O));
    } else {
      matmul(L.wo, a.att, n, qd, y, d, accumulate, pool, mm);
      if (lora && lora->module[o]) lora_forward(*lora->module[o], a.att, n, qd, y, d, a.lora_t[o], pool);
    }
  });
}

void layer_mlp(const ModelConfig& c, const LayerWeights& L, const LayerLora* lora, float* x, int64_t n,
               const LayerActs& a, ThreadPool& pool, MatmulScratch& mm, const std::vector<LoraRun>* runs) {
  const int d = c.d_model, ff = c.ffn_dim;
  const int g = static_cast<int>(LoraModule::Gate), u = static_cast<int>(LoraModule::Up),
            dn = static_cast<int>(LoraModule::Down);
  rmsnorm(x, L.ffn_norm.data(), a.xn, n, d, c.rms_eps);
  const bool fused = !runs && fused_lora(lora);
  if (runs) {
    matmul_multi({&L.w_gate, &L.w_up}, a.xn, n, d, {a.gate, a.up}, {ff, ff}, pool, mm);
    add_runs(*runs, LoraModule::Gate, a.xn, d, a.gate, ff, pool, mm);
    add_runs(*runs, LoraModule::Up, a.xn, d, a.up, ff, pool, mm);
  } else if (fused) {
    const std::vector<const LowRank*> lr = {decode_form(lora, LoraModule::Gate), decode_form(lora, LoraModule::Up)};
    matmul_multi({&L.w_gate, &L.w_up}, a.xn, n, d, {a.gate, a.up}, {ff, ff}, pool, mm, &lr);
  } else {
    matmul_multi({&L.w_gate, &L.w_up}, a.xn, n, d, {a.gate, a.up}, {ff, ff}, pool, mm);
    if (lora && lora->module[g]) lora_forward(*lora->module[g], a.xn, n, d, a.gate, ff, a.lora_t[g], pool);
    if (lora && lora->module[u]) lora_forward(*lora->module[u], a.xn, n, d, a.up, ff, a.lora_t[u], pool);
  }
  if (c.recipe.activation == MlpActivation::Silu) silu_mul(a.gate, a.up, a.act, n * ff);
  else if (a.exact_activation) gelu_tanh_exact_mul(a.gate, a.up, a.act, n * ff);
  else gelu_tanh_mul(a.gate, a.up, a.act, n * ff);
  add_output(c, L.ffn_post_norm, x, n, a, [&](float* y, bool accumulate) {
    if (runs) {
      matmul(L.w_down, a.act, n, ff, y, d, accumulate, pool, mm);
      add_runs(*runs, LoraModule::Down, a.act, ff, y, d, pool, mm);
    } else if (fused) {
      matmul(L.w_down, a.act, n, ff, y, d, accumulate, pool, mm, decode_form(lora, LoraModule::Down));
    } else {
      matmul(L.w_down, a.act, n, ff, y, d, accumulate, pool, mm);
      if (lora && lora->module[dn]) lora_forward(*lora->module[dn], a.act, n, ff, y, d, a.lora_t[dn], pool);
    }
  });
}

Rope model_rope(const Model& m, bool sliding_layer) {
  const ModelConfig& c = m.config();
  if (sliding_layer) return Rope(c.head_dim, c.rope_dim, c.rope_base_sliding, 1.f, {}, c.recipe.rope);
  return Rope(c.head_dim, c.rope_dim, c.rope_base, c.rope_scale, m.rope_freq_factors(), c.recipe.rope);
}

}  // namespace first
