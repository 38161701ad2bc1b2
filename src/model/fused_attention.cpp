#include "model/fused_attention.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/error.h"
#include "model/amx_tiles.h"
#include "model/avx512_math.h"
#include "model/cpu_features.h"

namespace m4cxr {

namespace {

constexpr int kKeys = 16;    // keys per block: the lanes of one fp32 vector of scores
constexpr int kQueries = 4;  // queries per block: 4 * d/16 accumulators of the output

#if defined(__x86_64__)
#define M4CXR_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

inline uint32_t pair_of(const at::BFloat16* a, const at::BFloat16* b) {
  return static_cast<uint32_t>(a->x) | (static_cast<uint32_t>(b->x) << 16);
}

// k and v of one head (rows of d values at strides ks, vs) in the pair layouts both kernels
// multiply (vdpbf16ps, or as tiles' B operands), for `blocks2` (even) blocks of 16 keys:
//  - kp: for block b, pair p, lane l the values 2p, 2p+1 of key 16b + l;
//  - vp: for key pair m (keys 2m, 2m+1) and dimension c, both keys' values;
// zero past T (the last block's missing keys, and the block that makes the count even).
void pack_keys_values(const at::BFloat16* k, int64_t ks, const at::BFloat16* v, int64_t vs, int64_t T, int d,
                      int64_t blocks2, std::vector<uint32_t>& kp, std::vector<uint32_t>& vp) {
  const int P = d / 2;
  kp.assign(static_cast<size_t>(blocks2 * P * kKeys), 0);
  for (int64_t j = 0; j < T; ++j)
    for (int p = 0; p < P; ++p)
      kp[static_cast<size_t>(((j / kKeys) * P + p) * kKeys + j % kKeys)] = pair_of(k + j * ks + 2 * p, k + j * ks + 2 * p + 1);
  vp.assign(static_cast<size_t>(blocks2 * (kKeys / 2) * d), 0);
  const at::BFloat16 zero(0.0f);
  for (int64_t m = 0; m * 2 < T; ++m)
    for (int c = 0; c < d; ++c)
      vp[static_cast<size_t>(m * d + c)] = pair_of(v + 2 * m * vs + c, 2 * m + 1 < T ? v + (2 * m + 1) * vs + c : &zero);
}

// The keys of a 16-key block starting at key j that exist (T keys in all).
inline __mmask16 keys_valid(int64_t j, int64_t T) {
  return j + kKeys <= T ? __mmask16(0xFFFF) : j < T ? __mmask16((1u << (T - j)) - 1) : __mmask16(0);
}

// One head: q, k, v rows of d = 16 * DV values at row strides qs, ks, vs; out rows at os.
// kp, vp: scratch for k and v in the pair layouts vdpbf16ps multiplies.
template <int DV>
M4CXR_AVX512_BF16 void attend_head(const at::BFloat16* q, int64_t qs, const at::BFloat16* k, int64_t ks,
                                   const at::BFloat16* v, int64_t vs, int64_t T, at::BFloat16* out, int64_t os,
                                   std::vector<uint32_t>& kp, std::vector<uint32_t>& vp, std::vector<float>& scores) {
  constexpr int d = 16 * DV, P = d / 2;
  const int64_t blocks = (T + kKeys - 1) / kKeys;
  const int64_t blocks2 = (blocks + 1) / 2 * 2;  // pass 1 takes two blocks at a time
  pack_keys_values(k, ks, v, vs, T, d, blocks2, kp, vp);

  alignas(64) uint32_t qp[kQueries][P];
  alignas(64) uint32_t pp[kQueries][kKeys / 2];
  // The scores of the 4 queries against every key, fp32, padded to an even count of blocks.
  scores.resize(static_cast<size_t>(kQueries * blocks2 * kKeys));
  // The keys of block b that exist: all but in the last block and the padding one.
  auto valid_in = [&](int64_t b) { return keys_valid(b * kKeys, T); };
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t i0 = 0; i0 < T; i0 += kQueries) {
    const int nq = static_cast<int>(std::min<int64_t>(kQueries, T - i0));
    for (int i = 0; i < kQueries; ++i) {
      const at::BFloat16* row = q + (i0 + std::min(i, nq - 1)) * qs;  // spare lanes repeat a row
      for (int p = 0; p < P; ++p) qp[i][p] = pair_of(row + 2 * p, row + 2 * p + 1);
    }
    // Pass 1: scores, two key blocks at a time (8 independent dot-product chains), and
    // each query's maximum kept lane-wise (one horizontal reduction per row at the end).
    __m512 mx[kQueries];
#pragma GCC unroll 4
    for (int i = 0; i < kQueries; ++i) mx[i] = neg_inf;
    for (int64_t b = 0; b < blocks2; b += 2) {
      __m512 s0[kQueries], s1[kQueries];
#pragma GCC unroll 4
      for (int i = 0; i < kQueries; ++i) s0[i] = s1[i] = _mm512_setzero_ps();
      const uint32_t* kb0 = kp.data() + b * P * kKeys;
      const uint32_t* kb1 = kb0 + P * kKeys;
      for (int p = 0; p < P; ++p) {
        const __m512bh k0 = (__m512bh)_mm512_loadu_si512(kb0 + p * kKeys);
        const __m512bh k1 = (__m512bh)_mm512_loadu_si512(kb1 + p * kKeys);
#pragma GCC unroll 4
        for (int i = 0; i < kQueries; ++i) {
          const __m512bh qb = (__m512bh)_mm512_set1_epi32(static_cast<int>(qp[i][p]));
          s0[i] = _mm512_dpbf16_ps(s0[i], qb, k0);
          s1[i] = _mm512_dpbf16_ps(s1[i], qb, k1);
        }
      }
      const __mmask16 v0 = valid_in(b), v1 = valid_in(b + 1);
#pragma GCC unroll 4
      for (int i = 0; i < kQueries; ++i) {
        float* row = scores.data() + (i * blocks2 + b) * kKeys;
        _mm512_storeu_ps(row, s0[i]);
        _mm512_storeu_ps(row + kKeys, s1[i]);
        mx[i] = _mm512_mask_max_ps(mx[i], v0, mx[i], s0[i]);
        mx[i] = _mm512_mask_max_ps(mx[i], v1, mx[i], s1[i]);
      }
    }
    // Pass 2: probabilities against the row's true maximum (no rescaling of the sums as an
    // online softmax needs), rounded to bf16 for the product with v, block by block.
    __m512 m[kQueries], l[kQueries];
    __m512 o[kQueries][DV];
#pragma GCC unroll 4
    for (int i = 0; i < kQueries; ++i) {
      m[i] = _mm512_set1_ps(_mm512_reduce_max_ps(mx[i]));
      l[i] = _mm512_setzero_ps();
#pragma GCC unroll 4
      for (int c = 0; c < DV; ++c) o[i][c] = _mm512_setzero_ps();
    }
    for (int64_t b = 0; b < blocks; ++b) {
      const __mmask16 valid = valid_in(b);
#pragma GCC unroll 4
      for (int i = 0; i < kQueries; ++i) {
        const __m512 sv = _mm512_loadu_ps(scores.data() + (i * blocks2 + b) * kKeys);
        const __m512 p = _mm512_maskz_mov_ps(valid, exp_ps(_mm512_sub_ps(sv, m[i])));
        l[i] = _mm512_add_ps(l[i], p);
        _mm256_store_si256(reinterpret_cast<__m256i*>(pp[i]), (__m256i)_mm512_cvtneps_pbh(p));
      }
      const uint32_t* vb = vp.data() + b * (kKeys / 2) * d;
      for (int mm = 0; mm < kKeys / 2; ++mm) {
        __m512bh vv[DV];
#pragma GCC unroll 4
        for (int c = 0; c < DV; ++c) vv[c] = (__m512bh)_mm512_loadu_si512(vb + mm * d + c * 16);
#pragma GCC unroll 4
        for (int i = 0; i < kQueries; ++i) {
          const __m512bh pb = (__m512bh)_mm512_set1_epi32(static_cast<int>(pp[i][mm]));
#pragma GCC unroll 4
          for (int c = 0; c < DV; ++c) o[i][c] = _mm512_dpbf16_ps(o[i][c], pb, vv[c]);
        }
      }
    }
    for (int i = 0; i < nq; ++i) {
      const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(l[i]));
      at::BFloat16* row = out + (i0 + i) * os;
#pragma GCC unroll 4
      for (int c = 0; c < DV; ++c)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + c * 16), (__m256i)_mm512_cvtneps_pbh(_mm512_mul_ps(o[i][c], inv)));
    }
  }
}
#undef M4CXR_AVX512_BF16

