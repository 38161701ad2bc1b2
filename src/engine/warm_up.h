// Warm-up at load (issue 15, part 1): on a CUDA device the first forward pass pays for
// everything CUDA does lazily (the context, cuBLAS/cuDNN handles, loading each kernel's
// module, the caching allocator's first blocks): 0.7-1.2 s measured inside the first task.
// Model::load runs warm_up() on CUDA so that this happens before m4cxr_model_load returns;
// on the CPU there is nothing lazy worth paying for and Model::load skips it.
#pragma once

#include <cstdint>
#include <memory>

#include "model/runtime.h"

namespace m4cxr {

class Model;

// What the warm-up ran (tests check that it went through the real paths).
struct WarmUpReport {
  int64_t images_encoded = 0;    // stand-in images through the vision encoder and C-Abstractor
  int64_t prefilled_tokens = 0;  // prompt positions through the decoder (one image's placeholders + text)
  int64_t generated_tokens = 0;  // decode steps (greedy)
  double ms = 0;                 // wall time, including the final device synchronisation
};

// Whether Model::load warms up on this runtime: on every device but the CPU.
bool warm_up_needed(const Runtime& runtime) noexcept;

// Encodes one blank image at the encoder's input size, prefills a prompt holding its
// visual tokens and a few text tokens, decodes two tokens greedily (the shapes of a real
// task), then waits for the device. Leaves no state behind: its Conversation, KV cache and
// tensors are freed on return and no model-level cache is filled, so later tasks give the
// same results as without it. Runs on any device (the tests run it on the CPU). Throws Error.
WarmUpReport warm_up(const std::shared_ptr<const Model>& model);

}  // namespace m4cxr
