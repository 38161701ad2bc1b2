#include "model/int8_weight.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/error.h"
#include "model/avx512_math.h"
#include "model/cpu_features.h"
#include "model/large_pages.h"

namespace m4cxr {

namespace {
// One row, bf16 in: scale = max|w| / 127 and q = clamp(nearbyint(w / scale)) 16 values at a
// time; the same IEEE operations as the scalar path (max is exact in any order, division and
// round-to-nearest-even are correctly rounded), so the same bytes. Loading the 7B model in
// int8 is mostly this loop.
#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vl"))) float quantize_row_avx512(const at::BFloat16* w, int64_t K,
                                                                               int8_t* q) {
  const uint16_t* u = reinterpret_cast<const uint16_t*>(w);
  const int64_t main = K / 16 * 16;
  __m512 m = _mm512_setzero_ps();
  for (int64_t k = 0; k < main; k += 16) m = _mm512_max_ps(m, _mm512_abs_ps(widen16(u + k)));
  float mx = _mm512_reduce_max_ps(m);
  for (int64_t k = main; k < K; ++k) mx = std::max(mx, std::abs(static_cast<float>(w[k])));
  const float s = mx > 0 ? mx / 127.0f : 1.0f;
  const __m512 vs = _mm512_set1_ps(s), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
  for (int64_t k = 0; k < main; k += 16) {
    const __m512 r = _mm512_roundscale_ps(_mm512_div_ps(widen16(u + k), vs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + k),
                     _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(r, lo), hi))));
  }
  for (int64_t k = main; k < K; ++k)
    q[k] = static_cast<int8_t>(std::clamp(std::nearbyint(static_cast<float>(w[k]) / s), -127.0f, 127.0f));
  return s;
}
#else
float quantize_row_avx512(const at::BFloat16*, int64_t, int8_t*) { return 0; }
#endif
}  // namespace

Int8Weight quantize_int8(const at::Tensor& w) {
  if (!w.defined() || w.dim() != 2 || !at::isFloatingType(w.scalar_type()))
    fail(Status::invalid_argument, "quantize_int8: needs a 2-D floating weight");
  // Row by row over the intra-op threads, reading the source (a view of the mapped file, as
  // often as not) twice and writing int8: no full-size temporaries, so a load's peak memory
  // is the int8 weights plus one source tensor.
  const at::Tensor src = w.device().is_cpu() && (w.scalar_type() == at::kBFloat16 || w.scalar_type() == at::kFloat)
                             ? w.contiguous()
                             : w.to(at::kCPU).to(at::kFloat).contiguous();
  const int64_t N = src.size(0), K = src.size(1);
  Int8Weight out;
  out.q = empty_on_large_pages({N, K}, at::kChar);  // streamed once per token (model/large_pages.h)
  out.scale = at::empty({N}, at::TensorOptions().dtype(at::kFloat));
  int8_t* q = out.q.data_ptr<int8_t>();
  float* scale = out.scale.data_ptr<float>();
  const bool bf16 = src.scalar_type() == at::kBFloat16;
  const at::BFloat16* pb = bf16 ? src.data_ptr<at::BFloat16>() : nullptr;
  const float* pf = bf16 ? nullptr : src.data_ptr<float>();
  const bool wide = bf16 && cpu_features().avx512;
  at::parallel_for(0, N, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      if (wide) {
        scale[r] = quantize_row_avx512(pb + r * K, K, q + r * K);
        continue;
      }
      auto at = [&](int64_t k) { return bf16 ? static_cast<float>(pb[r * K + k]) : pf[r * K + k]; };
      float m = 0;
      for (int64_t k = 0; k < K; ++k) m = std::max(m, std::abs(at(k)));
      // An all-zero row keeps scale 1 (and Q = 0) rather than dividing by zero.
      const float s = m > 0 ? m / 127.0f : 1.0f;
      scale[r] = s;
      for (int64_t k = 0; k < K; ++k)
        q[r * K + k] = static_cast<int8_t>(std::clamp(std::nearbyint(at(k) / s), -127.0f, 127.0f));
    }
  });
  return out;
}

namespace {
// Values [0, return) of one row: int8 -> fp32 * scale -> bf16 (round to nearest even, as
// c10::BFloat16), 16 at a time.
#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) int64_t dequantize_row_avx512_bf16(
    const int8_t* q, float scale, int64_t K, at::BFloat16* out) {
  const __m512 s = _mm512_set1_ps(scale);
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    const __m512 v = _mm512_mul_ps(
        _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q + k)))), s);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + k), (__m256i)_mm512_cvtneps_pbh(v));
  }
  return k;
}
#else
int64_t dequantize_row_avx512_bf16(const int8_t*, float, int64_t, at::BFloat16*) { return 0; }
#endif
}  // namespace

at::Tensor dequantize(const Int8Weight& w, c10::ScalarType dtype) {
  if (dtype != at::kBFloat16 || !w.q.device().is_cpu())
    return (w.q.to(at::kFloat) * w.scale.unsqueeze(1)).to(dtype);
  // Prefill's path on the CPU: one pass, int8 in, bf16 out, rows over the intra-op threads
  // (instead of three passes through fp32 temporaries).
  const int64_t N = w.q.size(0), K = w.q.size(1);
  at::Tensor out = at::empty({N, K}, at::TensorOptions().dtype(at::kBFloat16));
  const int8_t* q = w.q.data_ptr<int8_t>();
  const float* s = w.scale.data_ptr<float>();
  at::BFloat16* o = out.data_ptr<at::BFloat16>();
  const bool wide = cpu_features().avx512_bf16;
  at::parallel_for(0, N, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t k = wide ? dequantize_row_avx512_bf16(q + r * K, s[r], K, o + r * K) : 0;
      for (; k < K; ++k) o[r * K + k] = at::BFloat16(static_cast<float>(q[r * K + k]) * s[r]);
    }
  });
  return out;
}

at::Tensor linear_dequantized(const at::Tensor& x, const Int8Weight& w) {
  const int64_t N = w.q.size(0), K = w.q.size(1);
  if (!x.defined() || x.dim() < 1 || x.size(-1) != K) fail(Status::invalid_argument, "linear_dequantized: x must end in K");
  constexpr int64_t kTileRows = 256;  // 2 MiB of bf16 for K = 4096; 128 to 1024 measured the same
  if (N <= kTileRows) return at::linear(x, dequantize(w, x.scalar_type()));
  const at::Tensor x2 = x.reshape({-1, K});
  at::Tensor y = at::empty({x2.size(0), N}, x2.options());
  for (int64_t r = 0; r < N; r += kTileRows) {
    const int64_t m = std::min(kTileRows, N - r);
    const Int8Weight tile{w.q.slice(0, r, r + m), w.scale.slice(0, r, r + m)};
    y.slice(1, r, r + m).copy_(at::linear(x2, dequantize(tile, x2.scalar_type())));
  }
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = N;
  return y.view(shape);
}

}  // namespace m4cxr
