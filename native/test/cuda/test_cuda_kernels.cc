// Every CUDA kernel against the CPU kernel on the same inputs, odd sizes
// included. Activation quantization must match byte for byte (both backends
// then dot the same quants); products, norms and attention agree to float
// rounding. Each test skips, saying why, where no GPU is present.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cuda/block_tables.h"
#include "cuda/buffer.h"
#include "cuda/cuda_testing.h"
#include "cuda/ops.h"
#include "first/kv_cache.h"
#include "first/matmul.h"
#include "first/ops.h"
#include "first/quant.h"
#include "harness.h"
#include "quant_testing.h"

using namespace first;
using namespace first::cuda;
using quant_testing::make_weights;
using quant_testing::name_of;
using quant_testing::random_floats;

namespace {

const TensorType kCudaTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16,
                                 TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0};

bool quantized(TensorType t) { return activation_format(t) != TensorType::F32; }

// Activation rows of X (M x cols) on the device, as a product with W reads them.
DeviceBuffer device_activations(TensorType w, const std::vector<float>& X, int64_t M, int64_t cols, size_t* stride) {
  DeviceBuffer x = to_device(X);
  if (!quantized(w)) {
    *stride = static_cast<size_t>(cols) * sizeof(float);
    return x;
  }
  *stride = activation_row_bytes(w, cols);
  DeviceBuffer q(*stride * static_cast<size_t>(M));
  quantize_rows(activation_format(w), x.as<float>(), M, cols, cols, q.data(), *stride, nullptr);
  return q;
}

}  // namespace

TEST(cuda_quantize_activations_match_cpu_bytes) {
  REQUIRE_GPU();
  for (TensorType w : {TensorType::Q8_0, TensorType::Q4_1}) {
    for (int64_t cols : {32, 96, 576, 1536}) {
      const int64_t rows = 3;
      auto x = random_floats(static_cast<size_t>(rows * cols), 7 + cols, 2.f);
      std::fill(x.begin() + 32, x.begin() + 64, 0.f);  // an all-zero block (rows * cols >= 96)
      x[5] = 1e4f;
      const size_t stride = activation_row_bytes(w, cols);
      DeviceBuffer dx = to_device(x), dq(stride * rows);
      quantize_rows(activation_format(w), dx.as<float>(), rows, cols, cols, dq.data(), stride, nullptr);
      auto got = to_host<uint8_t>(dq, stride * rows);
      std::vector<uint8_t> want(stride * rows);
      for (int64_t r = 0; r < rows; ++r) scalar::quantize_activations(w, x.data() + r * cols, want.data() + r * stride, cols);
      CHECK(got == want) << name_of(w) << " partner, cols=" << cols;
    }
  }
}

TEST(cuda_swiglu_matches_cpu) {
  REQUIRE_GPU();
  for (int64_t cols : {32, 96, 1536}) {
    const int64_t rows = 2, n = rows * cols;
    auto g = random_floats(n, 3 + cols, 3.f), u = random_floats(n, 4 + cols);
    std::vector<float> want(n);
    silu_mul(g.data(), u.data(), want.data(), n);
    DeviceBuffer dg = to_device(g), du = to_device(u), dout(n * 4);
    swiglu(dg.as<float>(), du.as<float>(), dout.as<float>(), n, nullptr);
    auto got = to_host<float>(dout, n);
    for (int64_t i = 0; i < n; ++i) CHECK_NEAR(got[i], want[i], 1e-6 * (1 + std::fabs(want[i]))) << "i=" << i;
    // Fused into the quantizer: at most one quantization step off (expf may
    // differ from the CPU's exp in the last bit, moving a value across a tie).
    for (TensorType w : {TensorType::Q8_0, TensorType::Q4_1}) {
      const size_t stride = activation_row_bytes(w, cols);
      DeviceBuffer dq(stride * rows);
      swiglu_quantize_rows(activation_format(w), dg.as<float>(), du.as<float>(), rows, cols, cols, dq.data(), stride, nullptr);
      auto q = to_host<uint8_t>(dq, stride * rows);
      std::vector<uint8_t> ref(stride * rows);
      for (int64_t r = 0; r < rows; ++r)
        scalar::quantize_activations(w, want.data() + r * cols, ref.data() + r * stride, cols);
      const size_t blk = w == TensorType::Q8_0 ? 34 : 36, hdr = blk - 32;
      int off_by_one = 0, worse = 0;
      for (size_t b = 0; b < stride * rows / blk; ++b)
        for (size_t j = 0; j < 32; ++j) {
          const int a = static_cast<int8_t>(q[b * blk + hdr + j]), c = static_cast<int8_t>(ref[b * blk + hdr + j]);
          if (a != c) ++(std::abs(a - c) == 1 ? off_by_one : worse);
        }
      CHECK(worse == 0) << name_of(w) << " cols=" << cols << ": " << worse << " quants off by more than one step";
    }
  }
}