// The AMX way: the same two passes as 16 x 16 tile products. For 16 queries at a time:
// scores against two key blocks per step (tdpbf16ps of the q tiles with the kp tiles: kp's
// layout is already the pair-interleaved B operand), stored as rows of fp32; maxima and
// probabilities with AVX-512 as above, the probabilities rounded to bf16 into rows that are
// the A operand of P·V; P·V against vp (also already a B operand), fp32 in the tiles, one
// rounding at the end. d = 32 * QA (one or two q tiles; 2 * QA output tiles).
#define M4CXR_AMX __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,amx-tile,amx-bf16")))

template <int QA>
M4CXR_AMX void attend_head_amx(const at::BFloat16* q, int64_t qs, const at::BFloat16* k, int64_t ks,
                               const at::BFloat16* v, int64_t vs, int64_t T, at::BFloat16* out, int64_t os,
                               std::vector<uint32_t>& kp, std::vector<uint32_t>& vp, std::vector<float>& scores,
                               std::vector<uint16_t>& probs) {
  constexpr int d = 32 * QA, P = d / 2, DV = d / 16, Q = 16;
  const int64_t blocks = (T + kKeys - 1) / kKeys;
  const int64_t blocks2 = (blocks + 1) / 2 * 2;
  const int64_t Tp = blocks2 * kKeys;  // keys padded to a multiple of 32 (one P·V step)
  pack_keys_values(k, ks, v, vs, T, d, blocks2, kp, vp);
  const at::BFloat16 zero(0.0f);
  scores.resize(static_cast<size_t>(Q * Tp));
  probs.resize(static_cast<size_t>(Q * Tp));
  alignas(64) at::BFloat16 qbuf[Q][d];
  alignas(64) float obuf[Q][d];
  const int64_t sld = Tp * 4, pld = Tp * 2;  // row strides in bytes
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());

  for (int64_t i0 = 0; i0 < T; i0 += Q) {
    const int nq = static_cast<int>(std::min<int64_t>(Q, T - i0));
    for (int i = 0; i < Q; ++i)
      for (int c = 0; c < d; ++c) qbuf[i][c] = i < nq ? q[(i0 + i) * qs + c] : zero;
    // Pass 1: tiles 0..QA-1 hold the queries, 2 and 3 two blocks of scores, 4..7 the keys.
    _tile_loadd(0, &qbuf[0][0], d * 2);
    if constexpr (QA == 2) _tile_loadd(1, &qbuf[0][32], d * 2);
    for (int64_t b = 0; b < blocks2; b += 2) {
      const uint32_t* kb0 = kp.data() + b * P * kKeys;
      const uint32_t* kb1 = kb0 + P * kKeys;
      _tile_zero(2);
      _tile_zero(3);
      _tile_loadd(4, kb0, 64);
      _tile_loadd(5, kb1, 64);
      _tile_dpbf16ps(2, 0, 4);
      _tile_dpbf16ps(3, 0, 5);
      if constexpr (QA == 2) {
        _tile_loadd(6, kb0 + 16 * kKeys, 64);
        _tile_loadd(7, kb1 + 16 * kKeys, 64);
        _tile_dpbf16ps(2, 1, 6);
        _tile_dpbf16ps(3, 1, 7);
      }
      _tile_stored(2, scores.data() + b * kKeys, sld);
      _tile_stored(3, scores.data() + (b + 1) * kKeys, sld);
    }
    // Maxima over the keys that exist, then probabilities (zero for the padding keys).
    float l[Q];
    for (int i = 0; i < nq; ++i) {
      const float* row = scores.data() + i * Tp;
      uint16_t* prow = probs.data() + i * Tp;
      __m512 mx = neg_inf;
      for (int64_t j = 0; j < Tp; j += kKeys) {
        mx = _mm512_mask_max_ps(mx, keys_valid(j, T), mx, _mm512_loadu_ps(row + j));
      }
      const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
      __m512 sum = _mm512_setzero_ps();
      for (int64_t j = 0; j < Tp; j += kKeys) {
        const __m512 p = _mm512_maskz_mov_ps(keys_valid(j, T), exp_ps(_mm512_sub_ps(_mm512_loadu_ps(row + j), m)));
        sum = _mm512_add_ps(sum, p);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(prow + j), (__m256i)_mm512_cvtneps_pbh(p));
      }
      l[i] = _mm512_reduce_add_ps(sum);
    }
    for (int i = nq; i < Q; ++i) std::fill(probs.begin() + i * Tp, probs.begin() + (i + 1) * Tp, uint16_t(0));
    // Pass 2: tiles 0..DV-1 the output, 4 the probabilities of 32 keys, 5..7 their values.
    _tile_zero(0);
    _tile_zero(1);
    if constexpr (QA == 2) {
      _tile_zero(2);
      _tile_zero(3);
    }
    for (int64_t j = 0; j < Tp; j += 32) {
      const uint32_t* vb = vp.data() + (j / 2) * d;
      _tile_loadd(4, probs.data() + j, pld);
      _tile_loadd(5, vb, d * 4);
      _tile_loadd(6, vb + 16, d * 4);
      _tile_dpbf16ps(0, 4, 5);
      if constexpr (QA == 2) {
        _tile_loadd(7, vb + 32, d * 4);
        _tile_dpbf16ps(1, 4, 6);
        _tile_loadd(5, vb + 48, d * 4);
        _tile_dpbf16ps(2, 4, 7);
        _tile_dpbf16ps(3, 4, 5);
      } else {
        _tile_dpbf16ps(1, 4, 6);
      }
    }
    _tile_stored(0, &obuf[0][0], d * 4);
    _tile_stored(1, &obuf[0][16], d * 4);
    if constexpr (QA == 2) {
      _tile_stored(2, &obuf[0][32], d * 4);
      _tile_stored(3, &obuf[0][48], d * 4);
    }
    for (int i = 0; i < nq; ++i) {
      const __m512 inv = _mm512_set1_ps(1.0f / l[i]);
      at::BFloat16* row = out + (i0 + i) * os;
      for (int c = 0; c < DV; ++c)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + c * 16),
                            (__m256i)_mm512_cvtneps_pbh(_mm512_mul_ps(_mm512_loadu_ps(&obuf[i][c * 16]), inv)));
    }
  }
}

