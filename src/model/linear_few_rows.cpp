#include "model/linear_few_rows.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "model/avx512_math.h"
#include "model/cpu_features.h"
#include "model/linear_amx.h"

namespace m4cxr {

namespace {

// y[t * ldy + r] = x_t · w_r for r < rows; x holds T rows of K values.
// bf16 kernels take x as bf16 bits; the others as fp32 (widened once per call).
using Kernel = void (*)(const void* x, int T, int64_t K, const uint16_t* w, int64_t rows, float* y, int64_t ldy);

inline float bf16_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// More than 4 rows of x: the kernels take x 4 rows at a time, and each block of W's rows
// (about 16 KiB) is taken by every chunk in turn while it is still in L1, so W still
// streams from memory once for all rows. f(t, n, r, m): x rows [t, t+n), W rows [r, r+m).
template <typename F>
void over_row_chunks(int T, int64_t K, size_t w_elem, int64_t rows, F&& f) {
  if (T <= 4) return f(0, T, 0, rows);
  const int64_t block = std::max<int64_t>(1, (16 << 10) / std::max<int64_t>(1, K * static_cast<int64_t>(w_elem)));
  for (int64_t r = 0; r < rows; r += block)
    for (int t = 0; t < T; t += 4) f(t, std::min(4, T - t), r, std::min(block, rows - r));
}

void kernel_portable(const void* xv, int T, int64_t K, const uint16_t* w, int64_t rows, float* y, int64_t ldy) {
  const float* x = static_cast<const float*>(xv);
  for (int64_t r = 0; r < rows; ++r) {
    const uint16_t* wr = w + r * K;
    for (int t = 0; t < T; ++t) {
      const float* xt = x + t * K;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t k = 0;
      for (; k + 8 <= K; k += 8)
        for (int j = 0; j < 8; ++j) acc[j] += xt[k + j] * bf16_to_float(wr[k + j]);
      float s = 0;
      for (; k < K; ++k) s += xt[k] * bf16_to_float(wr[k]);
      for (float a : acc) s += a;
      y[t * ldy + r] = s;
    }
  }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) inline __m256 widen8(const uint16_t* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), 16));
}

__attribute__((target("avx2,fma"))) inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int T>
__attribute__((target("avx2,fma"))) void avx2_rows(const float* x, int64_t K, const uint16_t* w, int64_t rows, float* y,
                                                   int64_t ldy) {
  for (int64_t r = 0; r < rows; ++r) {
    const uint16_t* wr = w + r * K;
    __m256 acc[T][2];
    for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
      const __m256 w0 = widen8(wr + k), w1 = widen8(wr + k + 8);
      for (int t = 0; t < T; ++t) {
        acc[t][0] = _mm256_fmadd_ps(_mm256_loadu_ps(x + t * K + k), w0, acc[t][0]);
        acc[t][1] = _mm256_fmadd_ps(_mm256_loadu_ps(x + t * K + k + 8), w1, acc[t][1]);
      }
    }
    for (int t = 0; t < T; ++t) {
      float s = hsum8(_mm256_add_ps(acc[t][0], acc[t][1]));
      for (int64_t kk = k; kk < K; ++kk) s += x[t * K + kk] * bf16_to_float(wr[kk]);
      y[t * ldy + r] = s;
    }
  }
}

template <int T>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void avx512_rows(const float* x, int64_t K, const uint16_t* w,
                                                                       int64_t rows, float* y, int64_t ldy) {
  for (int64_t r = 0; r < rows; ++r) {
    const uint16_t* wr = w + r * K;
    __m512 acc[T][2];
    for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
      const __m512 w0 = widen16(wr + k), w1 = widen16(wr + k + 16);
      for (int t = 0; t < T; ++t) {
        acc[t][0] = _mm512_fmadd_ps(_mm512_loadu_ps(x + t * K + k), w0, acc[t][0]);
        acc[t][1] = _mm512_fmadd_ps(_mm512_loadu_ps(x + t * K + k + 16), w1, acc[t][1]);
      }
    }
    for (int t = 0; t < T; ++t) {
      float s = _mm512_reduce_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]));
      for (int64_t kk = k; kk < K; ++kk) s += x[t * K + kk] * bf16_to_float(wr[kk]);
      y[t * ldy + r] = s;
    }
  }
}

#define M4CXR_ROWS_DISPATCH(NAME, XTYPE)                                                                       \
  void NAME(const void* xv, int T, int64_t K, const uint16_t* w, int64_t rows, float* y, int64_t ldy) {      \
    const XTYPE* x = static_cast<const XTYPE*>(xv);                                                           \
    over_row_chunks(T, K, sizeof(uint16_t), rows, [&](int t, int n, int64_t r, int64_t m) {                  \
      const XTYPE* xt = x + t * K;                                                                            \
      switch (n) {                                                                                            \
        case 1: return NAME##_rows<1>(xt, K, w + r * K, m, y + t * ldy + r, ldy);                             \
        case 2: return NAME##_rows<2>(xt, K, w + r * K, m, y + t * ldy + r, ldy);                             \
        case 3: return NAME##_rows<3>(xt, K, w + r * K, m, y + t * ldy + r, ldy);                             \
        default: return NAME##_rows<4>(xt, K, w + r * K, m, y + t * ldy + r, ldy);                            \
      }                                                                                                       \
    });                                                                                                       \
  }