// matvec (decode) and the tiled product (prefill) against the CPU matmul,
// plain and accumulating into Y (the fused residual add).
TEST(cuda_matmul_matches_cpu) {
  REQUIRE_GPU();
  ThreadPool pool(1);
  MatmulScratch scratch;
  for (TensorType t : kCudaTypes) {
    const std::vector<int64_t> col_set =
        quantized(t) ? std::vector<int64_t>{32, 96, 576} : std::vector<int64_t>{7, 33, 100, 576};
    for (int64_t cols : col_set)
      for (int64_t rows : {1, 5, 67, 130})
        for (int64_t M : {1, 3, 8, 9, 70}) {
          const auto w = make_weights(t, rows, cols, 100 + rows + cols);
          WeightView W{t, rows, cols, w.data(), row_bytes(t, cols)};
          const auto X = random_floats(static_cast<size_t>(M * cols), 200 + M + cols);
          const auto Y0 = random_floats(static_cast<size_t>(M * rows), 300 + M);
          DeviceBuffer dw = to_device(w);
          DeviceWeight D{t, rows, cols, dw.as<uint8_t>(), W.row_bytes};
          size_t stride = 0;
          DeviceBuffer act = device_activations(t, X, M, cols, &stride);
          for (bool acc : {false, true}) {
            std::vector<float> want = Y0;
            matmul(W, X.data(), M, cols, want.data(), rows, acc, pool, scratch);
            auto run = [&](bool tiled) {
              DeviceBuffer dy = to_device(Y0);
              if (tiled)
                matmul_tiled(D, act.data(), stride, M, dy.as<float>(), rows, acc, nullptr);
              else
                matvec(D, act.data(), stride, M, dy.as<float>(), rows, acc, nullptr);
              auto got = to_host<float>(dy, Y0.size());
              double worst = 0;
              for (size_t i = 0; i < got.size(); ++i)
                worst = std::max(worst, std::fabs(double(got[i]) - want[i]) / (1 + std::fabs(want[i])));
              CHECK(worst <= 1e-4) << name_of(t) << (tiled ? " tiled" : " matvec") << " rows=" << rows
                                   << " cols=" << cols << " M=" << M << " acc=" << acc << " rel err " << worst;
            };
            run(true);
            if (M <= kMatvecMaxRows) run(false);
          }
        }
  }
}