#undef M4CXR_AMX
#endif  // __x86_64__

}  // namespace

namespace {
std::atomic<int> g_fused{-1};  // -1: not decided yet
}  // namespace

bool fused_attention_enabled() {
  int v = g_fused.load(std::memory_order_relaxed);
  if (v < 0) {
    const char* env = std::getenv("M4CXR_FUSED_ATTENTION");
    int expected = -1;
    g_fused.compare_exchange_strong(expected, env && std::string(env) == "0" ? 0 : 1);
    v = g_fused.load(std::memory_order_relaxed);
  }
  return v == 1;
}

void set_fused_attention(bool on) { g_fused.store(on ? 1 : 0, std::memory_order_relaxed); }

const char* attention_kernel_name(AttentionKernel kernel) {
  return kernel == AttentionKernel::amx ? "amx" : "avx512_bf16";
}

bool attention_kernel_supported(AttentionKernel kernel, int64_t d) {
#if defined(__x86_64__)
  if (kernel == AttentionKernel::amx) return cpu_features().amx && (d == 32 || d == 64);
  return cpu_features().avx512_bf16 && (d == 16 || d == 32 || d == 48 || d == 64);
#else
  (void)kernel;
  (void)d;
  return false;
#endif
}

AttentionKernel best_attention_kernel(int64_t d) {
  return attention_kernel_supported(AttentionKernel::amx, d) ? AttentionKernel::amx : AttentionKernel::avx512_bf16;
}