M4CXR_ROWS_DISPATCH(avx2, float)
M4CXR_ROWS_DISPATCH(avx512, float)
#undef M4CXR_ROWS_DISPATCH

// AVX512_BF16: a tile of R W rows by TR x rows, one accumulator per output, each taking the
// 32-value chunks of K in order with vdpbf16ps, then reduced, then the K % 32 tail in scalar.
// Every output takes exactly this arithmetic whatever tile it is in, so a row's result does
// not depend on the rows beside it. `next` (or null): the W rows of the next tile, asked into
// L2 as this one streams (the hardware prefetcher alone falls behind once compute takes
// longer per byte than the memory does).
template <int R, int TR>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void avx512_bf16_tile(const uint16_t* x, int64_t K,
                                                                                      const uint16_t* w, float* y,
                                                                                      int64_t ldy,
                                                                                      const uint16_t* next) {
  // Fully unrolled so the accumulators live in registers (GCC keeps arrays indexed by
  // loops it does not unroll on the stack).
  __m512 a[R][TR];
#pragma GCC unroll 8
  for (int j = 0; j < R; ++j)
#pragma GCC unroll 4
    for (int t = 0; t < TR; ++t) a[j][t] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    __m512bh wv[R];
#pragma GCC unroll 8
    for (int j = 0; j < R; ++j) {
      wv[j] = (__m512bh)_mm512_loadu_si512(w + j * K + k);
      if (next) _mm_prefetch(reinterpret_cast<const char*>(next + j * K + k), _MM_HINT_T1);
    }
#pragma GCC unroll 4
    for (int t = 0; t < TR; ++t) {
      const __m512bh xv = (__m512bh)_mm512_loadu_si512(x + t * K + k);
#pragma GCC unroll 8
      for (int j = 0; j < R; ++j) a[j][t] = _mm512_dpbf16_ps(a[j][t], xv, wv[j]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < R; ++j)
#pragma GCC unroll 4
    for (int t = 0; t < TR; ++t) {
      float s = _mm512_reduce_add_ps(a[j][t]);
      for (int64_t kk = k; kk < K; ++kk) s += bf16_to_float(x[t * K + kk]) * bf16_to_float(w[j * K + kk]);
      y[t * ldy + j] = s;
    }
}

// R W rows against every x row, TR at a time (the last chunk smaller); the first chunk
// prefetches `next` (R rows, or null).
template <int R, int TR>
void avx512_bf16_tiles(const uint16_t* x, int T, int64_t K, const uint16_t* w, float* y, int64_t ldy,
                       const uint16_t* next) {
  for (int t = 0; t < T; t += TR) {
    const uint16_t* xt = x + t * K;
    float* yt = y + t * ldy;
    const uint16_t* pf = t == 0 ? next : nullptr;
    switch (std::min(TR, T - t)) {
      case 1: avx512_bf16_tile<R, 1>(xt, K, w, yt, ldy, pf); break;
      case 2: avx512_bf16_tile<R, 2>(xt, K, w, yt, ldy, pf); break;
      case 3: avx512_bf16_tile<R, 3>(xt, K, w, yt, ldy, pf); break;
      default: avx512_bf16_tile<R, TR>(xt, K, w, yt, ldy, pf); break;
    }
  }
}

// Tiles of R W rows (the remainder one row at a time) by up to TR x rows.
template <int R, int TR>
void avx512_bf16_rows(const uint16_t* x, int T, int64_t K, const uint16_t* w, int64_t rows, float* y, int64_t ldy) {
  int64_t r = 0;
  for (; r + R <= rows; r += R)
    avx512_bf16_tiles<R, TR>(x, T, K, w + r * K, y + r, ldy, r + 2 * R <= rows ? w + (r + R) * K : nullptr);
  for (; r < rows; ++r) avx512_bf16_tiles<1, TR>(x, T, K, w + r * K, y + r, ldy, nullptr);
}

// One row of x: 8 W rows side by side, 8 streams per thread. The more streams, the nearer
// the read bandwidth: in a 56 GB/s minute 2, 4, 6 and 8 rows read at 76, 88, 95 and 96 % of
// it (medians of 10). Several rows of x: 4 W rows by 4 x rows, 16 accumulators, each 32
// values of W loaded feeding 4 outputs (measured 1.15x faster at 8 rows than 3 by 4 with two
// chains per output).
void avx512_bf16(const void* xv, int T, int64_t K, const uint16_t* w, int64_t rows, float* y, int64_t ldy) {
  const uint16_t* x = static_cast<const uint16_t*>(xv);
  if (T == 1) return avx512_bf16_rows<8, 1>(x, T, K, w, rows, y, ldy);
  avx512_bf16_rows<4, 4>(x, T, K, w, rows, y, ldy);
}
#endif  // __x86_64__

// ---- int8 weights: y[t * ldy + r] = scale[r] * (x_t · q_r), x fp32 -----------------------
using Int8Kernel = void (*)(const float* x, int T, int64_t K, const int8_t* q, const float* scale, int64_t rows,
                            float* y, int64_t ldy);

void int8_portable(const float* x, int T, int64_t K, const int8_t* q, const float* scale, int64_t rows, float* y,
                   int64_t ldy) {
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t* qr = q + r * K;
    for (int t = 0; t < T; ++t) {
      const float* xt = x + t * K;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t k = 0;
      for (; k + 8 <= K; k += 8)
        for (int j = 0; j < 8; ++j) acc[j] += xt[k + j] * static_cast<float>(qr[k + j]);
      float s = 0;
      for (; k < K; ++k) s += xt[k] * static_cast<float>(qr[k]);
      for (float a : acc) s += a;
      y[t * ldy + r] = s * scale[r];
    }
  }
}

