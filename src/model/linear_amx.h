// The decode products of model/linear_few_rows.h as AMX tile products, for CPUs with AMX.
// Internal header: linear_few_rows picks these where cpu_features().amx holds and the weight
// fits the tiles (amx_bf16_fits / amx_int8_fits), for every count of x rows alike, so that a
// row's result never depends on the rows beside it.
//  - bf16: y = x · Wᵀ as Wᵀ's rows against x packed as the pair-interleaved B operand, 16
//    weight rows by up to 16 x rows per tile, fp32 accumulation (as the AVX512_BF16 kernel;
//    the sums are taken in another order).
//  - int8: x quantized per 128-value block to signed int8 with its own fp32 scale (as the
//    VNNI kernel), each block's integer sum exact in an int32 tile (tdpbssd), scaled in fp32.
// Thread-safety: pure functions on caller-owned memory; each call configures the tiles of the
// thread it runs on (model/amx_tiles.h) and releases them before returning.
#pragma once

#include <cstdint>
#include <vector>

namespace m4cxr {

constexpr int kAmxRows = 16;  // weight rows per tile; callers split rows in multiples of it

// Whether a weight of `rows` x K takes the AMX kernels (CPU support is the caller's check).
inline bool amx_bf16_fits(int64_t rows, int64_t K) { return rows % kAmxRows == 0 && K % 32 == 0 && K > 0; }
inline bool amx_int8_fits(int64_t rows, int64_t K) { return rows % kAmxRows == 0 && K % 128 == 0 && K > 0; }

// x (T <= 16 rows of K bf16 bits, K % 32 == 0) as the B operand: per 32 values of K a 16 x T
// block of u32 (row p: the pair 2p, 2p+1 of each x row), so as many bytes as x.
std::vector<uint32_t> amx_pack_bf16(const uint16_t* x, int T, int64_t K);
// y[t * ldy + r] = x_t · w_r for r < rows (rows % 16 == 0), w row-major [rows, K].
void amx_bf16_rows(const uint32_t* xpacked, int T, int64_t K, const uint16_t* w, int64_t rows, float* y, int64_t ldy);

// x (T <= 16 rows of K fp32, K % 128 == 0) quantized for amx_int8_rows: per 64 values of K a
// 16 x T block of 4-byte groups (row p: values 4p..4p+3 of each x row), and per 128-value
// block the 16 scales of the x rows (sx[b * 16 + t]; 0 past T).
struct AmxInt8X {
  std::vector<uint32_t> packed;
  std::vector<float> sx;
};
AmxInt8X amx_quantize_x(const float* x, int T, int64_t K);
// y[t * ldy + r] = scale[r] * Σ_b sx[b][t] * (xq_t · q_r over block b), rows % 16 == 0.
void amx_int8_rows(const AmxInt8X& x, int T, int64_t K, const int8_t* q, const float* scale, int64_t rows, float* y,
                   int64_t ldy);

}  // namespace m4cxr