TEST(cuda_rmsnorm_matches_cpu) {
  REQUIRE_GPU();
  for (int64_t d : {7, 64, 577}) {
    const int64_t rows = 4;
    auto x = random_floats(rows * d, 5 + d, 3.f), w = random_floats(d, 6 + d);
    const std::vector<int32_t> pick = {3, 0, 2};
    std::vector<float> want(pick.size() * d);
    for (size_t i = 0; i < pick.size(); ++i) rmsnorm(x.data() + pick[i] * d, w.data(), want.data() + i * d, 1, d, 1e-5f);
    DeviceBuffer dx = to_device(x), dw = to_device(w), dp = to_device(pick), dy(want.size() * 4);
    rmsnorm(dx.as<float>(), d, dp.as<int32_t>(), dw.as<float>(), dy.as<float>(), pick.size(), d, 1e-5f, nullptr);
    auto got = to_host<float>(dy, want.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK_NEAR(got[i], want[i], 1e-5 * (1 + std::fabs(want[i]))) << "d=" << d;
  }
}

TEST(cuda_embed_and_row_moves_match_cpu) {
  REQUIRE_GPU();
  for (TensorType t : kCudaTypes) {
    const int64_t vocab = 11, cols = 96;
    const auto e = make_weights(t, vocab, cols, 40);
    const std::vector<int32_t> tokens = {0, 10, 3, 3};
    DeviceBuffer de = to_device(e), dt = to_device(tokens), out(tokens.size() * cols * 4);
    embed_rows(DeviceWeight{t, vocab, cols, de.as<uint8_t>(), row_bytes(t, cols)}, dt.as<int32_t>(), tokens.size(),
               out.as<float>(), nullptr);
    auto got = to_host<float>(out, tokens.size() * cols);
    std::vector<float> want(cols);
    for (size_t i = 0; i < tokens.size(); ++i) {
      scalar::dequantize_row(t, e.data() + tokens[i] * row_bytes(t, cols), want.data(), cols);
      CHECK(std::memcmp(got.data() + i * cols, want.data(), cols * 4) == 0) << name_of(t) << " token " << tokens[i];
    }
  }
  const int64_t d = 5;
  auto src = random_floats(4 * d, 9);
  const std::vector<int32_t> idx = {2, 0, 3};
  DeviceBuffer ds = to_device(src), di = to_device(idx), dg(3 * d * 4), dback = to_device(std::vector<float>(4 * d, -1.f));
  gather_rows(ds.as<float>(), di.as<int32_t>(), 3, d, dg.as<float>(), nullptr);
  scatter_rows(dg.as<float>(), di.as<int32_t>(), 3, d, dback.as<float>(), nullptr);
  auto g = to_host<float>(dg, 3 * d), back = to_host<float>(dback, 4 * d);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < d; ++j) {
      CHECK(g[i * d + j] == src[idx[i] * d + j]);
      CHECK(back[idx[i] * d + j] == src[idx[i] * d + j]);
    }
  for (int j = 0; j < d; ++j) CHECK(back[1 * d + j] == -1.f) << "row 1 is not in the index list";
}