#if defined(__x86_64__)
template <int T>
__attribute__((target("avx2,fma"))) void int8_avx2_rows(const float* x, int64_t K, const int8_t* q, const float* scale,
                                                        int64_t rows, float* y, int64_t ldy) {
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t* qr = q + r * K;
    __m256 acc[T][2];
    for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qr + k));
      const __m256 w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
      const __m256 w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(b, b)));
      for (int t = 0; t < T; ++t) {
        acc[t][0] = _mm256_fmadd_ps(_mm256_loadu_ps(x + t * K + k), w0, acc[t][0]);
        acc[t][1] = _mm256_fmadd_ps(_mm256_loadu_ps(x + t * K + k + 8), w1, acc[t][1]);
      }
    }
    for (int t = 0; t < T; ++t) {
      float s = hsum8(_mm256_add_ps(acc[t][0], acc[t][1]));
      for (int64_t kk = k; kk < K; ++kk) s += x[t * K + kk] * static_cast<float>(qr[kk]);
      y[t * ldy + r] = s * scale[r];
    }
  }
}

// One row of Q at a time (rows side by side are 4 KiB apart for K = 4096 and interleaving
// them measured slower), over blocks of 4096 values of x so the block (16 KiB in fp32) stays
// in L1 for every row of the task; partial sums gather in y.
template <int T>
__attribute__((target("avx512f,avx512bw,avx512vl"))) void int8_avx512_rows(const float* x, int64_t K, const int8_t* q,
                                                                            const float* scale, int64_t rows, float* y,
                                                                            int64_t ldy) {
  constexpr int64_t kBlock = 4096;
  for (int64_t k0 = 0; k0 < K; k0 += kBlock) {
    const int64_t k1 = std::min(K, k0 + kBlock);
    for (int64_t r = 0; r < rows; ++r) {
      const int8_t* qr = q + r * K;
      __m512 acc[T][2];
      for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
      int64_t k = k0;
      for (; k + 32 <= k1; k += 32) {
        const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qr + k));
        const __m512 w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(b)));
        const __m512 w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(b, 1)));
        for (int t = 0; t < T; ++t) {
          acc[t][0] = _mm512_fmadd_ps(_mm512_loadu_ps(x + t * K + k), w0, acc[t][0]);
          acc[t][1] = _mm512_fmadd_ps(_mm512_loadu_ps(x + t * K + k + 16), w1, acc[t][1]);
        }
      }
      for (int t = 0; t < T; ++t) {
        float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]));
        for (int64_t kk = k; kk < k1; ++kk) sum += x[t * K + kk] * static_cast<float>(qr[kk]);
        y[t * ldy + r] = k0 == 0 ? sum : y[t * ldy + r] + sum;
      }
    }
  }
  for (int t = 0; t < T; ++t)
    for (int64_t r = 0; r < rows; ++r) y[t * ldy + r] *= scale[r];
}

#define M4CXR_INT8_DISPATCH(NAME)                                                                                   \
  void NAME(const float* x, int T, int64_t K, const int8_t* q, const float* scale, int64_t rows, float* y,         \
            int64_t ldy) {                                                                                         \
    over_row_chunks(T, K, sizeof(int8_t), rows, [&](int t, int n, int64_t r, int64_t m) {                         \
      const float* xt = x + t * K;                                                                                 \
      switch (n) {                                                                                                 \
        case 1: return NAME##_rows<1>(xt, K, q + r * K, scale + r, m, y + t * ldy + r, ldy);                       \
        case 2: return NAME##_rows<2>(xt, K, q + r * K, scale + r, m, y + t * ldy + r, ldy);                       \
        case 3: return NAME##_rows<3>(xt, K, q + r * K, scale + r, m, y + t * ldy + r, ldy);                       \
        default: return NAME##_rows<4>(xt, K, q + r * K, scale + r, m, y + t * ldy + r, ldy);                      \
      }                                                                                                            \
    });                                                                                                            \
  }
M4CXR_INT8_DISPATCH(int8_avx2)
M4CXR_INT8_DISPATCH(int8_avx512)
#undef M4CXR_INT8_DISPATCH
#endif  // __x86_64__

#if defined(__x86_64__)
// VNNI, one row of x (several take int8_vnni_many): xa = |round(x / sx_block)| as u8, neg =
// which of them were negative (one bit per value), sx = one scale per 128-value block; Q's
// signs are flipped where x was negative so that u8 x s8 products (vpdpbusd) carry the sign.
constexpr int64_t kVnniBlock = 128;

// x quantized once per call for the VNNI kernels: per 128-value block of each row a scale
// sx = max |x| / 127 and the values round(x / sx) (to nearest, ties to even), kept for one
// row as |value| (u8) and its sign bits, for several as value + 128 (u8); the values past
// the last whole block stay fp32 (tail).
struct VnniX {
  int64_t Kmain = 0;
  std::vector<uint8_t> a;
  std::vector<uint64_t> neg;
  std::vector<float> sx, tail;
};

