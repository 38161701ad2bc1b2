// The vision encoder's LayerNorm on bf16 rows on the CPU, in one pass per row: fp32 values,
// the mean and variance summed in fp64, (x - mean) / sqrt(var + eps) * w + b in fp32, one
// rounding to bf16 -- the roundings of upstream's fp32 LayerNorm of a bf16 input cast back
// (its sums in fp32 may differ in their last bits, and an output then by one bf16 step).
// Replaces x.to(fp32) -> layer_norm -> .to(bf16), whose two fp32 temporaries of T x D (4.2 MB
// at 518 px) came back as fresh pages from the kernel on every call: measured on one thread
// 3.8 ms a call for 1370 x 768, where the arithmetic needs about 0.5 ms.
// Thread-safety: a pure function; rows are split over libtorch's intra-op threads.
#pragma once

#include <ATen/core/Tensor.h>

namespace m4cxr {

// Whether layer_norm_rows takes these: x a contiguous CPU bf16 tensor [..., D] with D > 0;
// w and b CPU floating tensors [D].
bool layer_norm_rows_apply(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b);

// LayerNorm over the last dimension -> a new bf16 tensor shaped as x.
// Throws Error(invalid_argument) when layer_norm_rows_apply is false or eps is not >= 0.
at::Tensor layer_norm_rows(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, double eps);

}  // namespace m4cxr
