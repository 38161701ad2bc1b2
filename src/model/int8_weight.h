// Weight-only int8 (issue 11): a linear layer's weight W [N, K] kept as Q int8 [N, K] and one
// fp32 scale per output row, W ≈ scale ⊙ Q with scale = max|W_row| / 127 and Q = round(W /
// scale) (symmetric, per output channel: the layout the decode kernels stream fastest, half
// the bytes of bf16). Quantized at load from the checkpoint's bf16 or fp32 weights.
// Plain values; immutable after quantize_int8 and shareable between threads.
#pragma once

#include <ATen/core/Tensor.h>

namespace m4cxr {

struct Int8Weight {
  at::Tensor q;      // int8 [N, K], contiguous
  at::Tensor scale;  // fp32 [N]
};

// Throws Error(invalid_argument) for a weight that is not a 2-D floating tensor.
Int8Weight quantize_int8(const at::Tensor& w);
// scale ⊙ Q in `dtype`.
at::Tensor dequantize(const Int8Weight& w, c10::ScalarType dtype);
// x · (scale ⊙ Q)ᵀ for many rows of x (a prefill) through libtorch's GEMM in x's dtype, the
// weight dequantized 256 rows at a time into a small buffer: equal to at::linear(x,
// dequantize(w)) (each output's sum is the GEMM's either way) without writing and reading a
// full-size weight, or faulting in fresh pages for it, in every layer. x [..., K], out [..., N]
// (a new tensor). Throws Error(invalid_argument) when x does not end in K.
at::Tensor linear_dequantized(const at::Tensor& x, const Int8Weight& w);

}  // namespace m4cxr