__attribute__((target("avx512f,avx512bw,avx512vl"))) VnniX quantize_for_vnni(const float* x, int T, int64_t K) {
  VnniX q;
  q.Kmain = K / kVnniBlock * kVnniBlock;
  const int64_t nb = q.Kmain / kVnniBlock, tail = K - q.Kmain;
  const bool one = T == 1;
  q.a.resize(static_cast<size_t>(T * q.Kmain));
  q.neg.assign(one ? static_cast<size_t>(q.Kmain / 64) : 0, 0);
  q.sx.resize(static_cast<size_t>(T * nb));
  q.tail.resize(static_cast<size_t>(T * tail));
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127), offset = _mm512_set1_epi32(128);
  for (int t = 0; t < T; ++t) {
    const float* row = x + t * K;
    for (int64_t b = 0; b < nb; ++b) {
      const float* xb = row + b * kVnniBlock;
      __m512 v[8], m = _mm512_setzero_ps();
      for (int j = 0; j < 8; ++j) {
        v[j] = _mm512_loadu_ps(xb + 16 * j);
        m = _mm512_max_ps(m, _mm512_abs_ps(v[j]));
      }
      const float mx = _mm512_reduce_max_ps(m);
      q.sx[static_cast<size_t>(t * nb + b)] = mx / 127.0f;
      const __m512 inv = _mm512_set1_ps(mx > 0 ? 127.0f / mx : 0.0f);
      uint8_t* out = q.a.data() + t * q.Kmain + b * kVnniBlock;
      for (int j = 0; j < 8; ++j) {
        __m512i iv = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v[j], inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        iv = _mm512_min_epi32(_mm512_max_epi32(iv, lo), hi);
        if (one) {
          const int64_t k = b * kVnniBlock + 16 * j;
          q.neg[static_cast<size_t>(k / 64)] |= uint64_t(_mm512_cmplt_epi32_mask(iv, _mm512_setzero_si512())) << (k % 64);
          iv = _mm512_abs_epi32(iv);
        } else {
          iv = _mm512_add_epi32(iv, offset);
        }
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * j), _mm512_cvtepi32_epi8(iv));
      }
    }
    if (tail > 0) std::memcpy(q.tail.data() + t * tail, row + q.Kmain, static_cast<size_t>(tail) * sizeof(float));
  }
  return q;
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void int8_vnni_one(
    const uint8_t* xa, const uint64_t* neg, const float* sx, const float* xtail, int64_t K, int64_t Kmain,
    const int8_t* q, const float* scale, int64_t rows, float* y) {
  const int64_t nb = Kmain / kVnniBlock;
  const __m512i zero = _mm512_setzero_si512();
  for (int64_t r = 0; r < rows; ++r) {
    const int8_t* qr = q + r * K;
    __m512 accf = _mm512_setzero_ps();
    // No software prefetch: with the weights on 2 MiB pages (model/large_pages.h) the
    // hardware prefetcher keeps up, and prefetching the row two ahead measured 3-7 % slower.
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t k = b * kVnniBlock;
      const __m512i q0 = _mm512_loadu_si512(qr + k), q1 = _mm512_loadu_si512(qr + k + 64);
      const __m512i s0 = _mm512_mask_sub_epi8(q0, static_cast<__mmask64>(neg[2 * b]), zero, q0);
      const __m512i s1 = _mm512_mask_sub_epi8(q1, static_cast<__mmask64>(neg[2 * b + 1]), zero, q1);
      __m512i acc = _mm512_dpbusd_epi32(zero, _mm512_loadu_si512(xa + k), s0);
      acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(xa + k + 64), s1);
      accf = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(sx[b]), accf);
    }
    float sum = _mm512_reduce_add_ps(accf);
    for (int64_t kk = Kmain; kk < K; ++kk) sum += xtail[kk - Kmain] * static_cast<float>(qr[kk]);
    y[r] = sum * scale[r];
  }
}

// Several rows of x: xu = round(x / sx_block) + 128 as u8 (offset, so no sign flips per pair
// of rows), a tile of R Q rows by TR <= 4 x rows. vpdpbusd(xu, q) = Σ x·q + 128·Σ q, lane by
// lane; Σ q of the same lanes comes from vpdpbusd(1, q) once per Q row and block, and is taken
// off before the fp32 scaling. The integers are exact, and the fp32 steps are those of
// int8_vnni_one in the same order, so each output equals the one-row kernel's bit for bit.
template <int R, int TR>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void int8_vnni_tile(
    const uint8_t* xu, const float* sx, const float* xtail, int64_t K, int64_t Kmain, const int8_t* q,
    const float* scale, float* y, int64_t ldy, const int8_t* next) {
  const int64_t nb = Kmain / kVnniBlock, tail = K - Kmain;
  const __m512i zero = _mm512_setzero_si512(), ones = _mm512_set1_epi8(1);
  __m512 accf[R][TR];
#pragma GCC unroll 3
  for (int j = 0; j < R; ++j)
#pragma GCC unroll 4
    for (int t = 0; t < TR; ++t) accf[j][t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t k = b * kVnniBlock;
    __m512i q0[R], q1[R], off[R];
#pragma GCC unroll 3
    for (int j = 0; j < R; ++j) {
      q0[j] = _mm512_loadu_si512(q + j * K + k);
      q1[j] = _mm512_loadu_si512(q + j * K + k + 64);
      off[j] = _mm512_slli_epi32(_mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, ones, q0[j]), ones, q1[j]), 7);
      if (next) {
        _mm_prefetch(reinterpret_cast<const char*>(next + j * K + k), _MM_HINT_T1);
        _mm_prefetch(reinterpret_cast<const char*>(next + j * K + k + 64), _MM_HINT_T1);
      }
    }
