#include "engine/warm_up.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>

#include <chrono>
#include <vector>

#include "engine/conversation.h"
#include "engine/model.h"

namespace m4cxr {

namespace {
constexpr int kTextTokens = 8;  // after the image, as a task's question would be
constexpr int kDecodeSteps = 2;  // the first step and one steady-state step
}  // namespace

bool warm_up_needed(const Runtime& runtime) noexcept { return !runtime.device.is_cpu(); }

WarmUpReport warm_up(const std::shared_ptr<const Model>& model) {
  c10::InferenceMode guard;
  const auto t0 = std::chrono::steady_clock::now();
  WarmUpReport r;
  const int side = model->config().vision.image_size;
  const at::Tensor pixels = at::zeros({1, 3, side, side}, at::kFloat);  // on the host, as preprocessing leaves them
  const at::Tensor visual = model->encode_images(pixels);
  r.images_encoded = visual.size(0);

  const int32_t bos = model->tokenizer().bos_id();
  std::vector<int32_t> ids{bos};
  ids.insert(ids.end(), static_cast<size_t>(model->num_visual_tokens()), -1);  // the image's placeholders
  for (int i = 0; i < kTextTokens; ++i) ids.push_back(bos);
  Conversation conv(model);
  conv.set_images(visual);
  GenerationOptions go;
  go.max_new_tokens = kDecodeSteps;
  go.stop_on_eos = false;
  GenerationStats stats;
  (void)conv.generate(ids, go, {}, &stats);
  r.prefilled_tokens = stats.prefilled_tokens;
  r.generated_tokens = stats.generated_tokens;
  if (model->runtime().device.is_cuda()) torch::cuda::synchronize(model->runtime().device.index());
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace m4cxr
