// Block-format kernels: layouts, conversions, round trips, and the fast dots
// against the scalar reference and a double-precision one.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "first/error.h"
#include "first/quant.h"
#include "first/tensor_type.h"
#include "harness.h"
#include "quant/blocks.h"
#include "quant_testing.h"

using namespace first;
using namespace quant_testing;

namespace {

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}


}  // namespace

TEST(type_info_matches_gguf_sizes) {
  struct Want { TensorType t; const char* name; int64_t blk; size_t bytes; };
  const Want want[] = {
      {TensorType::F32, "F32", 1, 4},      {TensorType::F16, "F16", 1, 2},       {TensorType::Q4_0, "Q4_0", 32, 18},
      {TensorType::Q4_1, "Q4_1", 32, 20},  {TensorType::Q8_0, "Q8_0", 32, 34},   {TensorType::Q8_1, "Q8_1", 32, 36},
      {TensorType::Q4_K, "Q4_K", 256, 144}, {TensorType::Q6_K, "Q6_K", 256, 210}, {TensorType::Q8_K, "Q8_K", 256, 292},
      {TensorType::BF16, "BF16", 1, 2},
  };
  for (const auto& w : want) {
    const TypeInfo* info = type_info(static_cast<uint32_t>(w.t));
    CHECK(info != nullptr) << w.name;
    if (!info) continue;
    CHECK(std::strcmp(info->name, w.name) == 0) << info->name;
    CHECK(info->block_size == w.blk) << w.name;
    CHECK(info->block_bytes == w.bytes) << w.name;
  }
  CHECK(type_info(6) == nullptr) << "Q5_0 is not supported";
  CHECK(type_info(1000) == nullptr);
  CHECK(row_bytes(TensorType::Q4_1, 576) == 18 * 20);
  CHECK(row_bytes(TensorType::Q6_K, 512) == 2 * 210);
  CHECK(row_bytes(TensorType::F16, 7) == 14);
  bool threw = false;
  try {
    row_bytes(TensorType::Q4_K, 300);
  } catch (const Error&) {
    threw = true;
  }
  CHECK(threw) << "a partial block must be rejected";
}

TEST(f16_conversion_edge_cases) {
  CHECK(f32_to_f16(1.0f) == 0x3c00);
  CHECK(f32_to_f16(-2.0f) == 0xc000);
  CHECK(f32_to_f16(0.0f) == 0x0000);
  CHECK(f32_to_f16(-0.0f) == 0x8000);
  CHECK(f32_to_f16(65504.0f) == 0x7bff);
  CHECK(f32_to_f16(65519.0f) == 0x7bff) << "below the halfway point to 65536";
  CHECK(f32_to_f16(65520.0f) == 0x7c00) << "halfway to 65536 rounds to even = inf";
  CHECK(f32_to_f16(1e10f) == 0x7c00);
  CHECK(f32_to_f16(std::numeric_limits<float>::infinity()) == 0x7c00);
  CHECK(f32_to_f16(-std::numeric_limits<float>::infinity()) == 0xfc00);
  const uint16_t hn = f32_to_f16(std::numeric_limits<float>::quiet_NaN());
  CHECK((hn & 0x7c00) == 0x7c00 && (hn & 0x3ff) != 0) << "nan stays nan";
  CHECK(std::isnan(f16_to_f32(0x7e00)));
  CHECK(f16_to_f32(0x7c00) == std::numeric_limits<float>::infinity());
  // Rounding to nearest even at one half-ulp.
  CHECK(f32_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00) << "tie goes to the even 1.0";
  CHECK(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02) << "tie goes to the even 1+2^-9";
  CHECK(f32_to_f16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)) == 0x3c01) << "above the tie rounds up";
  // Subnormals.
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));
  CHECK(f16_to_f32(0x03ff) == std::ldexp(1023.0f, -24));
  CHECK(f16_to_f32(0x8001) == -std::ldexp(1.0f, -24));
  CHECK(f32_to_f16(std::ldexp(1.0f, -24)) == 0x0001);
  CHECK(f32_to_f16(std::ldexp(1.0f, -25)) == 0x0000) << "tie between 0 and the smallest subnormal goes to 0";
  CHECK(f32_to_f16(std::ldexp(1.5f, -25)) == 0x0001);
  CHECK(f32_to_f16(std::ldexp(3.0f, -25)) == 0x0002) << "1.5 subnormal steps round to even 2";
  CHECK(f32_to_f16(std::ldexp(1.0f, -14)) == 0x0400) << "smallest normal";
  CHECK(f32_to_f16(std::ldexp(1023.75f, -24)) == 0x0400) << "rounds up out of the subnormal range";
  CHECK(f32_to_f16(1e-10f) == 0x0000);
  // Every half survives a round trip through f32.
  int bad = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    if (f32_to_f16(f) != h) ++bad;
  }
  CHECK(bad == 0) << bad << " halves changed in a round trip";
  // Random floats land on the nearest half.
  auto xs = random_floats(20000, 7, 3000.0f);
  int far = 0;
  for (float x : xs) {
    const uint16_t h = f32_to_f16(x);
    const double err = std::fabs(double(f16_to_f32(h)) - x);
    for (int step : {-1, 1}) {
      const float other = f16_to_f32(static_cast<uint16_t>(h + step));
      if (std::isfinite(other) && std::fabs(double(other) - x) < err) ++far;
    }
  }
  CHECK(far == 0) << far << " conversions were not to the nearest half";
}