#pragma GCC unroll 4
    for (int t = 0; t < TR; ++t) {
      const __m512i x0 = _mm512_loadu_si512(xu + t * Kmain + k), x1 = _mm512_loadu_si512(xu + t * Kmain + k + 64);
      const __m512 s = _mm512_set1_ps(sx[t * nb + b]);
#pragma GCC unroll 3
      for (int j = 0; j < R; ++j) {
        const __m512i acc = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, x0, q0[j]), x1, q1[j]), off[j]);
        accf[j][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), s, accf[j][t]);
      }
    }
  }
#pragma GCC unroll 3
  for (int j = 0; j < R; ++j)
#pragma GCC unroll 4
    for (int t = 0; t < TR; ++t) {
      float sum = _mm512_reduce_add_ps(accf[j][t]);
      for (int64_t kk = Kmain; kk < K; ++kk) sum += xtail[t * tail + (kk - Kmain)] * static_cast<float>(q[j * K + kk]);
      y[t * ldy + j] = sum * scale[j];
    }
}

template <int R>
void int8_vnni_tiles(const uint8_t* xu, const float* sx, const float* xtail, int T, int64_t K, int64_t Kmain,
                     const int8_t* q, const float* scale, float* y, int64_t ldy, const int8_t* next) {
  const int64_t nb = Kmain / kVnniBlock, tail = K - Kmain;
  for (int t = 0; t < T; t += 4) {
    const uint8_t* a = xu + t * Kmain;
    const float* s = sx + t * nb;
    const float* xt = xtail + t * tail;
    float* yt = y + t * ldy;
    const int8_t* pf = t == 0 ? next : nullptr;
    switch (std::min(4, T - t)) {
      case 1: int8_vnni_tile<R, 1>(a, s, xt, K, Kmain, q, scale, yt, ldy, pf); break;
      case 2: int8_vnni_tile<R, 2>(a, s, xt, K, Kmain, q, scale, yt, ldy, pf); break;
      case 3: int8_vnni_tile<R, 3>(a, s, xt, K, Kmain, q, scale, yt, ldy, pf); break;
      default: int8_vnni_tile<R, 4>(a, s, xt, K, Kmain, q, scale, yt, ldy, pf); break;
    }
  }
}

// T >= 2 rows of x in the offset form: triples of Q rows (the last one or two as a pair or
// single), the next triple prefetched into L2 as in avx512_bf16.
void int8_vnni_many(const uint8_t* xu, const float* sx, const float* xtail, int T, int64_t K, int64_t Kmain,
                    const int8_t* q, const float* scale, int64_t rows, float* y, int64_t ldy) {
  int64_t r = 0;
  for (; r + 3 <= rows; r += 3)
    int8_vnni_tiles<3>(xu, sx, xtail, T, K, Kmain, q + r * K, scale + r, y + r, ldy,
                       r + 6 <= rows ? q + (r + 3) * K : nullptr);
  if (rows - r == 2) int8_vnni_tiles<2>(xu, sx, xtail, T, K, Kmain, q + r * K, scale + r, y + r, ldy, nullptr);
  if (rows - r == 1) int8_vnni_tiles<1>(xu, sx, xtail, T, K, Kmain, q + r * K, scale + r, y + r, ldy, nullptr);
}
#endif

Int8Kernel int8_kernel_of(LinearKernel k) {
  switch (k) {
#if defined(__x86_64__)
    case LinearKernel::amx:
    case LinearKernel::avx512_bf16:
    case LinearKernel::avx512: return int8_avx512;
    case LinearKernel::avx2: return int8_avx2;
#endif
    default: return int8_portable;
  }
}

Kernel kernel_of(LinearKernel k) {
  switch (k) {
#if defined(__x86_64__)
    case LinearKernel::amx:  // weights that do not fit its tiles
    case LinearKernel::avx512_bf16: return avx512_bf16;
    case LinearKernel::avx512: return avx512;
    case LinearKernel::avx2: return avx2;
#endif
    default: return kernel_portable;
  }
}

}  // namespace

bool linear_kernel_supported(LinearKernel k) {
  const CpuFeatures& f = cpu_features();
#if defined(__x86_64__)
  switch (k) {
    case LinearKernel::amx: return f.amx && f.avx512_bf16;
    case LinearKernel::avx512_bf16: return f.avx512_bf16;
    case LinearKernel::avx512: return f.avx512;
    case LinearKernel::avx2: return f.avx2_fma;
    case LinearKernel::portable: return true;
  }
#endif
  (void)f;
  return k == LinearKernel::portable;
}

LinearKernel best_linear_kernel() {
  static const LinearKernel best = [] {
    // Not amx: one row of x (a session decoding alone) streamed 3-5 % slower through the
    // tiles than through AVX512_BF16 on the Xeon measured (both near the read bandwidth); amx
    // pays from 8 rows on (1.6x at 8, 2.4x at 16), for callers that batch (set_decode_kernel).
    for (LinearKernel k : {LinearKernel::avx512_bf16, LinearKernel::avx512, LinearKernel::avx2})
      if (linear_kernel_supported(k)) return k;
    return LinearKernel::portable;
  }();
  return best;
}

