// Honeybee C-Abstractor as M4CXR builds it from timm's RegStage: positional embedding,
// RegStage s1 (Bottlenecks with depthwise 3x3 conv, SE, LayerNorm-over-channels eps 1e-5),
// AdaptiveAvgPool2d to sqrt(Q) x sqrt(Q) (overlapping floor/ceil bins), RegStage s2,
// readout MLP (Linear, SiLU, Linear, ...).
// Thread-safety: forward() is const and may run concurrently.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "io/model_config.h"
#include "model/tensor_decl.h"
#include "model/trace.h"
#include "model/vision_encoder.h"
#include "model/weights.h"

namespace m4cxr {

class Abstractor {
 public:
  Abstractor(const ProjectorConfig& config, int vision_patches, const WeightMap& weights);

  // The checkpoint tensors this network reads (features of encoder_hidden_size channels
  // over `vision_patches` positions).
  static std::vector<TensorSpec> tensors(const ProjectorConfig& config, int vision_patches);

  // features [N, patches, D] (CLS already removed) -> visual tokens [N, Q, output_hidden].
  // `trace` receives every stage ("abstractor_s1.b1", ..., "abstractor_output"; model/trace.h).
  at::Tensor forward(const at::Tensor& features, const TraceCallback& trace = {}, const CancelCheck& cancel = {}) const;

 private:
  struct Norm {
    at::Tensor w, b;
  };
  struct Block {
    at::Tensor conv1, conv2, conv3, se1w, se1b, se2w, se2b, down;
    Norm bn1, bn2, bn3, down_bn;
  };
  at::Tensor block_forward(const Block& b, const at::Tensor& x) const;
  Abstractor() = default;
  // Declares every tensor (the single list of names and shapes) and keeps the bound ones.
  void declare_tensors(int vision_patches, TensorDecls& d);

  ProjectorConfig cfg_;
  int grid_ = 0;   // sqrt(vision patches)
  int qside_ = 0;  // sqrt(num_query_tokens)
  at::Tensor pos_emb_;
  std::vector<Block> s1_, s2_;
  std::vector<std::pair<at::Tensor, at::Tensor>> readout_;
};

}  // namespace m4cxr
