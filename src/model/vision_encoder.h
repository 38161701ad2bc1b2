// DINOv2 ViT encoder (HF Dinov2Model semantics, transformers 4.39.3): patch conv, CLS,
// learned position embeddings (bicubically resampled for other input sizes exactly as
// upstream), pre-LN blocks with LayerScale. Returns hidden states without the final
// LayerNorm, which M4CXR does not use.
// Thread-safety: forward() is const and may run concurrently on several threads.
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <functional>
#include <vector>

#include "io/model_config.h"
#include "model/tensor_decl.h"
#include "model/trace.h"
#include "model/weights.h"

namespace m4cxr {

// Called between layers; return true to stop (the caller then sees Error cancelled).
using CancelCheck = std::function<bool()>;

class VisionEncoder {
 public:
  VisionEncoder(const VisionConfig& config, const WeightMap& weights);

  // The checkpoint tensors this network reads (and the optional ones it ignores).
  static std::vector<TensorSpec> tensors(const VisionConfig& config);

  // pixels [N,3,H,W] (any float dtype; cast to the weights' dtype). H, W multiples of
  // the patch size are expected; extra pixels are dropped by the strided conv.
  // Returns hidden_states[layer_index] (Python indexing over embeddings + each block),
  // [N, 1+patches, D]. `trace` receives every hidden state computed on the way,
  // "vision_hidden_states.<i>" (model/trace.h).
  at::Tensor forward(const at::Tensor& pixels, int layer_index, const TraceCallback& trace = {},
                     const CancelCheck& cancel = {}) const;

  // Position embeddings for an h x w patch grid (interpolated when needed).
  at::Tensor position_embeddings(int64_t height, int64_t width) const;

 private:
  struct Layer {
    at::Tensor n1w, n1b, qw, qb, kw, kb, vw, vb, ow, ob, ls1, n2w, n2b, f1w, f1b, f2w, f2b, ls2;
  };
  VisionEncoder() = default;
  // Declares every tensor (the single list of names and shapes) and keeps the bound ones.
  void declare_tensors(TensorDecls& d);
  VisionConfig cfg_;
  at::Tensor cls_, pos_, patch_w_, patch_b_;
  std::vector<Layer> layers_;
};

}  // namespace m4cxr