const char* linear_kernel_name(LinearKernel k) {
  switch (k) {
    case LinearKernel::amx: return "amx";
    case LinearKernel::avx512_bf16: return "avx512_bf16";
    case LinearKernel::avx512: return "avx512";
    case LinearKernel::avx2: return "avx2";
    case LinearKernel::portable: return "portable";
  }
  return "?";
}

namespace {
// -1: not chosen yet; 0..4: LinearKernel; 5: libtorch.
std::atomic<int> g_decode_kernel{-1};
constexpr int kLibtorch = 5;

int initial_decode_kernel() {
  const char* env = std::getenv("M4CXR_DECODE_KERNEL");
  const std::string v = env ? env : "";
  if (v == "libtorch") return kLibtorch;
  for (LinearKernel k : {LinearKernel::amx, LinearKernel::avx512_bf16, LinearKernel::avx512, LinearKernel::avx2,
                         LinearKernel::portable})
    if (v == linear_kernel_name(k) && linear_kernel_supported(k)) return static_cast<int>(k);
  return static_cast<int>(best_linear_kernel());
}
}  // namespace

DecodeKernelChoice decode_kernel() {
  int v = g_decode_kernel.load(std::memory_order_relaxed);
  if (v < 0) {
    int expected = -1;
    g_decode_kernel.compare_exchange_strong(expected, initial_decode_kernel());
    v = g_decode_kernel.load(std::memory_order_relaxed);
  }
  DecodeKernelChoice c;
  c.use_libtorch = v == kLibtorch;
  c.kernel = v == kLibtorch ? best_linear_kernel() : static_cast<LinearKernel>(v);
  return c;
}

void set_decode_kernel(DecodeKernelChoice c) {
  if (!c.use_libtorch && !linear_kernel_supported(c.kernel))
    fail(Status::invalid_argument, std::string("this CPU has no ") + linear_kernel_name(c.kernel));
  g_decode_kernel.store(c.use_libtorch ? kLibtorch : static_cast<int>(c.kernel), std::memory_order_relaxed);
}

bool linear_few_rows_applies(const at::Tensor& x, const at::Tensor& w) {
  if (!x.defined() || !w.defined() || !x.device().is_cpu() || !w.device().is_cpu()) return false;
  if (x.scalar_type() != at::kBFloat16 || w.scalar_type() != at::kBFloat16) return false;
  if (w.dim() != 2 || !w.is_contiguous() || x.dim() < 1 || x.size(-1) != w.size(1) || w.size(1) == 0) return false;
  const int64_t rows = x.numel() / w.size(1);
  return rows >= 1 && rows <= kMaxFewRows;
}

namespace {

// The rows of several weights as one range split over libtorch's intra-op threads:
// f(i, begin, end) for weight i's rows [begin, end). Each thread first takes its own
// contiguous share of the first 7/8 of the rows, then chunks of the rest from a shared
// counter, so a thread that starts late (an OpenMP wake-up, about 36 us a region here) or
// reads slower does not keep the others waiting: measured over a 4-layer decode, each
// thread's idle time in these regions fell from 3-4 % to about 2 % (the rest is the late
// start itself). At least 64 rows (512 KiB of a 4096-wide bf16 weight) a thread.
template <typename F>
void parallel_over_rows(const std::vector<int64_t>& rows, F&& f) {
  // Each weight starts at a multiple of 16 in the joint range (its rows padded to one), and
  // every split falls on a multiple of 16: so each weight's share of a thread is whole
  // 16-row blocks from its own row 0 (the AMX kernels' tiles), whatever the thread count.
  std::vector<int64_t> start(rows.size() + 1, 0);
  for (size_t i = 0; i < rows.size(); ++i) start[i + 1] = start[i] + (rows[i] + 15) / 16 * 16;
  const int64_t total = start.back();
  auto run = [&](int64_t b, int64_t e) {
    for (size_t i = 0; i < rows.size(); ++i) {
      const int64_t lo = std::max(b, start[i]), hi = std::min(e, start[i] + rows[i]);
      if (lo < hi) f(i, lo - start[i], hi - start[i]);
    }
  };
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), (total + 63) / 64));
  if (threads == 1) return run(0, total);
  // Shares and chunks in multiples of 16 rows (above).
  const int64_t share = total * 7 / 8 / threads / 16 * 16;
  const int64_t chunk = std::max<int64_t>(16, (total - share * threads) / (threads * 8) / 16 * 16);
  std::atomic<int64_t> next{share * threads};
  // One index per thread; run inline (nested in another parallel region) one call takes them all.
  at::parallel_for(0, threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) run(t * share, (t + 1) * share);
    for (int64_t lo = next.fetch_add(chunk, std::memory_order_relaxed); lo < total;
         lo = next.fetch_add(chunk, std::memory_order_relaxed))
      run(lo, std::min(total, lo + chunk));
  });
}

