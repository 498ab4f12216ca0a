// Public quant.h API: picks the best kernel set the CPU has (AVX-512 with VNNI,
// else AVX2/FMA/F16C, else portable), capped by FIRST_KERNELS,
// FIRST_FORCE_SCALAR=1 or set_kernel_limit().
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <algorithm>
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

constexpr FormatKernels kAvx512F32{quantize_act_f32, avx512::dot_f32, dequantize_f32, nullptr};
constexpr FormatKernels kAvx512F16{quantize_act_f32, avx512::dot_f16, dequantize_f16, nullptr};
constexpr FormatKernels kAvx512BF16{quantize_act_f32, avx512::dot_bf16, dequantize_bf16, nullptr};
constexpr FormatKernels kAvx512Q4_0{avx512::quantize_act_q8_0, avx512::dot_q4_0, dequantize_q4_0, avx512::tile_q4_0,
                                    avx512::group_tile_q4_0};
constexpr FormatKernels kAvx512Q4_1{avx512::quantize_act_q8_1, avx512::dot_q4_1, dequantize_q4_1, avx512::tile_q4_1,
                                    avx512::group_tile_q4_1};
constexpr FormatKernels kAvx512Q8_0{avx512::quantize_act_q8_0, avx512::dot_q8_0, dequantize_q8_0, avx512::tile_q8_0,
                                    avx512::group_tile_q8_0};
constexpr FormatKernels kAvx512Q4_K{avx512::quantize_act_q8_k, avx512::dot_q4_k, dequantize_q4_k, nullptr};
constexpr FormatKernels kAvx512Q6_K{avx512::quantize_act_q8_k, avx512::dot_q6_k, dequantize_q6_k, nullptr};

KernelSet cpu_best_set() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // F16C from CPUID leaf 1 (ECX bit 29): clang before 16 has no "f16c" for __builtin_cpu_supports.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
  if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c)) return KernelSet::Scalar;
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                      __builtin_cpu_supports("avx512vnni");
  return avx512 ? KernelSet::Avx512 : KernelSet::Avx2;
#else
  return KernelSet::Scalar;
#endif
}

// The cap from the environment: FIRST_FORCE_SCALAR=1 wins, then FIRST_KERNELS.
// An unknown FIRST_KERNELS value is kept for kernel_env_problem() to report.
KernelSet env_limit() {
  const char* v = std::getenv("FIRST_FORCE_SCALAR");
  if (v && *v && std::strcmp(v, "0") != 0) return KernelSet::Scalar;
  KernelSet s = KernelSet::Avx512;
  const char* k = std::getenv("FIRST_KERNELS");
  if (k && *k && !parse_kernel_set(k, &s)) return KernelSet::Avx512;
  return s;
}

// Function-local statics: safe to use from other translation units' static initializers.
std::atomic<int>& limit_flag() {
  static std::atomic<int> flag{static_cast<int>(env_limit())};
  return flag;
}

KernelSet active_set() {
  static const KernelSet best = cpu_best_set();
  const int limit = limit_flag().load(std::memory_order_relaxed);
  return static_cast<KernelSet>(std::min(static_cast<int>(best), limit));
}

