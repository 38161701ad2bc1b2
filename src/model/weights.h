// Loading an M4CXR checkpoint's tensors into named at::Tensors of the runtime dtype.
//
// Accepts every layout of docs/upstream-model.md §4.4: a plain/merged model, a PEFT state dict saved
// in the model folder (base_layer / lora_A.default / modules_to_save.default), unknown
// wrapper prefixes, and a separate PEFT adapter folder (adapter_config.json +
// adapter_model.safetensors) whose vision_model / abstractor copies replace the base
// ones and whose LoRA pairs are merged as W + scaling * B @ A in fp32.
// The result is checked against the tensors the three networks declare for the config
// (model/tensor_decl.h): missing and mis-shaped tensors are Error(model_error) naming
// them; unexpected ones are listed in LoadReport::unexpected.
//
// On the CPU, tensors that need no conversion are views of the memory-mapped file (kept alive
// by the tensor's deleter), so loading a bf16 checkpoint in bf16 copies nothing. On a CUDA
// device each tensor is copied from the mapping to the GPU one at a time (WeightTransfer).
// Thread-safety: load_weights is reentrant; the returned map is read-only afterwards.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "io/model_config.h"
#include "model/runtime.h"
#include "model/tensor_decl.h"

namespace m4cxr {

// Every tensor the architecture described by `config` reads, with its shape: the
// declarations of VisionEncoder, Abstractor and LanguageModel, in that order.
std::vector<TensorSpec> expected_tensors(const ModelConfig& config);

struct LoadReport {
  std::vector<std::string> unexpected;  // tensors in the checkpoint that nothing reads
  int lora_pairs_merged = 0;
  double lora_scaling = 0;
  uint64_t bytes_read = 0;
};

// Progress: fraction in [0,1]; return false to abort (Error cancelled).
using LoadProgress = std::function<bool(double)>;

// How each checkpoint tensor reaches runtime.device.
//  automatic  on the CPU: views of the mapped file where the dtype matches (zero copy), else a
//             converted copy on large pages; with M4CXR_LARGE_PAGES=all (model/large_pages.h)
//             and no int8, as copy_each; on any other device (CUDA): as copy_each.
//  copy_each  tensor by tensor, a copy on the device made straight from the mapped pages in the
//             file's dtype (converted there, LoRA merged there), after which the view is dropped
//             and its pages released: no full host copy, host memory holds at most one tensor of
//             the file at a time, nothing of the file stays mapped. Tests force it on the CPU to
//             run the path a CUDA load takes.
enum class WeightTransfer { automatic, copy_each };

// `adapter_dir` may be empty. Throws Error(io_error | format_error | model_error | unsupported | cancelled).
WeightMap load_weights(const std::string& model_dir, const std::string& adapter_dir, const ModelConfig& config,
                       const Runtime& runtime, LoadReport* report = nullptr, const LoadProgress& progress = {},
                       WeightTransfer transfer = WeightTransfer::automatic);

// Looks up a tensor that load_weights validated; throws Error(internal) if absent.
const at::Tensor& weight(const WeightMap& w, const std::string& name);

}  // namespace m4cxr
