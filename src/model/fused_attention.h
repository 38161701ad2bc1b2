// The vision encoder's attention on the CPU in bf16, fused: softmax(q·kᵀ)·v per head without
// materialising the [T, T] scores (at 518 px, 12 heads of 1370 x 1370: libtorch writes and
// reads them three times, which took more time than the products themselves). Queries go
// 4 at a time: first their scores against every key (AVX512_BF16 dot products in fp32, two
// blocks of 16 keys at a time, kept in a per-thread buffer of 4 x T floats) and their
// maxima; then, block by block, the probabilities against the true maximum in fp32, rounded
// to bf16 for the product with v (as upstream's bf16 probabilities), fp32 accumulation, one
// rounding at the end. Two passes instead of an online softmax: no per-block horizontal
// maximum, no rescaling, and eight independent dot-product chains; one thread ran a 518 px
// layer's attention (12 heads of 1370) in 34 ms instead of 48 (73 % of its bf16 peak).
// Results differ from the unfused bf16 path by bf16 rounding (that path rounds the scores
// and probabilities to bf16; this keeps the scores in fp32).
// On CPUs with AMX (and d = 32 or 64) the same two passes run as tile products: 16 queries
// against 32 keys per step, the scores and the probabilities' sums still in fp32 and the
// probabilities rounded to bf16 as above; the softmax between them stays AVX-512.
// Thread-safety: pure functions; heads are split over libtorch's intra-op threads (each
// thread that runs the AMX kernel loads its tile configuration and releases it after).
#pragma once

#include <ATen/core/Tensor.h>

namespace m4cxr {

// Whether fused_attention takes these: CPU bf16 q, k, v [B, H, T, d] with the same shape
// (any strides), d in {16, 32, 48, 64}, and a CPU with AVX512_BF16.
bool fused_attention_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// The two ways of computing it: AMX tiles, or AVX512_BF16 dot products.
enum class AttentionKernel { amx, avx512_bf16 };
const char* attention_kernel_name(AttentionKernel kernel);
// amx: a CPU with AMX (cpu_features().amx) and d = 32 or 64; avx512_bf16: as applies above.
bool attention_kernel_supported(AttentionKernel kernel, int64_t d);
// amx where supported at this head width, else avx512_bf16.
AttentionKernel best_attention_kernel(int64_t d);

// Whether the vision encoder uses it where it applies: yes unless turned off
// (set_fused_attention(false), or M4CXR_FUSED_ATTENTION=0 at start). Process-wide, for
// benches and comparisons; thread-safe.
bool fused_attention_enabled();
void set_fused_attention(bool on);

// softmax(q·kᵀ, -1)·v, [B, H, T, d] bf16 (a view of [B, T, H, d] storage, the layout the
// encoder reshapes to next). q carries the 1/sqrt(d) scale.
// Throws Error(invalid_argument) when fused_attention_applies is false, or when the kernel
// asked for is not supported here at this d. Without a kernel: best_attention_kernel(d).
at::Tensor fused_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);
at::Tensor fused_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, AttentionKernel kernel);

}  // namespace m4cxr
