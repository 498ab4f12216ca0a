// A Model's weights in device memory: every matrix uploaded in its own block
// format (one copy of the file's bytes, never dequantized), the norms as f32.
// A tied output head is the embedding's upload, not a second one.
#pragma once
#include <vector>

#include "cuda/buffer.h"
#include "cuda/ops.h"
#include "first/model.h"

namespace first {
namespace cuda {

struct DeviceLayer {
  const float* attn_norm = nullptr;
  const float* ffn_norm = nullptr;
  DeviceWeight wq, wk, wv, wo, w_gate, w_up, w_down;
};

class DeviceModel {
 public:
  // Throws first::Error naming the first tensor whose type has no CUDA kernel.
  explicit DeviceModel(const Model& model);

  const DeviceLayer& layer(int l) const { return layers_[l]; }
  const DeviceWeight& token_embd() const { return token_embd_; }
  const DeviceWeight& output() const { return output_; }
  const float* output_norm() const { return output_norm_; }
  size_t bytes() const { return bytes_; }

 private:
  DeviceWeight upload(const WeightView& w, const char* what, int layer);
  const float* upload(const std::vector<float>& v);

  std::vector<DeviceBuffer> buffers_;
  std::vector<DeviceLayer> layers_;
  DeviceWeight token_embd_, output_;
  const float* output_norm_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace cuda
}  // namespace first
