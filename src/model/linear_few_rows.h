// Decoding's matrix products on the CPU: y = x · Wᵀ for a few rows of x (the token of one
// session, or a few) against a bf16 weight W [N, K]. Decoding is bound by reading W once per
// token, and libtorch 1.13's one-row bf16 product is slow and erratic; these kernels stream W
// once for all rows, with the widest instructions this CPU has, picked at run time (the
// library is built for plain x86-64): AVX512_BF16 dot products, else AVX-512 or AVX2 FMA on
// widened values, else portable C++; and on CPUs with AMX, on request, tile products
// (model/linear_amx.h). Output rows of W are split over libtorch's intra-op threads (no pool
// of our own). bf16 in and out, fp32 accumulation and one rounding to bf16 at the end, as
// oneDNN's bf16 linear; sums are taken in another order, so results differ from at::linear by
// bf16 rounding only. A row's result does not depend on the other rows computed with it
// (sessions decoding together rely on this; tested bit for bit), nor on the thread count.
// Thread-safety: pure functions; any number of threads.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "model/int8_weight.h"

namespace m4cxr {

// amx: AMX tiles for the weights that fit them (N a multiple of 16, K of 32), avx512_bf16 for
// the others (which weight takes which depends on its shape only, so results stay independent
// of the rows and threads). Never best_linear_kernel(): one row of x streamed 3-5 % slower
// through the tiles than through AVX512_BF16 on the Xeon measured, while from 8 rows on the
// tiles are 1.6x (8) to 2.4x (16) faster; a caller that decodes many sessions together asks
// for it (set_decode_kernel, or M4CXR_DECODE_KERNEL=amx).
enum class LinearKernel { avx512_bf16, avx512, avx2, portable, amx };

// Up to this many rows (one decode step of this many batched sessions) W streams once for
// all of them; beyond it libtorch's GEMM is the faster way.
constexpr int kMaxFewRows = 16;

// The fastest kernel this CPU runs for one row of x (never amx, see above).
LinearKernel best_linear_kernel();
bool linear_kernel_supported(LinearKernel kernel);
const char* linear_kernel_name(LinearKernel kernel);

// The kernel the decoder's bf16 projections use: best_linear_kernel() unless set; `use_libtorch`
// sends them to at::linear instead (the environment variable M4CXR_DECODE_KERNEL=libtorch or
// a kernel name sets it at start). Process-wide, for benches and comparisons; thread-safe.
struct DecodeKernelChoice {
  bool use_libtorch = false;
  LinearKernel kernel = LinearKernel::portable;
};
DecodeKernelChoice decode_kernel();
void set_decode_kernel(DecodeKernelChoice choice);

// linear_few_rows takes this product: CPU bf16 tensors, x [T, K] (any leading shape with
// T = numel / K rows, 1 <= T <= kMaxFewRows), W [N, K] contiguous.
bool linear_few_rows_applies(const at::Tensor& x, const at::Tensor& w);

// x · Wᵀ with x's leading shape and N last. Throws Error(invalid_argument) when
// linear_few_rows_applies is false or the kernel is not supported here.
at::Tensor linear_few_rows(const at::Tensor& x, const at::Tensor& w, LinearKernel kernel = best_linear_kernel());
// Several weights on the same x in one call (the decoder's q/k/v, and gate/up): x is read
// (int8: quantized) once and the rows of all the weights are split over the threads as one
// range, one fork and join instead of one per weight. Output i equals linear_few_rows(x, ws[i],
// kernel) bit for bit. Same requirements and errors for every weight; ws must not be empty.
std::vector<at::Tensor> linear_few_rows_multi(const at::Tensor& x, const std::vector<at::Tensor>& ws,
                                              LinearKernel kernel = best_linear_kernel());

// Weight-only int8 (model/int8_weight.h): x · (scale ⊙ Q)ᵀ for Q int8 [N, K] and one fp32
// scale per output row, x bf16 [T <= kMaxFewRows, K], bf16 out. Two ways:
//  - vnni (CPUs with AVX512_VNNI): each block of 128 values of x is quantized to int8 with
//    its own fp32 scale (max |x| / 127, as llama.cpp's Q8 activations, in larger blocks;
//    rounded to nearest, ties to even, as the weights) and multiplied with integer dot
//    products, the block sums scaled in fp32. The integer products are AMX tile products
//    (tdpbssd, a block's sum exact in int32) on CPUs with AMX for the weights that fit the
//    tiles (N a multiple of 16, K of 128), whatever `kernel`: measured 1.96x bf16 decode
//    against 1.67x with vpdpbusd on the Xeon; else vpdpbusd.
//  - otherwise `kernel` widens Q to fp32 and multiplies in fp32 (the avx512_bf16 and amx
//    kernels are the avx512 one here).
// Throws Error(invalid_argument) for other shapes or types, or an unsupported path.
bool int8_vnni_supported();
// Whether the decoder's int8 projections take the vnni way: int8_vnni_supported() unless
// turned off (set_int8_vnni(false), or M4CXR_INT8_VNNI=0 at start). Process-wide, for
// benches and comparisons; thread-safe. Turning it on where unsupported is ignored.
bool int8_vnni_enabled();
void set_int8_vnni(bool on);
at::Tensor linear_few_rows_int8(const at::Tensor& x, const at::Tensor& q, const at::Tensor& scale,
                                LinearKernel kernel = best_linear_kernel(), bool vnni = int8_vnni_supported());
// linear_few_rows_multi for int8 weights: output i equals linear_few_rows_int8(x, ws[i].q,
// ws[i].scale, kernel, vnni) bit for bit.
std::vector<at::Tensor> linear_few_rows_int8_multi(const at::Tensor& x, const std::vector<Int8Weight>& ws,
                                                   LinearKernel kernel = best_linear_kernel(),
                                                   bool vnni = int8_vnni_supported());

// Prefill with int8 weights on CPUs with AMX: x bf16 [M, K] of any row count, in groups of 16
// rows, each group exactly as linear_few_rows_int8 takes it on the integer path (so a row's
// result is the one a decode step of that row gives, bit for bit); the weight's rows go over
// the threads 64 at a time, each slice (256 KiB at K = 4096) kept in L2 across all groups.
// Instead of the dequantized bf16 GEMM, which on the Xeon measured ran 22 % behind bf16.
// Applies when int8_amx_prefill_applies: CPU bf16 x, a CPU with AMX, the integer path on
// (int8_vnni_enabled), and a weight that fits the tiles (N a multiple of 16, K of 128).
// Throws Error(invalid_argument) otherwise.
bool int8_amx_prefill_applies(const at::Tensor& x, const Int8Weight& w);
at::Tensor linear_int8_amx_prefill(const at::Tensor& x, const Int8Weight& w);

}  // namespace m4cxr
