// warm_up (issue 15, part 1): Model::load runs it on CUDA only; here, on the CPU, the test
// calls it directly to show that it goes through the real paths (an image through both
// vision networks, a prefill holding its visual tokens, decode steps) and leaves nothing
// behind: a task after it gives bit-identical logits and ids.
#include <doctest/doctest.h>

#include "model_test_support.h"

#include <mutex>
#include <string>
#include <vector>

#include "common/log.h"
#include "engine/conversation.h"
#include "engine/warm_up.h"

using m4cxr::Conversation;

namespace {

const nlohmann::json& single_case() { return mt::manifest()["prompts_merged_fp32"]["single"]; }

struct TaskOutput {
  at::Tensor prompt_logits;
  std::vector<int32_t> ids;
};

// The golden single-image prompt: logits of every prompt position, then a greedy generation.
TaskOutput run_task(const std::shared_ptr<const m4cxr::Model>& m) {
  const at::Tensor visual = m->encode_images(mt::pixel_values_of(single_case()["images"]));
  const std::vector<int32_t> ids = mt::npy_ids(single_case()["input_ids"]);
  TaskOutput out;
  {
    Conversation c(m);
    c.set_images(visual);
    out.prompt_logits = c.prefill(ids, nullptr, /*all_logits=*/true);
  }
  Conversation c(m);
  c.set_images(visual);
  m4cxr::GenerationOptions go;
  go.max_new_tokens = 12;
  out.ids = c.generate(ids, go);
  return out;
}

std::shared_ptr<const m4cxr::Model> fresh_model(c10::ScalarType dtype) {
  m4cxr::ModelOptions o;
  o.runtime.dtype = dtype;
  o.threads = 2;
  return m4cxr::Model::load(mt::gpath("models/merged_fp32"), o);
}

}  // namespace

TEST_CASE("warm-up: Model::load warms up on CUDA devices only; the CPU load skips it and logs no warm-up") {
  m4cxr::Runtime rt;
  CHECK_FALSE(m4cxr::warm_up_needed(rt));
  rt.device = c10::Device(c10::kCUDA, 0);
  CHECK(m4cxr::warm_up_needed(rt));
  rt.device = c10::Device(c10::kCUDA, 1);
  CHECK(m4cxr::warm_up_needed(rt));

  std::mutex mu;
  std::vector<std::string> lines;
  m4cxr::set_log_sink(
      [&](m4cxr::LogLevel, const char* msg) {
        std::lock_guard<std::mutex> lock(mu);
        lines.emplace_back(msg);
      },
      m4cxr::LogLevel::debug);
  auto m = fresh_model(at::kFloat);
  m4cxr::set_log_sink({}, m4cxr::LogLevel::debug);
  bool loaded = false, warmed = false;
  for (const auto& l : lines) {
    loaded = loaded || l.find("model loaded in") != std::string::npos;
    warmed = warmed || l.find("warmed up") != std::string::npos;
  }
  CHECK(loaded);  // the sink saw the load
  CHECK_FALSE(warmed);
}

TEST_CASE("warm-up: runs an image, a prefill with its visual tokens and decode steps; later tasks are unchanged") {
  for (c10::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    INFO(c10::toString(dtype));
    auto m = fresh_model(dtype);
    const TaskOutput before = run_task(m);
    const m4cxr::WarmUpReport r = m4cxr::warm_up(m);
    CHECK(r.images_encoded == 1);
    CHECK(r.prefilled_tokens == 1 + m->num_visual_tokens() + 8);
    CHECK(r.generated_tokens == 2);
    CHECK(r.ms > 0);
    const TaskOutput after = run_task(m);
    CHECK(after.ids == before.ids);
    CHECK(at::equal(after.prompt_logits, before.prompt_logits));
  }
}
