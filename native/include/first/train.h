// Training on the CPU with the base model frozen: backward kernels for the
// llama layer and a Trainer that runs a batch forward layer by layer with a
// soft gate per sequence and layer,
//   h_{l+1} = h_l + g_l * (F_l(h_l) - h_l),
// then the loss, then the layers backward, returning dL/dg_l and
// accumulating LoRA gradients. Only each layer's input h_l is kept; the
// layer's internals are recomputed in backward_layer.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "first/gemm.h"
#include "first/lora.h"
#include "first/matmul.h"
#include "first/model.h"
#include "first/ops.h"
#include "first/threadpool.h"

namespace first {


// ---- backward kernels ---------------------------------------------------------

// Input gradient of Y = X W^T for a block-format weight W (rows x cols):
// dX (M x cols, stride lddx) (+)= dY (M x rows, stride lddy) * W.
// Tiles of W's rows are dequantized into f32 scratch (never the whole weight)
// and multiplied by the f32 GEMM; threads split the columns of dX.
void matmul_input_grad(const WeightView& W, const float* dY, int64_t M, int64_t lddy, float* dX, int64_t lddx,
                       bool accumulate, ThreadPool& pool);

// Backward of y = rmsnorm(x) * w for n_rows rows of d: dx (+)= dL/dx given dy.
void rmsnorm_backward(const float* x, const float* w, const float* dy, float* dx, int64_t n_rows, int64_t d, float eps,
                      bool accumulate, ThreadPool* pool = nullptr);

// Backward of Rope::apply at position pos (in place on the gradient of one token's heads).
void rope_backward(const Rope& rope, float* dx, int n_heads, int pos);

// Backward of out = gelu(gate) * up (exact tanh form): dgate, dup from dout.
void gelu_tanh_mul_backward(const float* gate, const float* up, const float* dout, float* dgate, float* dup, int64_t n,
                            ThreadPool* pool = nullptr);

// Backward of out = silu(gate) * up: dgate, dup from dout (n floats).
void silu_mul_backward(const float* gate, const float* up, const float* dout, float* dgate, float* dup, int64_t n,
                       ThreadPool* pool = nullptr);

// Dense causal grouped-query attention over each sequence's own rows (no
// cache), with an optional sliding window. Sequences are row ranges [row0, row0 + n).
struct SeqRows {
  int64_t row0 = 0;
  int n = 0;
};
struct DenseAttentionShape {
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 0.f;  // 0: 1/sqrt(head_dim)
  int window = 0;     // > 0: each row attends to the last `window` rows up to itself
};
// out (rows x q_dim) from roped q (rows x q_dim), roped k and v (rows x kv_dim).
void dense_attention_forward(const DenseAttentionShape& s, const std::vector<SeqRows>& seqs, const float* q,
                             const float* k, const float* v, float* out, ThreadPool& pool);
// dq, dk, dv (overwritten) from dout, recomputing the attention weights.
void dense_attention_backward(const DenseAttentionShape& s, const std::vector<SeqRows>& seqs, const float* q,
                              const float* k, const float* v, const float* dout, float* dq, float* dk, float* dv,
                              ThreadPool& pool);

// Weighted cross-entropy of softmax(W_out * rmsnorm(h) * w_norm) against
// targets, over the vocabulary in chunks of `chunk` rows of W_out (memory:
// rows x chunk floats). h: rows x d, one target per row (all >= 0), one weight
// per row (1/rows: the mean over tokens; 1/(seqs * tokens of the row's
// sequence): the mean over sequences). Returns sum_r weight_r * loss_r;
// dh (rows x d) is its gradient.
struct CrossEntropyScratch {
  std::vector<float> xn, logits, lse, dxn;
  MatmulScratch mm;
};
double chunked_cross_entropy(const WeightView& W_out, const float* w_norm, float eps, const float* h, int64_t rows,
                             const int32_t* targets, const float* row_weights, float* dh, int chunk, ThreadPool& pool,
                             CrossEntropyScratch& scratch);

// ---- Trainer ------------------------------------------------------------------

struct TrainerOptions {
  int threads = 0;                   // 0: all hardware threads
  int lora_rank = 0;                 // 0: no LoRA
  float lora_alpha = 0.f;            // scale = alpha / rank (alpha 0: scale 1)
  std::vector<std::string> lora_targets;  // subset of q,k,v,o,gate,up,down
  uint64_t lora_seed = 0;
  int ce_chunk = 4096;               // vocabulary rows per cross-entropy chunk
};

struct TrainSequence {
  std::vector<int32_t> tokens;
  std::vector<int32_t> targets;  // -1: no loss at this position
  int prompt_length = 0;         // 1..tokens.size()
};

struct LoraTensorInfo {
  std::string name;  // "blk.<layer>.<module>.<A|B>"
  int layer = 0;
  std::string module;
  std::string kind;  // "A" or "B"
  int64_t rows = 0, cols = 0;
};

// How the batch's cross-entropy averages: over all target positions (long
// responses weigh more), or per sequence first and then over the sequences
// (every example weighs the same, however short its response).
enum class LossWeighting { Tokens, Sequences };

struct LossResult {
  double loss = 0;     // mean cross-entropy (weighted as asked)
  int64_t tokens = 0;  // target positions
};

class Trainer {
 public:
  Trainer(const Model& model, const TrainerOptions& opts);
  ~Trainer();

