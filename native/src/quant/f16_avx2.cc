// AVX2/FMA dots of F32, F16 and BF16 weight rows with f32 activations.
#include "quant/avx2_util.h"
#include "quant/kernels.h"

namespace first {
namespace quant {
namespace avx2 {

namespace {
inline __m256 load_f32(const float* p) { return _mm256_loadu_ps(p); }
inline __m256 load_f16(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256 load_bf16(const uint16_t* p) {
  const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

// Four independent accumulators hide the FMA latency; the tail goes one by one.
template <typename T, __m256 (*Load)(const T*), float (*ToFloat)(T)>
float dot_rows(int64_t n, const void* w, const void* a) {
  const T* x = static_cast<const T*>(w);
  const float* y = static_cast<const float*>(a);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  int64_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k) acc[k] = _mm256_fmadd_ps(Load(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]);
  for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(Load(x + i), _mm256_loadu_ps(y + i), acc[0]);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; ++i) sum += ToFloat(x[i]) * y[i];
  return sum;
}

inline float f32_value(float v) { return v; }
inline float f16_value(uint16_t h) { return half_to_float(h); }
inline float bf16_value(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace

float dot_f32(int64_t n, const void* w, const void* a) { return dot_rows<float, load_f32, f32_value>(n, w, a); }
float dot_f16(int64_t n, const void* w, const void* a) { return dot_rows<uint16_t, load_f16, f16_value>(n, w, a); }
float dot_bf16(int64_t n, const void* w, const void* a) { return dot_rows<uint16_t, load_bf16, bf16_value>(n, w, a); }

}  // namespace avx2
}  // namespace quant
}  // namespace first
