// Tracing intermediate stages of the three networks (parity checks against upstream,
// `m4cxr trace`, debugging). VisionEncoder, Abstractor, LanguageModel and
// Model::encode_images all take the same optional callback, called with each stage's
// name and value as soon as it is computed; an empty callback costs nothing.
//
// Stage names (they match the golden files):
//   VisionEncoder::forward   "vision_hidden_states.<i>"  i = 0 (embeddings) .. the layer asked for
//   Abstractor::forward      "abstractor_s1_input", "abstractor_s1.b<k>", "abstractor_s1",
//                            "abstractor_sampler", "abstractor_s2.b<k>", "abstractor_s2",
//                            "abstractor_output"
//   LanguageModel::forward   "llm_hidden_states.<i>"     i = 0 (embeddings) .. num_hidden_layers
//   Model::encode_images     "vision_hidden_states" (the series stacked on dim 1),
//                            "projector_input", then the abstractor's stages
// The callback runs on the calling thread; the tensors are the live activations (do not
// modify them in place).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace m4cxr {

using TraceCallback = std::function<void(std::string_view stage, const at::Tensor& value)>;

inline constexpr std::string_view kVisionHiddenStates = "vision_hidden_states";
inline constexpr std::string_view kLlmHiddenStates = "llm_hidden_states";

// "<series>.<index>": the index-th stage of a series (hidden states).
std::string series_stage(std::string_view series, size_t index);

// A callback appending the stages "<series>.<i>" to *out in the order they are traced
// and passing every other stage on to `others` (if set).
TraceCallback collect_series(std::string_view series, std::vector<at::Tensor>* out, TraceCallback others = {});

// A callback storing every stage in *out by name.
TraceCallback collect_stages(std::map<std::string, at::Tensor>* out);

}  // namespace m4cxr
