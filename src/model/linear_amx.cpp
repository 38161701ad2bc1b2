#include "model/linear_amx.h"

#include <algorithm>
#include <cstring>

#include "model/amx_tiles.h"
#include "model/avx512_math.h"

namespace m4cxr {

std::vector<uint32_t> amx_pack_bf16(const uint16_t* x, int T, int64_t K) {
  std::vector<uint32_t> out(static_cast<size_t>(K / 2 * T));
  for (int64_t c = 0; c < K / 32; ++c)
    for (int p = 0; p < 16; ++p)
      for (int t = 0; t < T; ++t) std::memcpy(&out[static_cast<size_t>((c * 16 + p) * T + t)], x + t * K + c * 32 + 2 * p, 4);
  return out;
}

#if defined(__x86_64__)
#define M4CXR_AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,amx-tile,amx-bf16,amx-int8")))

namespace {
// The 16 x 16 fp32 results of 16 weight rows (tile rows) by the x rows (columns) into y.
M4CXR_AMX_TARGET void write_transposed(const float (*c)[16], int T, float* y, int64_t ldy, const float* scale) {
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < 16; ++i) y[t * ldy + i] = scale ? c[i][t] * scale[i] : c[i][t];
}

// acc[i] += the block's int32 sums of weight row i (x rows in the lanes) x the x rows' scales.
M4CXR_AMX_TARGET inline void scale_block(__m512* acc, const int32_t (*c)[16], const float* sx) {
  const __m512 s = _mm512_loadu_ps(sx);
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c[i])), s, acc[i]);
}
}  // namespace

// One block of 16 weight rows at a time (16 streams; two or four blocks side by side measured
// no faster at one x row and slower at 4 to 16).
M4CXR_AMX_TARGET void amx_bf16_rows(const uint32_t* xp, int T, int64_t K, const uint16_t* w, int64_t rows, float* y,
                                    int64_t ldy) {
  // B (the x chunk) and C are T columns wide: a one-row decode reads 64 bytes of x per tile
  // product, not 1 KiB of mostly zeros.
  configure_amx_tiles(4 * T);
  const int64_t xs = 16 * T, xld = 4 * T;  // u32 per chunk of x; bytes per B row
  alignas(64) float c[16][16] = {};
  alignas(64) float c1[16][16] = {};
  for (int64_t n = 0; n + kAmxRows <= rows; n += kAmxRows) {
    const uint16_t* wn = w + n * K;
    _tile_zero(0);
    _tile_zero(1);
    int64_t k = 0;
    // Two chains of tile sums (even and odd chunks), added at the end.
    for (; k + 64 <= K; k += 64) {
      _tile_loadd(4, wn + k, K * 2);
      _tile_loadd(6, xp + (k / 32) * xs, xld);
      _tile_loadd(5, wn + k + 32, K * 2);
      _tile_loadd(7, xp + (k / 32 + 1) * xs, xld);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(1, 5, 7);
    }
    if (k < K) {
      _tile_loadd(4, wn + k, K * 2);
      _tile_loadd(6, xp + (k / 32) * xs, xld);
      _tile_dpbf16ps(0, 4, 6);
    }
    _tile_stored(0, c, 64);
    _tile_stored(1, c1, 64);
    for (int i = 0; i < 16; ++i) _mm512_store_ps(c[i], _mm512_add_ps(_mm512_load_ps(c[i]), _mm512_load_ps(c1[i])));
    write_transposed(c, T, y + n, ldy, nullptr);
  }
  release_amx_tiles();
}

