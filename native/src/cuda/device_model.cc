#include "cuda/device_model.h"

#include <string>

#include "first/error.h"
#include "first/tensor_type.h"

namespace first {
namespace cuda {

DeviceWeight DeviceModel::upload(const WeightView& w, const char* what, int layer) {
  if (!has_kernels(w.type)) {
    const TypeInfo* info = type_info(static_cast<uint32_t>(w.type));
    throw Error(std::string("CUDA engine: ") + what + (layer >= 0 ? " of layer " + std::to_string(layer) : "") +
                " is " + (info ? info->name : "of an unknown type") +
                ", which has no CUDA kernel (supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0)");
  }
  const size_t bytes = w.row_bytes * static_cast<size_t>(w.rows);
  buffers_.emplace_back(bytes);
  buffers_.back().upload(w.data, bytes);
  bytes_ += bytes;
  DeviceWeight d;
  d.type = w.type;
  d.rows = w.rows;
  d.cols = w.cols;
  d.data = buffers_.back().as<uint8_t>();
  d.row_bytes = w.row_bytes;
  return d;
}

const float* DeviceModel::upload(const std::vector<float>& v) {
  buffers_.push_back(to_device(v));
  bytes_ += v.size() * sizeof(float);
  return buffers_.back().as<float>();
}

DeviceModel::DeviceModel(const Model& model) {
  const ModelConfig& c = model.config();
  buffers_.reserve(static_cast<size_t>(c.n_layers) * 9 + 3);
  token_embd_ = upload(model.token_embd(), "token_embd", -1);
  output_ = model.output().data == model.token_embd().data ? token_embd_ : upload(model.output(), "output", -1);
  output_norm_ = upload(model.output_norm());
  layers_.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = model.layer(l);
    DeviceLayer& D = layers_[l];
    D.attn_norm = upload(L.attn_norm);
    D.ffn_norm = upload(L.ffn_norm);
    D.wq = upload(L.wq, "attn_q", l);
    D.wk = upload(L.wk, "attn_k", l);
    D.wv = upload(L.wv, "attn_v", l);
    D.wo = upload(L.wo, "attn_output", l);
    D.w_gate = upload(L.w_gate, "ffn_gate", l);
    D.w_up = upload(L.w_up, "ffn_up", l);
    D.w_down = upload(L.w_down, "ffn_down", l);
  }
}

}  // namespace cuda
}  // namespace first