TEST(bf16_conversion_edge_cases) {
  CHECK(f32_to_bf16(1.0f) == 0x3f80);
  CHECK(bf16_to_f32(0x3f80) == 1.0f);
  CHECK(f32_to_bf16(-0.0f) == 0x8000);
  CHECK(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80) << "tie goes to even";
  CHECK(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82) << "tie goes to even";
  CHECK(f32_to_bf16(std::numeric_limits<float>::infinity()) == 0x7f80);
  CHECK(f32_to_bf16(-std::numeric_limits<float>::infinity()) == 0xff80);
  CHECK(f32_to_bf16(from_bits(0x7f7fffff)) == 0x7f80) << "FLT_MAX rounds to inf";
  const uint16_t n1 = f32_to_bf16(from_bits(0x7f800001));  // a nan whose payload sits in the dropped bits
  CHECK(std::isnan(bf16_to_f32(n1))) << "nan must not become inf";
  CHECK(f32_to_bf16(from_bits(0x00010000)) == 0x0001) << "subnormals are kept";
  CHECK(bf16_to_f32(0x0001) == from_bits(0x00010000));
  int bad = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_f32(static_cast<uint16_t>(h));
    if (!std::isnan(f) && f32_to_bf16(f) != h) ++bad;
  }
  CHECK(bad == 0) << bad << " bf16 values changed in a round trip";
}