// fp32 results [T, N_i] as bf16 in x's leading shape.
std::vector<at::Tensor> outputs_as_bf16(const at::Tensor& x, const std::vector<at::Tensor>& ys) {
  std::vector<at::Tensor> out;
  out.reserve(ys.size());
  for (const at::Tensor& y : ys) {
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = y.size(1);
    out.push_back(y.to(at::kBFloat16).view(shape));
  }
  return out;
}

}  // namespace

at::Tensor linear_few_rows(const at::Tensor& x, const at::Tensor& w, LinearKernel kernel) {
  return linear_few_rows_multi(x, {w}, kernel)[0];
}

std::vector<at::Tensor> linear_few_rows_multi(const at::Tensor& x, const std::vector<at::Tensor>& ws,
                                              LinearKernel kernel) {
  if (ws.empty()) fail(Status::invalid_argument, "linear_few_rows: no weight");
  for (const at::Tensor& w : ws)
    if (!linear_few_rows_applies(x, w))
      fail(Status::invalid_argument, "linear_few_rows: needs CPU bf16 x [T<=" + std::to_string(kMaxFewRows) + ", K] and contiguous W [N, K]");
  if (!linear_kernel_supported(kernel))
    fail(Status::invalid_argument, std::string("linear_few_rows: this CPU has no ") + linear_kernel_name(kernel));
  const int64_t K = x.size(-1);
  const int T = static_cast<int>(x.numel() / K);
  const at::Tensor xc = x.reshape({T, K}).contiguous();
  // The bf16 kernels read x as it is (AMX: packed as its B operand); the others widen it to
  // fp32 once here.
  const bool bf16_x = kernel == LinearKernel::avx512_bf16 || kernel == LinearKernel::amx;
  const at::Tensor xk = bf16_x ? xc : xc.to(at::kFloat);
  const void* xp = xk.data_ptr();
  std::vector<at::Tensor> ys;
  std::vector<int64_t> rows;
  std::vector<bool> on_amx;
  bool any_amx = false;
  for (const at::Tensor& w : ws) {
    rows.push_back(w.size(0));
    ys.push_back(at::empty({T, w.size(0)}, at::TensorOptions().dtype(at::kFloat)));
    on_amx.push_back(kernel == LinearKernel::amx && amx_bf16_fits(w.size(0), K));
    any_amx = any_amx || on_amx.back();
  }
  const std::vector<uint32_t> xpacked =
      any_amx ? amx_pack_bf16(static_cast<const uint16_t*>(xp), T, K) : std::vector<uint32_t>();
  const Kernel run = kernel_of(kernel);
  parallel_over_rows(rows, [&](size_t i, int64_t b, int64_t e) {
    const uint16_t* wp = reinterpret_cast<const uint16_t*>(ws[i].data_ptr<at::BFloat16>());
    float* yp = ys[i].data_ptr<float>() + b;
    if (on_amx[i]) return amx_bf16_rows(xpacked.data(), T, K, wp + b * K, e - b, yp, rows[i]);
    run(xp, T, K, wp + b * K, e - b, yp, rows[i]);
  });
  return outputs_as_bf16(x, ys);
}

}  // namespace m4cxr

