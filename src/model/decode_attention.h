// The decoder's attention for one new token of a sequence on the CPU in bf16 (a decode step):
// each query head against its kv head's cached keys and values, in one pass per kv head. For
// one row libtorch's batched products and the transpose copy of the keys cost more than the
// arithmetic (0.3 ms per layer at 300 cached tokens); here the scores, an fp32 softmax and the
// weighted sum of the values are computed directly from the cache, all in fp32, with one
// rounding to bf16 at the end. Results differ from the unfused bf16 path by bf16 rounding
// (that path rounds the scores and probabilities to bf16).
// Thread-safety: pure functions; kv heads are split over libtorch's intra-op threads.
#pragma once

#include <ATen/core/Tensor.h>

namespace m4cxr {

// Whether decode_attention takes these: CPU bf16 q [nh, 1, d], k and v [nkv, n, d] with
// d-contiguous rows (the cache's views), nh a multiple of nkv, d a multiple of 16 up to 128, n >= 1,
// on a CPU with AVX512_BF16; and fused attention not turned off (fused_attention.h).
bool decode_attention_applies(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// softmax(q·kᵀ)·v per query head (head h uses kv head h / (nh / nkv)), [nh, 1, d] bf16.
// q carries the 1/sqrt(d) scale. Throws Error(invalid_argument) when
// decode_attention_applies is false.
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

}  // namespace m4cxr
