// AVX-512 versions of the f32 vector primitives (attention's inner loops,
// norms): 16 lanes, and masked loads and stores for the tails instead of
// scalar loops.
#include <immintrin.h>

#include <cmath>

#include "first/vec.h"

namespace first {
namespace avx512 {

namespace {
inline __mmask16 tail_mask(int64_t left) { return static_cast<__mmask16>((1u << left) - 1); }
}  // namespace

float vec_dot_f32(const float* a, const float* b, int64_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : tail_mask(n - i);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

void vec_axpy_f32(float a, const float* x, float* y, int64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
  }
}

float vec_sumsq_f32(const float* x, int64_t n) {
  __m512 s = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : tail_mask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    s = _mm512_fmadd_ps(v, v, s);
  }
  return _mm512_reduce_add_ps(s);
}

void vec_dot8_f32(const float* q, const float* k, int64_t ld, int64_t n, float* out) {
  __m512 acc[8];
  for (auto& a : acc) a = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : tail_mask(n - i);
    const __m512 qv = _mm512_maskz_loadu_ps(m, q + i);
    for (int j = 0; j < 8; ++j) acc[j] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k + j * ld + i), acc[j]);
  }
  // Fold each accumulator to 8 lanes, then reduce the 8 rows together: lane j is row j's sum.
  __m256 h[8];
  for (int j = 0; j < 8; ++j) h[j] = _mm256_add_ps(_mm512_castps512_ps256(acc[j]), _mm512_extractf32x8_ps(acc[j], 1));
  const __m256 s01 = _mm256_hadd_ps(h[0], h[1]), s23 = _mm256_hadd_ps(h[2], h[3]);
  const __m256 s45 = _mm256_hadd_ps(h[4], h[5]), s67 = _mm256_hadd_ps(h[6], h[7]);
  const __m256 s0123 = _mm256_hadd_ps(s01, s23), s4567 = _mm256_hadd_ps(s45, s67);
  const __m256 lo = _mm256_permute2f128_ps(s0123, s4567, 0x20), hi = _mm256_permute2f128_ps(s0123, s4567, 0x31);
  _mm256_storeu_ps(out, _mm256_add_ps(lo, hi));
}

void vec_weighted_rows_f32(const float* w, const float* x, int64_t ld, int rows, float* y, int64_t n) {
  int64_t c = 0;
  // 64 columns at a time in 4 registers, every row added before y is stored.
  for (; c + 64 <= n; c += 64) {
    __m512 acc[4];
    for (int u = 0; u < 4; ++u) acc[u] = _mm512_loadu_ps(y + c + 16 * u);
    for (int r = 0; r < rows; ++r) {
      const __m512 wr = _mm512_set1_ps(w[r]);
      const float* xr = x + r * ld + c;
      for (int u = 0; u < 4; ++u) acc[u] = _mm512_fmadd_ps(wr, _mm512_loadu_ps(xr + 16 * u), acc[u]);
    }
    for (int u = 0; u < 4; ++u) _mm512_storeu_ps(y + c + 16 * u, acc[u]);
  }
  for (; c < n; c += 16) {
    const __mmask16 m = n - c >= 16 ? __mmask16(0xFFFF) : tail_mask(n - c);
    __m512 acc = _mm512_maskz_loadu_ps(m, y + c);
    for (int r = 0; r < rows; ++r) acc = _mm512_fmadd_ps(_mm512_set1_ps(w[r]), _mm512_maskz_loadu_ps(m, x + r * ld + c), acc);
    _mm512_mask_storeu_ps(y + c, m, acc);
  }
}

namespace {
// exp(x) for x <= 0, as in vec_avx2.cc: 2^k * 2^f with f in [-0.5, 0.5] and a
// degree-6 polynomial for 2^f (relative error about 2e-7); x below -87 gives exp(-87).
inline __m512 exp_nonpositive(__m512 x) {
  const __m512 t = _mm512_mul_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.f)), _mm512_set1_ps(1.4426950408889634f));
  const __m512 k = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, k);
  __m512 p = _mm512_set1_ps(1.5403530393381606e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3333558146428443e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291076284772e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504108664821580e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022650695910071e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718055994531e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, k);  // p * 2^k
}
}  // namespace

float vec_exp_scaled_f32(float* x, int64_t n, float scale, float shift) {
  const __m512 vs = _mm512_set1_ps(scale), vsh = _mm512_set1_ps(shift);
  __m512 sum = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : tail_mask(n - i);
    const __m512 e = exp_nonpositive(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(m, x + i), vs, vsh));
    _mm512_mask_storeu_ps(x + i, m, e);
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(m, e));
  }
  return _mm512_reduce_add_ps(sum);
}

// exp(x) to about 1 ulp for x in [-87, 88] (clamped there, so the result
// stays finite and normal): x - k ln2 in two steps (Cody-Waite), so the
// reduction loses nothing, and Cephes' degree-7 expf polynomial.
inline __m512 exp_clamped(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.f)), _mm512_set1_ps(88.f));
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.4426950408889634f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  return _mm512_scalef_ps(p, k);
}

// g / (1 + exp(-g)) * up, the form llama.cpp's CPU SiLU computes.
void vec_silu_mul_f32(const float* gate, const float* up, float* out, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : tail_mask(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    const __m512 t = exp_clamped(_mm512_sub_ps(_mm512_setzero_ps(), g));
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, t)), _mm512_maskz_loadu_ps(m, up + i)));
  }
}

}  // namespace avx512
}  // namespace first