bool fused_attention_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  if (!q.defined() || !k.defined() || !v.defined()) return false;
  for (const at::Tensor* t : {&q, &k, &v})
    if (!t->device().is_cpu() || t->scalar_type() != at::kBFloat16 || t->dim() != 4 || t->sizes() != q.sizes())
      return false;
  return q.size(2) > 0 && attention_kernel_supported(AttentionKernel::avx512_bf16, q.size(3));
}

at::Tensor fused_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  return fused_attention(q, k, v, best_attention_kernel(q.defined() && q.dim() == 4 ? q.size(3) : 0));
}

at::Tensor fused_attention(const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v_in, AttentionKernel kernel) {
  if (!fused_attention_applies(q_in, k_in, v_in))
    fail(Status::invalid_argument, "fused_attention: needs CPU bf16 q, k, v [B, H, T, d] alike, d in 16..64, AVX512_BF16");
  if (!attention_kernel_supported(kernel, q_in.size(3)))
    fail(Status::invalid_argument, std::string("fused_attention: the ") + attention_kernel_name(kernel) +
                                       " kernel does not run here or not at d = " + std::to_string(q_in.size(3)));
  // Rows must be contiguous in d; heads and positions may be strided (the encoder's views).
  auto rows = [](const at::Tensor& t) { return t.stride(3) == 1 ? t : t.contiguous(); };
  const at::Tensor q = rows(q_in), k = rows(k_in), v = rows(v_in);
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), d = q.size(3);
  // Written as [B, T, H, d] (the encoder's next layout), returned as the [B, H, T, d] view.
  at::Tensor out = at::empty({B, T, H, d}, q.options());