namespace m4cxr {

bool int8_vnni_supported() { return cpu_features().avx512_vnni; }

namespace {
std::atomic<int> g_int8_vnni{-1};  // -1: not decided yet
}  // namespace

bool int8_vnni_enabled() {
  int v = g_int8_vnni.load(std::memory_order_relaxed);
  if (v < 0) {
    const char* env = std::getenv("M4CXR_INT8_VNNI");
    int expected = -1;
    g_int8_vnni.compare_exchange_strong(expected, env && std::string(env) == "0" ? 0 : 1);
    v = g_int8_vnni.load(std::memory_order_relaxed);
  }
  return v == 1 && int8_vnni_supported();
}

void set_int8_vnni(bool on) { g_int8_vnni.store(on ? 1 : 0, std::memory_order_relaxed); }

at::Tensor linear_few_rows_int8(const at::Tensor& x, const at::Tensor& q, const at::Tensor& scale, LinearKernel kernel,
                                bool vnni) {
  return linear_few_rows_int8_multi(x, {Int8Weight{q, scale}}, kernel, vnni)[0];
}

std::vector<at::Tensor> linear_few_rows_int8_multi(const at::Tensor& x, const std::vector<Int8Weight>& ws,
                                                   LinearKernel kernel, bool vnni) {
  bool ok = !ws.empty() && x.defined() && x.device().is_cpu() && x.scalar_type() == at::kBFloat16 && x.dim() >= 1;
  for (const Int8Weight& w : ws)
    ok = ok && w.q.defined() && w.scale.defined() && w.q.device().is_cpu() && w.q.scalar_type() == at::kChar &&
         w.q.dim() == 2 && w.q.is_contiguous() && w.scale.scalar_type() == at::kFloat && w.scale.dim() == 1 &&
         w.scale.is_contiguous() && w.scale.size(0) == w.q.size(0) && w.q.size(1) > 0 && x.size(-1) == w.q.size(1) &&
         x.numel() / w.q.size(1) >= 1 && x.numel() / w.q.size(1) <= kMaxFewRows;
  if (!ok)
    fail(Status::invalid_argument, "linear_few_rows_int8: needs CPU bf16 x [T<=" + std::to_string(kMaxFewRows) + ", K], int8 Q [N, K], fp32 scale [N]");
  if (!linear_kernel_supported(kernel))
    fail(Status::invalid_argument, std::string("linear_few_rows_int8: this CPU has no ") + linear_kernel_name(kernel));
  if (vnni && !int8_vnni_supported()) fail(Status::invalid_argument, "linear_few_rows_int8: this CPU has no AVX512_VNNI");
  const int64_t K = x.size(-1);
  const int T = static_cast<int>(x.numel() / K);
  const at::Tensor xf = x.reshape({T, K}).to(at::kFloat).contiguous();
  const float* xp = xf.data_ptr<float>();
  std::vector<at::Tensor> ys;
  std::vector<int64_t> rows;
  for (const Int8Weight& w : ws) {
    rows.push_back(w.q.size(0));
    ys.push_back(at::empty({T, w.q.size(0)}, at::TensorOptions().dtype(at::kFloat)));
  }
#if defined(__x86_64__)
  if (vnni) {
    // AMX tiles for the weights that fit them on CPUs with AMX, VNNI for the others.
    std::vector<bool> on_amx;
    bool any_amx = false, any_vnni = false;
    for (const Int8Weight& w : ws) {
      on_amx.push_back(cpu_features().amx && amx_int8_fits(w.q.size(0), K));
      any_amx = any_amx || on_amx.back();
      any_vnni = any_vnni || !on_amx.back();
    }
    const AmxInt8X xa = any_amx ? amx_quantize_x(xp, T, K) : AmxInt8X();
    const VnniX xq = any_vnni ? quantize_for_vnni(xp, T, K) : VnniX();
    parallel_over_rows(rows, [&](size_t i, int64_t b, int64_t e) {
      const int8_t* qp = ws[i].q.data_ptr<int8_t>() + b * K;
      const float* sp = ws[i].scale.data_ptr<float>() + b;
      float* yp = ys[i].data_ptr<float>() + b;
      if (on_amx[i])
        amx_int8_rows(xa, T, K, qp, sp, e - b, yp, rows[i]);
      else if (T == 1)
        int8_vnni_one(xq.a.data(), xq.neg.data(), xq.sx.data(), xq.tail.data(), K, xq.Kmain, qp, sp, e - b, yp);
      else
        int8_vnni_many(xq.a.data(), xq.sx.data(), xq.tail.data(), T, K, xq.Kmain, qp, sp, e - b, yp, rows[i]);
    });
    return outputs_as_bf16(x, ys);
  }
#endif
  const Int8Kernel run = int8_kernel_of(kernel);
  parallel_over_rows(rows, [&](size_t i, int64_t b, int64_t e) {
    run(xp, T, K, ws[i].q.data_ptr<int8_t>() + b * K, ws[i].scale.data_ptr<float>() + b, e - b,
        ys[i].data_ptr<float>() + b, rows[i]);
  });
  return outputs_as_bf16(x, ys);
}

bool int8_amx_prefill_applies(const at::Tensor& x, const Int8Weight& w) {
  return x.defined() && x.device().is_cpu() && x.scalar_type() == at::kBFloat16 && x.dim() >= 1 && w.q.defined() &&
         w.q.device().is_cpu() && w.q.scalar_type() == at::kChar && w.q.dim() == 2 && w.q.is_contiguous() &&
         w.scale.defined() && w.scale.scalar_type() == at::kFloat && w.scale.is_contiguous() && w.scale.dim() == 1 &&
         w.scale.size(0) == w.q.size(0) && x.size(-1) == w.q.size(1) && x.numel() > 0 && cpu_features().amx &&
         int8_vnni_enabled() && amx_int8_fits(w.q.size(0), w.q.size(1));
}

at::Tensor linear_int8_amx_prefill(const at::Tensor& x, const Int8Weight& w) {
  if (!int8_amx_prefill_applies(x, w))
    fail(Status::invalid_argument, "linear_int8_amx_prefill: needs CPU bf16 x [..., K], int8 Q [N, K] (N % 16, K % 128), AMX");
  const int64_t K = x.size(-1), N = w.q.size(0), M = x.numel() / K;
  const at::Tensor xf = x.reshape({M, K}).to(at::kFloat).contiguous();
  const int64_t groups = (M + 15) / 16;
  std::vector<AmxInt8X> xq(static_cast<size_t>(groups));
  at::parallel_for(0, groups, 1, [&](int64_t b, int64_t e) {
    for (int64_t g = b; g < e; ++g)
      xq[static_cast<size_t>(g)] = amx_quantize_x(xf.data_ptr<float>() + g * 16 * K, static_cast<int>(std::min<int64_t>(16, M - g * 16)), K);
  });
  at::Tensor y = at::empty({M, N}, at::TensorOptions().dtype(at::kFloat));
  const int8_t* qp = w.q.data_ptr<int8_t>();
  const float* sp = w.scale.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  constexpr int64_t kSlice = 64;  // weight rows per L2-resident slice
  parallel_over_rows({N}, [&](size_t, int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r += kSlice) {
      const int64_t m = std::min(kSlice, e - r);
      for (int64_t g = 0; g < groups; ++g)
        amx_int8_rows(xq[static_cast<size_t>(g)], static_cast<int>(std::min<int64_t>(16, M - g * 16)), K, qp + r * K,
                      sp + r, m, yp + g * 16 * N + r, N);
    }
  });
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = N;
  return y.to(at::kBFloat16).view(shape);
}

}  // namespace m4cxr