TEST(block_layouts_decode_like_gguf) {
  // Q4_0: low nibbles are elements 0..15, high nibbles 16..31, value (q - 8) * d.
  quant::BlockQ4_0 b40{};
  b40.d = f32_to_f16(0.5f);
  for (int j = 0; j < 16; ++j) b40.qs[j] = static_cast<uint8_t>((j & 0xF) | ((15 - j) << 4));
  float out[256];
  dequantize_row(TensorType::Q4_0, &b40, out, 32);
  CHECK(out[0] == -4.0f && out[15] == 3.5f && out[16] == 3.5f && out[31] == -4.0f)
      << out[0] << " " << out[15] << " " << out[16] << " " << out[31];
  // Q4_1: value q * d + m.
  quant::BlockQ4_1 b41{};
  b41.d = f32_to_f16(0.25f);
  b41.m = f32_to_f16(-1.0f);
  for (int j = 0; j < 16; ++j) b41.qs[j] = static_cast<uint8_t>(j | (8 << 4));
  dequantize_row(TensorType::Q4_1, &b41, out, 32);
  CHECK(out[3] == -0.25f && out[20] == 1.0f) << out[3] << " " << out[20];
  // Q8_0.
  quant::BlockQ8_0 b80{};
  b80.d = f32_to_f16(2.0f);
  for (int j = 0; j < 32; ++j) b80.qs[j] = static_cast<int8_t>(j - 16);
  dequantize_row(TensorType::Q8_0, &b80, out, 32);
  CHECK(out[0] == -32.0f && out[31] == 30.0f);
  // Q4_K: sub-block j uses scale/min j; sub-blocks 2c and 2c+1 share qs[32c..32c+31].
  quant::BlockQ4_K bk{};
  bk.d = f32_to_f16(1.0f);
  bk.dmin = f32_to_f16(0.5f);
  // scales 1..8 and mins 10..17: the low 6 bits of bytes 0..7 for j < 4, the split form for j >= 4.
  const int sc[8] = {1, 2, 3, 4, 37, 38, 39, 40}, mn[8] = {10, 11, 12, 13, 50, 51, 52, 53};
  for (int j = 0; j < 4; ++j) {
    bk.scales[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    bk.scales[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
    bk.scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
  }
  for (int i = 0; i < 128; ++i) bk.qs[i] = static_cast<uint8_t>(1 | (2 << 4));
  dequantize_row(TensorType::Q4_K, &bk, out, 256);
  for (int j = 0; j < 8; ++j) {
    const float q = j % 2 == 0 ? 1.0f : 2.0f;
    const float want = 1.0f * sc[j] * q - 0.5f * mn[j];
    CHECK(out[32 * j] == want && out[32 * j + 31] == want) << "sub-block " << j << ": " << out[32 * j] << " vs " << want;
  }
  // Q6_K: element l + 32k of each half takes ql[l + 32 (k & 1)] nibble k >> 1 and qh[l] bits 2k.
  quant::BlockQ6_K b6{};
  b6.d = f32_to_f16(1.0f);
  for (int g = 0; g < 16; ++g) b6.scales[g] = static_cast<int8_t>(g + 1);
  b6.ql[0] = 0x21;          // element 0 low = 1, element 64 low = 2
  b6.ql[32] = 0x43;         // element 32 low = 3, element 96 low = 4
  b6.qh[0] = 0b11100100;    // element 0 high 0, element 32 high 1, element 64 high 2, element 96 high 3
  b6.ql[64 + 5] = 0x0F;     // element 128 + 5 low = 15
  b6.qh[32 + 5] = 0b00000011;  // element 133 high = 3
  dequantize_row(TensorType::Q6_K, &b6, out, 256);
  CHECK(out[0] == 1.0f * (1 - 32)) << out[0];
  CHECK(out[32] == 3.0f * (3 + 16 - 32)) << out[32];
  CHECK(out[64] == 5.0f * (2 + 32 - 32)) << out[64];
  CHECK(out[96] == 7.0f * (4 + 48 - 32)) << out[96];
  CHECK(out[133] == 9.0f * (15 + 48 - 32)) << out[133];
  CHECK(out[1] == 1.0f * -32) << out[1];
}

TEST(quantize_round_trip_error_bounds) {
  struct Case { TensorType t; double rel_rms; double rel_max; };
  const Case cases[] = {
      {TensorType::F32, 0, 0},         {TensorType::F16, 1e-3, 1e-3},  {TensorType::BF16, 4e-3, 4e-3},
      {TensorType::Q8_0, 0.01, 0.01},  {TensorType::Q4_0, 0.12, 0.1},  {TensorType::Q4_1, 0.1, 0.08},
      {TensorType::Q4_K, 0.12, 0.1},   {TensorType::Q6_K, 0.03, 0.03},
  };
  for (const auto& c : cases) {
    const int64_t n = 1024;
    auto x = random_floats(n, 11, 2.0f);
    std::vector<uint8_t> q(row_bytes(c.t, n));
    quantize_row(c.t, x.data(), q.data(), n);
    std::vector<float> back(n), back_ref(n);
    dequantize_row(c.t, q.data(), back.data(), n);
    scalar::dequantize_row(c.t, q.data(), back_ref.data(), n);
    double se = 0, sx = 0, worst = 0, amax = 0;
    for (int64_t i = 0; i < n; ++i) {
      se += (back[i] - x[i]) * double(back[i] - x[i]);
      sx += double(x[i]) * x[i];
      worst = std::fmax(worst, std::fabs(back[i] - x[i]));
      amax = std::fmax(amax, std::fabs(x[i]));
      if (back[i] != back_ref[i]) {
        CHECK(false) << name_of(c.t) << " fast and scalar dequantization differ at " << i;
        break;
      }
    }
    const double rel_rms = std::sqrt(se / sx);
    CHECK(rel_rms <= c.rel_rms) << name_of(c.t) << " relative rms error " << rel_rms;
    CHECK(worst <= c.rel_max * amax) << name_of(c.t) << " max error " << worst << " of amax " << amax;
  }
}

TEST(zero_and_constant_blocks_quantize_cleanly) {
  for (TensorType t : kWeightTypes) {
    std::vector<float> zeros(256, 0.0f), back(256);
    std::vector<uint8_t> q(row_bytes(t, 256));
    quantize_row(t, zeros.data(), q.data(), 256);
    dequantize_row(t, q.data(), back.data(), 256);
    bool all_zero = true;
    for (float v : back) all_zero = all_zero && v == 0.0f;
    CHECK(all_zero) << name_of(t) << " zeros must dequantize to zeros";
    // Activations of zeros give a zero dot and no nan.
    std::vector<uint8_t> act(partner_row_bytes(t, 256));
    quantize_activations(t, zeros.data(), act.data(), 256);
    const float d = vec_dot(t, 256, q.data(), act.data());
    CHECK(d == 0.0f) << name_of(t) << " dot of zeros = " << d;
  }
}

TEST(activation_quantization_matches_scalar_bit_for_bit) {
  for (TensorType t : {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q8_0, TensorType::Q4_K}) {
    for (int64_t n : {256, 512, 1536}) {
      auto x = random_floats(n, static_cast<uint32_t>(n), 3.0f);
      x[5] = 0.5f;  // exact ties must round the same way on both paths
      std::vector<uint8_t> fast(partner_row_bytes(t, n)), ref(partner_row_bytes(t, n));
      quantize_activations(t, x.data(), fast.data(), n);
      scalar::quantize_activations(t, x.data(), ref.data(), n);
      CHECK(fast == ref) << name_of(t) << " n=" << n;
    }
  }
  // Q8_1 keeps s = d * sum(q).
  std::vector<float> x(64);
  for (int i = 0; i < 64; ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
  std::vector<uint8_t> act(partner_row_bytes(TensorType::Q4_1, 64));
  quantize_activations(TensorType::Q4_1, x.data(), act.data(), 64);
  const auto* blk = reinterpret_cast<const quant::BlockQ8_1*>(act.data());
  int sum = 0;
  for (int j = 0; j < 32; ++j) sum += blk[0].qs[j];
  CHECK_NEAR(f16_to_f32(blk[0].s), f16_to_f32(blk[0].d) * sum, std::fabs(f16_to_f32(blk[0].s)) * 2e-3 + 1e-6);
  CHECK(blk[0].qs[0] == -127) << "the largest magnitude maps to 127";
}

TEST(vec_dot_matches_references_on_every_kernel_set) {
  on_every_kernel_set([] {
    for (TensorType t : kWeightTypes) {
      const int64_t blk = block_of(dot_partner(t)) > block_of(t) ? block_of(dot_partner(t)) : block_of(t);
      for (int64_t blocks : {1, 2, 3, 7}) {
        const int64_t n = blocks * (blk < 32 ? 32 : blk) + (blk == 1 ? 5 : 0);  // odd lengths for plain floats
        auto wf = random_floats(n, 100 + static_cast<uint32_t>(n), 0.5f);
        auto x = random_floats(n, 200 + static_cast<uint32_t>(n), 1.5f);
        std::vector<uint8_t> w(row_bytes(t, n));
        quantize_row(t, wf.data(), w.data(), n);
        std::vector<float> wd(n);
        scalar::dequantize_row(t, w.data(), wd.data(), n);
        std::vector<uint8_t> act(partner_row_bytes(t, n)), act_ref(partner_row_bytes(t, n));
        quantize_activations(t, x.data(), act.data(), n);
        scalar::quantize_activations(t, x.data(), act_ref.data(), n);
        const float fast = vec_dot(t, n, w.data(), act.data());
        const float ref = scalar::vec_dot(t, n, w.data(), act_ref.data());
        const double exact = dot_double(wd.data(), x.data(), n);
        double mag = 0;
        for (int64_t i = 0; i < n; ++i) mag += std::fabs(double(wd[i]) * x[i]);
        CHECK_NEAR(fast, ref, 1e-5 * mag + 1e-6) << name_of(t) << " n=" << n << " isa=" << kernel_isa();
        CHECK_NEAR(fast, exact, partner_error_bound(t, wd.data(), x.data(), n))
            << name_of(t) << " n=" << n << " isa=" << kernel_isa();
      }
    }
  });
}

TEST(force_scalar_and_kernel_limit_switch_the_kernel_set) {
  set_force_scalar(true);
  CHECK(std::strcmp(kernel_isa(), "scalar") == 0);
  set_force_scalar(false);
  CHECK(std::strcmp(kernel_isa(), kernel_set_name(best_kernel_set())) == 0) << kernel_isa();
  // A cap at AVX2 holds on an AVX-512 machine; a cap above the CPU's best gives its best.
  set_kernel_limit(KernelSet::Avx2);
  CHECK(active_kernel_set() == std::min(KernelSet::Avx2, best_kernel_set())) << kernel_isa();
  set_kernel_limit(KernelSet::Avx512);
  CHECK(active_kernel_set() == best_kernel_set()) << kernel_isa();
  KernelSet parsed;
  CHECK(parse_kernel_set("avx512", &parsed) && parsed == KernelSet::Avx512);
  CHECK(parse_kernel_set("avx2", &parsed) && parsed == KernelSet::Avx2);
  CHECK(!parse_kernel_set("avx3", &parsed));
}

TEST(unsupported_types_and_partial_blocks_throw) {
  int threw = 0;
  float x[64] = {};
  uint8_t buf[512] = {};
  try { vec_dot(TensorType::Q8_1, 32, buf, buf); } catch (const Error&) { ++threw; }
  try { quantize_row(TensorType::Q8_K, x, buf, 256); } catch (const Error&) { ++threw; }
  try { dequantize_row(TensorType::Q4_0, buf, x, 48); } catch (const Error&) { ++threw; }
  try { quantize_activations(TensorType::Q4_1, x, buf, 40); } catch (const Error&) { ++threw; }
  try { dot_partner(static_cast<TensorType>(6)); } catch (const Error&) { ++threw; }
  CHECK(threw == 5) << threw << " of 5 bad calls threw";
}