#if defined(__x86_64__)
  const at::BFloat16* qd = q.data_ptr<at::BFloat16>();
  const at::BFloat16* kd = k.data_ptr<at::BFloat16>();
  const at::BFloat16* vd = v.data_ptr<at::BFloat16>();
  at::BFloat16* od = out.data_ptr<at::BFloat16>();
  const bool amx = kernel == AttentionKernel::amx;
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<uint32_t> kp, vp;
    std::vector<float> scores;
    std::vector<uint16_t> probs;
    if (amx) configure_amx_tiles();
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / H, h = bh % H;
      const at::BFloat16* qh = qd + b * q.stride(0) + h * q.stride(1);
      const at::BFloat16* kh = kd + b * k.stride(0) + h * k.stride(1);
      const at::BFloat16* vh = vd + b * v.stride(0) + h * v.stride(1);
      at::BFloat16* oh = od + (b * T * H + h) * d;
      const int64_t qs = q.stride(2), ks = k.stride(2), vs = v.stride(2), os = H * d;
      if (amx) {
        if (d == 32) attend_head_amx<1>(qh, qs, kh, ks, vh, vs, T, oh, os, kp, vp, scores, probs);
        else attend_head_amx<2>(qh, qs, kh, ks, vh, vs, T, oh, os, kp, vp, scores, probs);
        continue;
      }
      switch (d) {
        case 16: attend_head<1>(qh, qs, kh, ks, vh, vs, T, oh, os, kp, vp, scores); break;
        case 32: attend_head<2>(qh, qs, kh, ks, vh, vs, T, oh, os, kp, vp, scores); break;
        case 48: attend_head<3>(qh, qs, kh, ks, vh, vs, T, oh, os, kp, vp, scores); break;
        default: attend_head<4>(qh, qs, kh, ks, vh, vs, T, oh, os, kp, vp, scores); break;
      }
    }
    if (amx) release_amx_tiles();
  });
#endif
  return out.permute({0, 2, 1, 3});
}

}  // namespace m4cxr