// RoPE + the KV write into paged blocks, then attention reading them, against
// the CPU's Rope, KvCache and attention() on the same rows.
TEST(cuda_rope_kv_and_paged_attention_match_cpu) {
  REQUIRE_GPU();
  struct Shape {
    int n_heads, n_kv, head_dim, rope_dim, block_tokens;
  };
  for (const Shape& sh : {Shape{4, 2, 32, 32, 16}, Shape{9, 3, 64, 64, 16}, Shape{6, 6, 40, 20, 5},
                          Shape{8, 1, 128, 128, 16}}) {
    const int kvd = sh.n_kv * sh.head_dim, qd = sh.n_heads * sh.head_dim;
    const std::vector<int> lens = {1, 15, 16, 17, 70};
    const int max_len = 70;
    const Rope rope(sh.head_dim, sh.rope_dim, 10000.f, 1.f, {});
    KvCache cpu(KvCacheConfig{1, kvd, sh.block_tokens, 64});
    BlockTables tables(1, sh.block_tokens, 64);
    std::vector<float> Q, K, V;
    std::vector<int32_t> pos, slot, seq_of_row;
    for (size_t s = 0; s < lens.size(); ++s) {
      const int a = cpu.create_sequence(), b = tables.create_sequence();
      CHECK(a == static_cast<int>(s) && b == static_cast<int>(s));
      cpu.reserve(a, 0, lens[s], 0);
      tables.reserve(b, 0, lens[s], 0, nullptr);
      for (int p = 0; p < lens[s]; ++p) {
        auto q = random_floats(qd, 1000 + s * 100 + p), k = random_floats(kvd, 2000 + s * 100 + p),
             v = random_floats(kvd, 3000 + s * 100 + p);
        rope.apply_to(k.data(), cpu.k_row(a, 0, p), sh.n_kv, p);
        std::copy(v.begin(), v.end(), cpu.v_row(a, 0, p));
        Q.insert(Q.end(), q.begin(), q.end());
        K.insert(K.end(), k.begin(), k.end());
        V.insert(V.end(), v.begin(), v.end());
        pos.push_back(p);
        slot.push_back(tables.slot(b, 0, p));
        seq_of_row.push_back(static_cast<int32_t>(s));
      }
    }
    const int64_t n = static_cast<int64_t>(pos.size());
    // The CPU's rotated queries and attention over every row (causal).
    std::vector<float> q_cpu = Q, out_cpu(n * qd);
    AttentionBatch ab;
    ab.q = q_cpu.data();
    ab.ldq = qd;
    ab.out = out_cpu.data();
    ab.ldo = qd;
    for (int64_t r = 0; r < n; ++r) {
      rope.apply(q_cpu.data() + r * qd, sh.n_heads, pos[r]);
      ab.seq.push_back(seq_of_row[r]);
      ab.n_ctx.push_back(pos[r] + 1);
    }
    ThreadPool pool(1);
    attention(cpu, 0, ab, sh.n_heads, sh.n_kv, sh.head_dim, pool);

    const int half = sh.rope_dim / 2;
    std::vector<float> cs(2 * max_len * half);
    for (int p = 0; p < max_len; ++p)
      for (int i = 0; i < half; ++i) {
        cs[p * half + i] = static_cast<float>(std::cos(p * rope.inv_freq[i]));
        cs[(max_len + p) * half + i] = static_cast<float>(std::sin(p * rope.inv_freq[i]));
      }
    KvPoolView kv;
    kv.block_tokens = sh.block_tokens;
    kv.kv_dim = kvd;
    DeviceBuffer dpool(kv.block_floats() * 4 * 64), dcs = to_device(cs), dq = to_device(Q), dk = to_device(K),
        dv = to_device(V), dpos = to_device(pos), dslot = to_device(slot), dout(n * qd * 4);
    dpool.zero();
    kv.pool = dpool.as<float>();
    RopeTable rt{dcs.as<float>(), max_len, sh.head_dim, sh.rope_dim};
    rope_write_kv(rt, dq.as<float>(), qd, sh.n_heads, dk.as<float>(), dv.as<float>(), kvd, sh.n_kv,
                  dpos.as<int32_t>(), dslot.as<int32_t>(), n, kv, nullptr);
    auto q_gpu = to_host<float>(dq, n * qd);
    CHECK(q_gpu == q_cpu) << "rotated queries differ, head_dim " << sh.head_dim;
    auto pool_gpu = to_host<float>(dpool, kv.block_floats() * 64);
    int kv_mismatch = 0;
    for (int64_t r = 0; r < n; ++r) {
      const int s = seq_of_row[r], p = pos[r];
      const float* kg = pool_gpu.data() + (slot[r] / sh.block_tokens) * kv.block_floats() + (slot[r] % sh.block_tokens) * kvd;
      const float* vg = kg + sh.block_tokens * kvd;
      if (std::memcmp(kg, cpu.k_row(s, 0, p), kvd * 4) != 0 || std::memcmp(vg, cpu.v_row(s, 0, p), kvd * 4) != 0)
        ++kv_mismatch;
    }
    CHECK(kv_mismatch == 0) << kv_mismatch << " K/V rows differ, head_dim " << sh.head_dim;

    std::vector<int32_t> flat, off, nctx;
    std::vector<int32_t> seq_off;
    for (size_t s = 0; s < lens.size(); ++s) {
      seq_off.push_back(static_cast<int32_t>(flat.size()));
      const auto& t = tables.table(static_cast<int>(s), 0);
      flat.insert(flat.end(), t.begin(), t.end());
    }
    for (int64_t r = 0; r < n; ++r) {
      off.push_back(seq_off[seq_of_row[r]]);
      nctx.push_back(pos[r] + 1);
    }
    DeviceBuffer dflat = to_device(flat), doff = to_device(off), dnctx = to_device(nctx);
    paged_attention(kv, dq.as<float>(), qd, dout.as<float>(), qd, sh.n_heads, sh.n_kv, sh.head_dim,
                    dflat.as<int32_t>(), doff.as<int32_t>(), dnctx.as<int32_t>(), n, nullptr);
    auto out_gpu = to_host<float>(dout, n * qd);
    double worst = 0;
    for (int64_t i = 0; i < n * qd; ++i) worst = std::max(worst, std::fabs(double(out_gpu[i]) - out_cpu[i]));
    CHECK(worst <= 1e-5) << "attention differs by " << worst << ", heads " << sh.n_heads << "/" << sh.n_kv
                         << " head_dim " << sh.head_dim;
  }
}
