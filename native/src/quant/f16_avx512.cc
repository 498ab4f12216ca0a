// AVX-512 dots of F32, F16 and BF16 weight rows with f32 activations; the
// tail is a masked load, so any length runs in vector code.
#include "quant/avx512_util.h"
#include "quant/kernels.h"

namespace first {
namespace quant {
namespace avx512 {

namespace {
inline __m512 load_f32(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
inline __m512 load_f16(const uint16_t* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
inline __m512 load_bf16(const uint16_t* p, __mmask16 m) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

// Four independent accumulators hide the FMA latency.
template <typename T, __m512 (*Load)(const T*, __mmask16)>
float dot_rows(int64_t n, const void* w, const void* a) {
  const T* x = static_cast<const T*>(w);
  const float* y = static_cast<const float*>(a);
  const __mmask16 all = 0xFFFF;
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 64 <= n; i += 64)
    for (int k = 0; k < 4; ++k)
      acc[k] = _mm512_fmadd_ps(Load(x + i + 16 * k, all), _mm512_loadu_ps(y + i + 16 * k), acc[k]);
  for (; i + 16 <= n; i += 16) acc[0] = _mm512_fmadd_ps(Load(x + i, all), _mm512_loadu_ps(y + i), acc[0]);
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    acc[1] = _mm512_fmadd_ps(Load(x + i, m), _mm512_maskz_loadu_ps(m, y + i), acc[1]);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}
}  // namespace

float dot_f32(int64_t n, const void* w, const void* a) { return dot_rows<float, load_f32>(n, w, a); }
float dot_f16(int64_t n, const void* w, const void* a) { return dot_rows<uint16_t, load_f16>(n, w, a); }
float dot_bf16(int64_t n, const void* w, const void* a) { return dot_rows<uint16_t, load_bf16>(n, w, a); }

}  // namespace avx512
}  // namespace quant
}  // namespace first
