// Mistral decoder (HF MistralForCausalLM, transformers 4.39.3 semantics): RMSNorm with
// fp32 variance, rotate-half RoPE with the config's theta, grouped-query attention with
// fp32 softmax, SiLU-gated MLP, untied lm_head. LoRA is merged into q/v at load.
// Thread-safety: forward() and forward_batch() are const; concurrent calls are safe with
// distinct caches.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "io/model_config.h"
#include "model/int8_weight.h"
#include "model/kv_cache.h"
#include "model/tensor_decl.h"
#include "model/trace.h"
#include "model/vision_encoder.h"
#include "model/weights.h"

namespace m4cxr {

class LanguageModel {
 public:
  LanguageModel(const TextConfig& config, const WeightMap& weights);

  // The checkpoint tensors this network reads.
  static std::vector<TensorSpec> tensors(const TextConfig& config);

  const TextConfig& config() const noexcept { return cfg_; }
  const at::Tensor& embedding_table() const noexcept { return embed_; }

  // Embeds ids [T] (ids must be in [0, vocab)); returns [T, H].
  at::Tensor embed(const at::Tensor& ids) const;

  // Runs T new positions (embeds [T, H]) after the cache's current content and appends
  // their keys/values. Returns fp32 logits: [T, V] if all_logits, else [1, V] of the last
  // position. `trace` receives "llm_hidden_states.<i>": embeds, then every layer output
  // (the last one after the final norm when all_logits), as HF's output_hidden_states.
  // Throws Error: invalid_argument (shape), limit_exceeded (max_position_embeddings),
  // cancelled (when `cancel` returns true before a layer; the cache is left as it was).
  at::Tensor forward(const at::Tensor& embeds, KvCache& cache, bool all_logits,
                     const TraceCallback& trace = {}, const CancelCheck& cancel = {}) const;

  // One sequence of a batched pass: its new positions and its own cache.
  struct Segment {
    at::Tensor embeds;  // [T, H]
    KvCache* cache = nullptr;
    bool all_logits = false;
    CancelCheck cancel;  // checked before every layer; a cancelled segment leaves the pass
  };
  // Throws what forward() throws for this segment's shape and length (nothing is run).
  void check_segment(const Segment& segment) const;
  // Several sequences in one pass: their rows go through every projection together (each
  // weight is read once for all of them), attention runs per sequence on its own cache
  // with its own positions. Each row's result does not depend on the other rows (the CPU
  // decode kernels compute rows independently; libtorch's GEMM may round differently by
  // batch size). Returns one logits tensor per segment as forward() would, or an
  // undefined tensor for a segment that was cancelled (its cache is left as it was).
  // Throws Error for a segment check_segment() refuses, before running anything.
  std::vector<at::Tensor> forward_batch(const std::vector<Segment>& segments) const;

  KvCache make_cache(const Runtime& rt, int64_t initial_capacity = 512) const;

  // Weight-only int8 (model/int8_weight.h) for every projection and the LM head: each
  // weight is quantized and its bf16/fp32 tensor released, one at a time. Returns how many
  // bytes the weights changed by (negative: saved). Not thread-safe (call at load).
  int64_t quantize_int8_weights();

  // A projection's weight: `w` as loaded, or its int8 form once quantized.
  struct Linear {
    at::Tensor w;
    Int8Weight i8;
  };

 private:
  struct Layer {
    at::Tensor in_norm, post_norm;
    Linear q, k, v, o, gate, up, down;
  };
  at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w) const;
  std::vector<at::Tensor> run(const std::vector<Segment>& segments, const TraceCallback& trace) const;
  LanguageModel() = default;
  // Declares every tensor (the single list of names and shapes) and keeps the bound ones.
  void declare_tensors(TensorDecls& d);

  TextConfig cfg_;
  at::Tensor embed_, norm_, inv_freq_;
  Linear lm_head_;
  std::vector<Layer> layers_;
};

}  // namespace m4cxr