M4CXR_AMX_TARGET AmxInt8X amx_quantize_x(const float* x, int T, int64_t K) {
  const int64_t nb = K / 128;
  AmxInt8X q;
  q.packed.assign(static_cast<size_t>(nb * 2 * 16 * T), 0);
  q.sx.assign(static_cast<size_t>(nb * 16), 0.0f);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  alignas(64) int8_t vals[128];
  for (int t = 0; t < T; ++t)
    for (int64_t b = 0; b < nb; ++b) {
      const float* xb = x + t * K + b * 128;
      __m512 v[8], m = _mm512_setzero_ps();
      for (int j = 0; j < 8; ++j) {
        v[j] = _mm512_loadu_ps(xb + 16 * j);
        m = _mm512_max_ps(m, _mm512_abs_ps(v[j]));
      }
      // The VNNI kernel's quantization: max |x| / 127, to nearest with ties to even.
      const float mx = _mm512_reduce_max_ps(m);
      q.sx[static_cast<size_t>(b * 16 + t)] = mx / 127.0f;
      const __m512 inv = _mm512_set1_ps(mx > 0 ? 127.0f / mx : 0.0f);
      for (int j = 0; j < 8; ++j) {
        __m512i iv = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v[j], inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        iv = _mm512_min_epi32(_mm512_max_epi32(iv, lo), hi);
        _mm_store_si128(reinterpret_cast<__m128i*>(vals + 16 * j), _mm512_cvtepi32_epi8(iv));
      }
      for (int half = 0; half < 2; ++half)
        for (int p = 0; p < 16; ++p)
          std::memcpy(&q.packed[static_cast<size_t>(((b * 2 + half) * 16 + p) * T + t)], vals + half * 64 + 4 * p, 4);
    }
  return q;
}

// 16 weight rows at a time; per 128-value block one int32 tile of exact sums (two tdpbssd),
// two blocks in flight (tiles 0 and 1), each scaled by its x scales in fp32: acc[i] holds
// weight row i's sums with the x rows in its lanes.
M4CXR_AMX_TARGET void amx_int8_rows(const AmxInt8X& x, int T, int64_t K, const int8_t* q, const float* scale,
                                    int64_t rows, float* y, int64_t ldy) {
  const int64_t nb = K / 128;
  const uint32_t* xp = x.packed.data();
  configure_amx_tiles(4 * T);  // B and C T columns wide, as in amx_bf16_rows
  const int64_t xs = 16 * T, xld = 4 * T;
  alignas(64) int32_t c[2][16][16] = {};  // lanes past T stay 0
  alignas(64) float out[16][16];
  for (int64_t n = 0; n + kAmxRows <= rows; n += kAmxRows) {
    const int8_t* qn = q + n * K;
    __m512 acc[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
    // Block blk's exact sums into tile C: its two 64-value halves of q (tiles 4, 5) against
    // those of x (tiles 6, 7). A macro: tile numbers must be literals.
#define M4CXR_BLOCK_SUM(C, blk)                             \
  _tile_zero(C);                                            \
  _tile_loadd(4, qn + (blk) * 128, K);                      \
  _tile_loadd(6, xp + ((blk) * 2) * xs, xld);               \
  _tile_loadd(5, qn + (blk) * 128 + 64, K);                 \
  _tile_loadd(7, xp + ((blk) * 2 + 1) * xs, xld);           \
  _tile_dpbssd(C, 4, 6);                                    \
  _tile_dpbssd(C, 5, 7)
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
      M4CXR_BLOCK_SUM(0, b);
      M4CXR_BLOCK_SUM(1, b + 1);
      _tile_stored(0, c[0], 64);
      _tile_stored(1, c[1], 64);
      scale_block(acc, c[0], x.sx.data() + b * 16);
      scale_block(acc, c[1], x.sx.data() + (b + 1) * 16);
    }
    if (b < nb) {
      M4CXR_BLOCK_SUM(0, b);
      _tile_stored(0, c[0], 64);
      scale_block(acc, c[0], x.sx.data() + b * 16);
    }
#undef M4CXR_BLOCK_SUM
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) _mm512_store_ps(out[i], acc[i]);
    write_transposed(out, T, y + n, ldy, scale + n);
  }
  release_amx_tiles();
}
#undef M4CXR_AMX_TARGET
#else
void amx_bf16_rows(const uint32_t*, int, int64_t, const uint16_t*, int64_t, float*, int64_t) {}
AmxInt8X amx_quantize_x(const float*, int, int64_t) { return {}; }
void amx_int8_rows(const AmxInt8X&, int, int64_t, const int8_t*, const float*, int64_t, float*, int64_t) {}
#endif

}  // namespace m4cxr
