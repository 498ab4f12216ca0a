// Which product kernel a shape gets, and the weight/activation pairing.
#include "cuda/ops.h"
#include "first/error.h"
#include "first/quant.h"

namespace first {
namespace cuda {

bool has_kernels(TensorType w) {
  switch (w) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16:
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q8_0: return true;
    default: return false;
  }
}

TensorType activation_format(TensorType w) {
  switch (w) {
    case TensorType::Q4_0:
    case TensorType::Q8_0: return TensorType::Q8_0;
    case TensorType::Q4_1: return TensorType::Q8_1;
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16: return TensorType::F32;
    default: throw Error("cuda: weight type has no CUDA kernel");
  }
}

size_t activation_row_bytes(TensorType w, int64_t cols) { return row_bytes(activation_format(w), cols); }

void matmul(const DeviceWeight& W, const void* act, size_t act_stride, int64_t M, float* Y, int64_t ldy,
            bool accumulate, Stream stream) {
  if (!has_kernels(W.type)) throw Error("cuda matmul: weight type has no CUDA kernel");
  if (W.type != TensorType::F32 && W.type != TensorType::F16 && W.type != TensorType::BF16 && W.cols % 32 != 0)
    throw Error("cuda matmul: quantized rows must be whole blocks of 32");
  if (ldy < W.rows) throw Error("cuda matmul: ldy is smaller than the weight's row count");
  if (M <= kMatvecMaxRows)
    matvec(W, act, act_stride, M, Y, ldy, accumulate, stream);
  else
    matmul_tiled(W, act, act_stride, M, Y, ldy, accumulate, stream);
}

}  // namespace cuda
}  // namespace first
