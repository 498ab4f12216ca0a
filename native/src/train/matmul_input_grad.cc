// dX = dY * W for a weight kept in its block format. Each thread owns a
// block-aligned range of dX's columns, dequantizes that slice of a tile of W's
// rows into f32 scratch and multiplies it in with the f32 GEMM, so the weight
// is dequantized once per call, a tile at a time.
#include <algorithm>
#include <cstring>
#include <vector>

#include "first/error.h"
#include "first/quant.h"
#include "first/train.h"

namespace first {

namespace {
constexpr int64_t kTileRows = 128;  // rows of W dequantized at a time
}

void matmul_input_grad(const WeightView& W, const float* dY, int64_t M, int64_t lddy, float* dX, int64_t lddx,
                       bool accumulate, ThreadPool& pool) {
  const TypeInfo* info = type_info(static_cast<uint32_t>(W.type));
  if (!info) throw Error("matmul_input_grad: unsupported weight type");
  if (W.rows <= 0 || W.cols <= 0 || M < 0 || !W.data) throw Error("matmul_input_grad: empty weight or bad shape");
  if (W.cols % info->block_size != 0) throw Error("matmul_input_grad: weight columns are not whole blocks");
  if (lddy < W.rows || lddx < W.cols) throw Error("matmul_input_grad: leading dimension too small");
  if (M == 0) return;
  const int64_t blk = info->block_size;
  const int64_t units = W.cols / blk;
  // Small products are not worth waking the other threads.
  const int64_t grain = W.rows * M * W.cols < (1 << 18) ? units : 1;
  pool.parallel_for(units, [&](int64_t u0, int64_t u1) {
    thread_local std::vector<float> tile;
    const int64_t c0 = u0 * blk, kc = (u1 - u0) * blk;
    if (!accumulate)
      for (int64_t m = 0; m < M; ++m) std::memset(dX + m * lddx + c0, 0, sizeof(float) * kc);
    const int64_t nb = std::min(kTileRows, W.rows);
    if (static_cast<int64_t>(tile.size()) < nb * kc) tile.resize(nb * kc);
    for (int64_t r0 = 0; r0 < W.rows; r0 += kTileRows) {
      const int64_t rows = std::min(kTileRows, W.rows - r0);
      for (int64_t r = 0; r < rows; ++r)
        dequantize_row(W.type, W.data + (r0 + r) * W.row_bytes + u0 * info->block_bytes, tile.data() + r * kc, kc);
      gemm_nn(M, kc, rows, 1.f, dY + r0, lddy, tile.data(), kc, dX + c0, lddx);
    }
  }, grain);
}

}  // namespace first