const FormatKernels* pick(TensorType w, KernelSet set) {
  const bool v512 = set == KernelSet::Avx512, v256 = set == KernelSet::Avx2;
  switch (w) {
    case TensorType::F32: return v512 ? &kAvx512F32 : v256 ? &kAvx2F32 : &kScalarF32;
    case TensorType::F16: return v512 ? &kAvx512F16 : v256 ? &kAvx2F16 : &kScalarF16;
    case TensorType::BF16: return v512 ? &kAvx512BF16 : v256 ? &kAvx2BF16 : &kScalarBF16;
    case TensorType::Q4_0: return v512 ? &kAvx512Q4_0 : v256 ? &kAvx2Q4_0 : &kScalarQ4_0;
    case TensorType::Q4_1: return v512 ? &kAvx512Q4_1 : v256 ? &kAvx2Q4_1 : &kScalarQ4_1;
    case TensorType::Q8_0: return v512 ? &kAvx512Q8_0 : v256 ? &kAvx2Q8_0 : &kScalarQ8_0;
    case TensorType::Q4_K: return v512 ? &kAvx512Q4_K : v256 ? &kAvx2Q4_K : &kScalarQ4_K;
    case TensorType::Q6_K: return v512 ? &kAvx512Q6_K : v256 ? &kAvx2Q6_K : &kScalarQ6_K;
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

const FormatKernels* kernels_for(TensorType w) { return pick(w, active_set()); }

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
// The checked entry points, on kernel set `set`.
void quantize_activations_on(KernelSet fast, const char* what, TensorType w, const float* x, void* dst, int64_t n) {
  const auto& k = require(pick(w, fast), w, what);
  check_row(dot_partner(w), n);
  k.quantize_act(x, dst, n);
}
float vec_dot_on(KernelSet fast, const char* what, TensorType w, int64_t n, const void* weight_row, const void* act_row) {
  const auto& k = require(pick(w, fast), w, what);
  check_row(w, n);
  return k.dot(n, weight_row, act_row);
}
void dequantize_row_on(KernelSet fast, const char* what, TensorType t, const void* src, float* dst, int64_t n) {
  const auto& k = require(pick(t, fast), t, what);
  check_row(t, n);
  k.dequantize(src, dst, n);
}
}  // namespace
}  // namespace quant

void quantize_activations(TensorType w, const float* x, void* dst, int64_t n) {
  quant::quantize_activations_on(quant::active_set(), "quantize_activations", w, x, dst, n);
}

float vec_dot(TensorType w, int64_t n, const void* weight_row, const void* act_row) {
  return quant::vec_dot_on(quant::active_set(), "vec_dot", w, n, weight_row, act_row);
}

void dequantize_row(TensorType t, const void* src, float* dst, int64_t n) {
  quant::dequantize_row_on(quant::active_set(), "dequantize_row", t, src, dst, n);
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

const char* kernel_set_name(KernelSet s) {
  switch (s) {
    case KernelSet::Avx512: return "avx512";
    case KernelSet::Avx2: return "avx2";
    default: return "scalar";
  }
}

bool parse_kernel_set(const char* name, KernelSet* out) {
  for (KernelSet s : {KernelSet::Scalar, KernelSet::Avx2, KernelSet::Avx512}) {
    if (name && std::strcmp(name, kernel_set_name(s)) == 0) {
      *out = s;
      return true;
    }
  }
  return false;
}

std::string kernel_env_problem() {
  const char* k = std::getenv("FIRST_KERNELS");
  KernelSet s;
  if (!k || !*k || parse_kernel_set(k, &s)) return "";
  return std::string("FIRST_KERNELS is \"") + k + "\"; use scalar, avx2 or avx512";
}

KernelSet active_kernel_set() { return quant::active_set(); }
KernelSet best_kernel_set() {
  static const KernelSet best = quant::cpu_best_set();
  return best;
}
const char* kernel_isa() { return kernel_set_name(quant::active_set()); }

// The switches for every kernel family (vector ops and attention too).
bool use_avx2() { return quant::active_set() >= KernelSet::Avx2; }
bool use_avx512() { return quant::active_set() == KernelSet::Avx512; }

void set_kernel_limit(KernelSet limit) { quant::limit_flag().store(static_cast<int>(limit), std::memory_order_relaxed); }
void set_force_scalar(bool on) { set_kernel_limit(on ? KernelSet::Scalar : KernelSet::Avx512); }

namespace scalar {

void quantize_activations(TensorType w, const float* x, void* dst, int64_t n) {
  quant::quantize_activations_on(KernelSet::Scalar, "scalar::quantize_activations", w, x, dst, n);
}

float vec_dot(TensorType w, int64_t n, const void* weight_row, const void* act_row) {
  return quant::vec_dot_on(KernelSet::Scalar, "scalar::vec_dot", w, n, weight_row, act_row);
}

void dequantize_row(TensorType t, const void* src, float* dst, int64_t n) {
  quant::dequantize_row_on(KernelSet::Scalar, "scalar::dequantize_row", t, src, dst, n);
}

}  // namespace scalar
}  // namespace first
