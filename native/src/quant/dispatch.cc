// Public quant.h API: picks the AVX2 kernels when the CPU has AVX2, FMA and
// F16C (unless FIRST_FORCE_SCALAR=1 or set_force_scalar(true)), else the
// portable ones.
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "first/error.h"
#include "first/quant.h"
#include "first/vec.h"
#include "quant/kernels.h"

namespace first {

namespace quant {
namespace {

constexpr FormatKernels kScalarF32{quantize_act_f32, dot_f32, dequantize_f32, nullptr};
constexpr FormatKernels kScalarF16{quantize_act_f32, dot_f16, dequantize_f16, nullptr};
constexpr FormatKernels kScalarBF16{quantize_act_f32, dot_bf16, dequantize_bf16, nullptr};
constexpr FormatKernels kScalarQ4_0{quantize_act_q8_0, dot_q4_0, dequantize_q4_0, nullptr};
constexpr FormatKernels kScalarQ4_1{quantize_act_q8_1, dot_q4_1, dequantize_q4_1, nullptr};
constexpr FormatKernels kScalarQ8_0{quantize_act_q8_0, dot_q8_0, dequantize_q8_0, nullptr};
constexpr FormatKernels kScalarQ4_K{quantize_act_q8_k, dot_q4_k, dequantize_q4_k, nullptr};
constexpr FormatKernels kScalarQ6_K{quantize_act_q8_k, dot_q6_k, dequantize_q6_k, nullptr};

// Dequantization is off the hot path (embedding lookups), so both sets share it.
constexpr FormatKernels kAvx2F32{quantize_act_f32, avx2::dot_f32, dequantize_f32, nullptr};
constexpr FormatKernels kAvx2F16{quantize_act_f32, avx2::dot_f16, dequantize_f16, nullptr};
constexpr FormatKernels kAvx2BF16{quantize_act_f32, avx2::dot_bf16, dequantize_bf16, nullptr};
constexpr FormatKernels kAvx2Q4_0{avx2::quantize_act_q8_0, avx2::dot_q4_0, dequantize_q4_0, avx2::tile_q4_0};
constexpr FormatKernels kAvx2Q4_1{avx2::quantize_act_q8_1, avx2::dot_q4_1, dequantize_q4_1, avx2::tile_q4_1};
constexpr FormatKernels kAvx2Q8_0{avx2::quantize_act_q8_0, avx2::dot_q8_0, dequantize_q8_0, avx2::tile_q8_0};
constexpr FormatKernels kAvx2Q4_K{quantize_act_q8_k, avx2::dot_q4_k, dequantize_q4_k, nullptr};
constexpr FormatKernels kAvx2Q6_K{quantize_act_q8_k, avx2::dot_q6_k, dequantize_q6_k, nullptr};

bool cpu_has_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // F16C from CPUID leaf 1 (ECX bit 29): clang before 16 has no "f16c" for __builtin_cpu_supports.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
#else
  return false;
#endif
}

bool env_forces_scalar() {
  const char* v = std::getenv("FIRST_FORCE_SCALAR");
  return v && *v && std::strcmp(v, "0") != 0;
}

// Function-local statics: safe to use from other translation units' static initializers.
std::atomic<bool>& force_scalar_flag() {
  static std::atomic<bool> flag{env_forces_scalar()};
  return flag;
}

bool use_avx2() {
  static const bool has_avx2 = cpu_has_avx2();
  return has_avx2 && !force_scalar_flag().load(std::memory_order_relaxed);
}

const FormatKernels* pick(TensorType w, bool fast) {
  switch (w) {
    case TensorType::F32: return fast ? &kAvx2F32 : &kScalarF32;
    case TensorType::F16: return fast ? &kAvx2F16 : &kScalarF16;
    case TensorType::BF16: return fast ? &kAvx2BF16 : &kScalarBF16;
    case TensorType::Q4_0: return fast ? &kAvx2Q4_0 : &kScalarQ4_0;
    case TensorType::Q4_1: return fast ? &kAvx2Q4_1 : &kScalarQ4_1;
    case TensorType::Q8_0: return fast ? &kAvx2Q8_0 : &kScalarQ8_0;
    case TensorType::Q4_K: return fast ? &kAvx2Q4_K : &kScalarQ4_K;
    case TensorType::Q6_K: return fast ? &kAvx2Q6_K : &kScalarQ6_K;
    default: return nullptr;
  }
}

const FormatKernels& require(const FormatKernels* k, TensorType w, const char* what) {
  if (!k) {
    const TypeInfo* info = type_info(static_cast<uint32_t>(w));
    throw Error(std::string(what) + ": unsupported weight type " +
                (info ? info->name : std::to_string(static_cast<uint32_t>(w))));
  }
  return *k;
}

void check_row(TensorType t, int64_t n) { row_bytes(t, n); }  // throws on a partial block

}  // namespace

const FormatKernels* kernels_for(TensorType w) { return pick(w, use_avx2()); }

void tile_by_dots(DotFn dot, int64_t n, const uint8_t* w, size_t w_stride, int nr, const uint8_t* a, size_t a_stride,
                  int nc, float* y, int64_t ldy, bool accumulate) {
  for (int c = 0; c < nc; ++c) {
    for (int r = 0; r < nr; ++r) {
      const float v = dot(n, w + r * w_stride, a + c * a_stride);
      float& out = y[c * ldy + r];
      out = accumulate ? out + v : v;
    }
  }
}

}  // namespace quant

