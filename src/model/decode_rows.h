// RMSNorm and the rotary position embedding of the decoder for a few bf16 rows on the CPU (a
// decode step): one loop each instead of a chain of libtorch ops, whose dispatch cost more
// than the arithmetic on one 4096-wide row (about 2 ms of a 35 ms int8 pass at 4 layers went
// to libtorch's per-op overhead). Each keeps the roundings of HF's bf16 expression:
//  - rms_norm_rows: w * bf16(x * rsqrt(mean(x²) + eps)), with x, the mean and the scaling in
//    fp32 and the product rounded to bf16 (MistralRMSNorm). The mean's sum is taken in fp64,
//    so it may differ from libtorch's fp32 sum in its last bit, and an output then by one
//    bf16 step;
//  - rope_rows: x * cos + rotate_half(x) * sin per head, each product and the sum rounded to
//    bf16 as libtorch's bf16 ops do: bit for bit the libtorch expression.
// Thread-safety: pure functions; any number of threads.
#pragma once

#include <ATen/core/Tensor.h>

namespace m4cxr {

// Whether these take x: a contiguous CPU bf16 tensor of at most kMaxFewRows rows
// (linear_few_rows.h) of its last dimension.
bool decode_rows_apply(const at::Tensor& x);

// x [..., H], w [H] bf16 -> [..., H] bf16 (a new tensor). Throws Error(invalid_argument) when
// decode_rows_apply(x) is false or w is not a CPU bf16 [H].
at::Tensor rms_norm_rows(const at::Tensor& x, const at::Tensor& w, double eps);

// x [T, n * d] (n heads of d values per row), cos and sin [1, T, d] or [T, d] bf16 (the
// tables of the rows' positions, as HF builds them) -> [T, n * d] bf16 (a new tensor).
// Throws Error(invalid_argument) when decode_rows_apply(x) is false, d is odd or does not
// divide the row, or the tables are not CPU bf16 of T x d values.
at::Tensor rope_rows(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, int64_t d);

}  // namespace m4cxr
