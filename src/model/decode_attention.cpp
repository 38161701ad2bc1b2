#include "model/decode_attention.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "common/error.h"
#include "model/avx512_math.h"
#include "model/cpu_features.h"
#include "model/fused_attention.h"

namespace m4cxr {

namespace {

#if defined(__x86_64__)
#define M4CXR_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

// One kv head and its G query heads (rows of q at stride d), d = 16 * D16: scores in chunks
// of 32 values (a last chunk of 16 loaded half, the rest zero). s: scratch for G * n scores.
template <int D16>
M4CXR_AVX512_BF16 void attend_kv_head(const at::BFloat16* q, int G, const at::BFloat16* k, int64_t ks,
                                      const at::BFloat16* v, int64_t vs, int64_t n, at::BFloat16* out,
                                      std::vector<float>& s) {
  constexpr int d = 16 * D16, C = (D16 + 1) / 2;
  auto mask = [](int c) { return 32 * c + 32 <= d ? __mmask32(0xFFFFFFFFu) : __mmask32(0xFFFFu); };
  s.resize(static_cast<size_t>(G) * static_cast<size_t>(n));
  for (int g = 0; g < G; ++g) {
    __m512bh qv[C];
    for (int c = 0; c < C; ++c) qv[c] = (__m512bh)_mm512_maskz_loadu_epi16(mask(c), q + g * d + 32 * c);
    float* sg = s.data() + g * n;
    for (int64_t t = 0; t < n; ++t) {
      __m512 acc = _mm512_setzero_ps();
#pragma GCC unroll 4
      for (int c = 0; c < C; ++c)
        acc = _mm512_dpbf16_ps(acc, qv[c], (__m512bh)_mm512_maskz_loadu_epi16(mask(c), k + t * ks + 32 * c));
      sg[t] = _mm512_reduce_add_ps(acc);
    }
    // Softmax over the n scores in fp32: max, exp 16 at a time, sum; then 1/sum.
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t t = 0; t < n; ++t) m = std::max(m, sg[t]);
    const __m512 vm = _mm512_set1_ps(m);
    __m512 sum = _mm512_setzero_ps();
    int64_t t = 0;
    for (; t + 16 <= n; t += 16) {
      const __m512 p = exp_ps(_mm512_sub_ps(_mm512_loadu_ps(sg + t), vm));
      _mm512_storeu_ps(sg + t, p);
      sum = _mm512_add_ps(sum, p);
    }
    if (t < n) {
      const __mmask16 left = static_cast<__mmask16>((1u << (n - t)) - 1);
      const __m512 p = _mm512_maskz_mov_ps(left, exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(left, sg + t), vm)));
      _mm512_mask_storeu_ps(sg + t, left, p);
      sum = _mm512_add_ps(sum, p);
    }
    const float inv = 1.0f / _mm512_reduce_add_ps(sum);
    for (int64_t u = 0; u < n; ++u) sg[u] *= inv;
  }
  // Σ_t p[g][t] · v_t in fp32, every query head of the group from one read of each value row.
  for (int g0 = 0; g0 < G; g0 += 4) {
    const int gn = std::min(4, G - g0);
    __m512 o[4][D16];
    for (int g = 0; g < 4; ++g)
      for (int c = 0; c < D16; ++c) o[g][c] = _mm512_setzero_ps();
    for (int64_t t = 0; t < n; ++t) {
      __m512 vv[D16];
#pragma GCC unroll 8
      for (int c = 0; c < D16; ++c) vv[c] = widen16(reinterpret_cast<const uint16_t*>(v + t * vs + 16 * c));
      for (int g = 0; g < gn; ++g) {
        const __m512 p = _mm512_set1_ps(s[static_cast<size_t>((g0 + g) * n + t)]);
#pragma GCC unroll 8
        for (int c = 0; c < D16; ++c) o[g][c] = _mm512_fmadd_ps(p, vv[c], o[g][c]);
      }
    }
    for (int g = 0; g < gn; ++g)
      for (int c = 0; c < D16; ++c)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + (g0 + g) * d + 16 * c), (__m256i)_mm512_cvtneps_pbh(o[g][c]));
  }
}
#undef M4CXR_AVX512_BF16
#endif  // __x86_64__

}  // namespace

bool decode_attention_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  if (!q.defined() || !k.defined() || !v.defined()) return false;
  for (const at::Tensor* t : {&q, &k, &v})
    if (!t->device().is_cpu() || t->scalar_type() != at::kBFloat16 || t->dim() != 3 || t->stride(2) != 1) return false;
  const int64_t nh = q.size(0), d = q.size(2), nkv = k.size(0);
  if (q.size(1) != 1 || k.sizes() != v.sizes() || k.size(2) != d || nkv == 0 || nh % nkv != 0 || k.size(1) < 1)
    return false;
#if defined(__x86_64__)
  return fused_attention_enabled() && cpu_features().avx512_bf16 && d % 16 == 0 && d >= 16 && d <= 128;
#else
  return false;
#endif
}

at::Tensor decode_attention(const at::Tensor& q_in, const at::Tensor& k, const at::Tensor& v) {
  if (!decode_attention_applies(q_in, k, v))
    fail(Status::invalid_argument, "decode_attention: needs CPU bf16 q [nh, 1, d], k, v [nkv, n, d], d a multiple of 16 up to 128, AVX512_BF16");
  const at::Tensor q = q_in.contiguous();
  const int64_t nh = q.size(0), d = q.size(2), nkv = k.size(0), n = k.size(1);
  const int G = static_cast<int>(nh / nkv);
  at::Tensor out = at::empty({nh, 1, d}, q.options());
#if defined(__x86_64__)
  const at::BFloat16* qd = q.data_ptr<at::BFloat16>();
  const at::BFloat16* kd = k.data_ptr<at::BFloat16>();
  const at::BFloat16* vd = v.data_ptr<at::BFloat16>();
  at::BFloat16* od = out.data_ptr<at::BFloat16>();
  at::parallel_for(0, nkv, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> s;
    for (int64_t j = begin; j < end; ++j) {
      const at::BFloat16* qj = qd + j * G * d;
      const at::BFloat16* kj = kd + j * k.stride(0);
      const at::BFloat16* vj = vd + j * v.stride(0);
      at::BFloat16* oj = od + j * G * d;
      const int64_t ks = k.stride(1), vs = v.stride(1);
      switch (d / 16) {
        case 1: attend_kv_head<1>(qj, G, kj, ks, vj, vs, n, oj, s); break;
        case 2: attend_kv_head<2>(qj, G, kj, ks, vj, vs, n, oj, s); break;
        case 3: attend_kv_head<3>(qj, G, kj, ks, vj, vs, n, oj, s); break;
        case 4: attend_kv_head<4>(qj, G, kj, ks, vj, vs, n, oj, s); break;
        case 5: attend_kv_head<5>(qj, G, kj, ks, vj, vs, n, oj, s); break;
        case 6: attend_kv_head<6>(qj, G, kj, ks, vj, vs, n, oj, s); break;
        case 7: attend_kv_head<7>(qj, G, kj, ks, vj, vs, n, oj, s); break;
        default: attend_kv_head<8>(qj, G, kj, ks, vj, vs, n, oj, s); break;
      }
    }
  });
#endif
  return out;
}

}  // namespace m4cxr