TensorType dot_partner(TensorType w) {
  switch (w) {
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::BF16: return TensorType::F32;
    case TensorType::Q4_0:
    case TensorType::Q8_0: return TensorType::Q8_0;
    case TensorType::Q4_1: return TensorType::Q8_1;
    case TensorType::Q4_K:
    case TensorType::Q6_K: return TensorType::Q8_K;
    default: break;
  }
  quant::require(nullptr, w, "dot_partner");
  return TensorType::F32;
}

size_t partner_row_bytes(TensorType w, int64_t n) { return row_bytes(dot_partner(w), n); }

namespace quant {
namespace {
// The checked entry points, on the kernel set chosen by `fast`.
void quantize_activations_on(bool fast, const char* what, TensorType w, const float* x, void* dst, int64_t n) {
  const auto& k = require(pick(w, fast), w, what);
  check_row(dot_partner(w), n);
  k.quantize_act(x, dst, n);
}
float vec_dot_on(bool fast, const char* what, TensorType w, int64_t n, const void* weight_row, const void* act_row) {
  const auto& k = require(pick(w, fast), w, what);
  check_row(w, n);
  return k.dot(n, weight_row, act_row);
}
void dequantize_row_on(bool fast, const char* what, TensorType t, const void* src, float* dst, int64_t n) {
  const auto& k = require(pick(t, fast), t, what);
  check_row(t, n);
  k.dequantize(src, dst, n);
}
}  // namespace
}  // namespace quant

void quantize_activations(TensorType w, const float* x, void* dst, int64_t n) {
  quant::quantize_activations_on(quant::use_avx2(), "quantize_activations", w, x, dst, n);
}

float vec_dot(TensorType w, int64_t n, const void* weight_row, const void* act_row) {
  return quant::vec_dot_on(quant::use_avx2(), "vec_dot", w, n, weight_row, act_row);
}

void dequantize_row(TensorType t, const void* src, float* dst, int64_t n) {
  quant::dequantize_row_on(quant::use_avx2(), "dequantize_row", t, src, dst, n);
}

void quantize_row(TensorType t, const float* src, void* dst, int64_t n) {
  quant::check_row(t, n);
  switch (t) {
    case TensorType::F32: return quant::quantize_f32(src, dst, n);
    case TensorType::F16: return quant::quantize_f16(src, dst, n);
    case TensorType::BF16: return quant::quantize_bf16(src, dst, n);
    case TensorType::Q4_0: return quant::quantize_q4_0(src, dst, n);
    case TensorType::Q4_1: return quant::quantize_q4_1(src, dst, n);
    case TensorType::Q8_0: return quant::quantize_q8_0(src, dst, n);
    case TensorType::Q4_K: return quant::quantize_q4_k(src, dst, n);
    case TensorType::Q6_K: return quant::quantize_q6_k(src, dst, n);
    default: quant::require(nullptr, t, "quantize_row");
  }
}

const char* kernel_isa() { return quant::use_avx2() ? "avx2" : "scalar"; }

// The one switch for every kernel family (vector ops and attention too).
bool use_avx2() { return quant::use_avx2(); }

void set_force_scalar(bool on) { quant::force_scalar_flag().store(on, std::memory_order_relaxed); }

namespace scalar {

void quantize_activations(TensorType w, const float* x, void* dst, int64_t n) {
  quant::quantize_activations_on(false, "scalar::quantize_activations", w, x, dst, n);
}

float vec_dot(TensorType w, int64_t n, const void* weight_row, const void* act_row) {
  return quant::vec_dot_on(false, "scalar::vec_dot", w, n, weight_row, act_row);
}

void dequantize_row(TensorType t, const void* src, float* dst, int64_t n) {
  quant::dequantize_row_on(false, "scalar::dequantize_row", t, src, dst, n);
}

}  // namespace scalar
}  // namespace first