  const ModelConfig& config() const { return model_.config(); }
  int threads() const { return pool_.size(); }

  const std::vector<LoraTensorInfo>& lora_tensors() const { return lora_info_; }
  // Copies of / writes to a LoRA tensor by name (rows * cols floats).
  void get_lora(const std::string& name, float* out) const;
  void set_lora(const std::string& name, const float* data, int64_t n);
  void lora_grad(const std::string& name, float* out) const;
  int64_t lora_size(const std::string& name) const;
  void zero_grad();
  // The adapters of a layer (for handing the trained LoRA to an Engine).
  const LoraAdapter* adapter(int layer, LoraModule m) const;

  // Starts a step (discarding any unfinished one): embeds every sequence.
  void begin(const std::vector<TrainSequence>& seqs);
  int n_sequences() const { return static_cast<int>(seqs_.size()); }
  // Mean over the prompt positions of the hidden state entering the next layer.
  void mean_hidden(int seq, float* out) const;
  // Runs layer l (layers go 0..L-1 in order); gates: one per sequence, a gate
  // of exactly 0 skips the layer for that sequence.
  void forward_layer(int layer, const float* gates, int n_gates);
  // Final norm + head + mean cross-entropy over positions with targets >= 0;
  // also computes dL/dh_final for the backward pass.
  LossResult loss(LossWeighting weighting = LossWeighting::Tokens);
  // Backward through layer l (layers go L-1..0 in order). dgates_out: dL/dg_l
  // per sequence (0 for a sequence whose gate was 0: the layer did not run).
  // mean_hidden_grad (n_seq x d, may be null): gradient w.r.t. the mean prompt
  // hidden state leaving layer l (the input of router l+1), spread over the
  // prompt positions before the gradient flows through layer l.
  void backward_layer(int layer, const float* mean_hidden_grad, float* dgates_out);
  // dL/dh_0 after backward_layer(0) (n_rows x d), for tests.
  const std::vector<float>& hidden_grad() const { return dh_; }
  // The hidden state rows as they stand (n_rows x d), for tests.
  const std::vector<float>& hidden() const { return h_; }
  void end();

 private:
  struct Seq {
    int64_t row0;
    int n;
    int prompt;
  };
  struct Param {
    LoraAdapter w;
    std::vector<float> gA, gB;
  };
  struct Acts;  // a layer's recomputed internals
  enum class Phase { Idle, Forward, Backward, Done };

  std::vector<SeqRows> active_rows(const std::vector<int>& active) const;
  void run_layer(int layer, const float* x, int64_t n, const std::vector<SeqRows>& rows, Acts& a);
  void gather(const std::vector<int>& active, const float* src, float* dst) const;
  void scatter(const std::vector<int>& active, const float* src, float* dst) const;
  // The parameter and its A or B (or their gradients) by tensor name; throws on an unknown name.
  const LoraTensorInfo& info_of(const std::string& name) const;
  Param& param_of(const LoraTensorInfo& t) const;

  const Model& model_;
  TrainerOptions opts_;
  ThreadPool pool_;
  Rope rope_, rope_sliding_;  // full-attention and sliding-window layers
  const Rope& layer_rope(int layer) const;
  DenseAttentionShape attention_shape(int layer) const;
  std::vector<std::unique_ptr<Param>> params_;  // [layer * 7 + module], null without an adapter
  std::vector<LayerLora> layer_lora_;
  std::vector<LoraTensorInfo> lora_info_;
  std::unordered_map<std::string, size_t> lora_index_;  // name -> lora_info_ index

  Phase phase_ = Phase::Idle;
  int next_layer_ = 0;
  std::vector<Seq> seqs_;
  std::vector<int32_t> targets_;
  int64_t n_rows_ = 0;
  std::vector<float> h_;                   // current hidden state (n_rows x d)
  std::vector<std::vector<float>> saved_;  // [layer] input h_l
  std::vector<std::vector<float>> gates_;  // [layer] gates
  std::vector<float> dh_;                  // dL/dh at the current layer boundary
  std::unique_ptr<Acts> acts_;
  CrossEntropyScratch ce_;
};

}  // namespace first
