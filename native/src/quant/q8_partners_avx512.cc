// AVX-512 activation quantization to Q8_0, Q8_1 and Q8_K; rounds exactly like
// the scalar version (same products, nearest even), so every kernel set sees
// the same quants.
#include "first/quant.h"
#include "quant/avx512_util.h"
#include "quant/blocks.h"
#include "quant/kernels.h"

namespace first {
namespace quant {
namespace avx512 {

namespace {
constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

// Quantizes 32 floats into qs; returns the f32 scale and the sum of the quants.
inline float quantize_block32(const float* x, int8_t* qs, int* sum) {
  const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
  const float max_abs = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
  const __m512 id = _mm512_set1_ps(max_abs != 0 ? 127.f / max_abs : 0.f);
  const __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, id), kRound);
  const __m512i q1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, id), kRound);
  *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs), _mm512_cvtsepi32_epi8(q0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 16), _mm512_cvtsepi32_epi8(q1));
  return max_abs / 127.f;
}
}  // namespace

void quantize_act_q8_0(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_0*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b) {
    int sum;
    y[b].d = static_cast<uint16_t>(_cvtss_sh(quantize_block32(x + b * kQK, y[b].qs, &sum), _MM_FROUND_TO_NEAREST_INT));
  }
}

void quantize_act_q8_1(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_1*>(dst);
  for (int64_t b = 0; b < n / kQK; ++b) {
    int sum;
    const float d = quantize_block32(x + b * kQK, y[b].qs, &sum);
    y[b].d = static_cast<uint16_t>(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
    y[b].s = static_cast<uint16_t>(_cvtss_sh(d * static_cast<float>(sum), _MM_FROUND_TO_NEAREST_INT));
  }
}

void quantize_act_q8_k(const float* x, void* dst, int64_t n) {
  auto* y = static_cast<BlockQ8_K*>(dst);
  for (int64_t b = 0; b < n / kQKK; ++b, x += kQKK) {
    __m512 amax_v = _mm512_setzero_ps();
    for (int g = 0; g < 16; ++g) amax_v = _mm512_max_ps(amax_v, _mm512_abs_ps(_mm512_loadu_ps(x + 16 * g)));
    const float amax = _mm512_reduce_max_ps(amax_v);
    if (amax == 0) {
      std::memset(&y[b], 0, sizeof(BlockQ8_K));
      continue;
    }
    // The first element of largest magnitude sets the sign, as in the scalar scan.
    float max = 0;
    for (int g = 0; g < 16; ++g) {
      const __m512 v = _mm512_loadu_ps(x + 16 * g);
      const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(v), _mm512_set1_ps(amax), _CMP_EQ_OQ);
      if (hit) {
        max = x[16 * g + __builtin_ctz(hit)];
        break;
      }
    }
    const float iscale = -127.f / max;
    const __m512 vs = _mm512_set1_ps(iscale);
    for (int g = 0; g < 16; ++g) {
      __m512i q = _mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * g), vs), kRound);
      q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
      y[b].bsums[g] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs + 16 * g), _mm512_cvtsepi32_epi8(q));
    }
    y[b].d = 1 / iscale;
  }
}

}  // namespace avx512
}  // namespace quant
}  // namespace first
