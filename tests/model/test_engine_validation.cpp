// Engine-level input validation: placeholder runs must be whole images, pixel_values
// must be 4-D, and a checkpoint without preprocessor_config.json is sized from config.json.
#include <doctest/doctest.h>

#include "model_test_support.h"

#include <filesystem>

#include "engine/conversation.h"

using namespace m4cxr;
using namespace mt;

TEST_CASE("prefill rejects placeholder runs that are not exactly one image") {
  auto m = model("models/merged_fp32");
  const int Q = m->num_visual_tokens();
  Conversation conv(m);
  conv.set_images(m->encode_images(at::zeros({2, 3, int64_t(m->config().vision.image_size), int64_t(m->config().vision.image_size)})));
  std::vector<int32_t> short_run{1};
  for (int i = 0; i < Q - 1; ++i) short_run.push_back(-1);
  short_run.push_back(7);
  CHECK(status_of([&] { conv.prefill(short_run); }) == Status::invalid_argument);
  std::vector<int32_t> merged_runs{1};
  for (int i = 0; i < 2 * Q; ++i) merged_runs.push_back(-1);  // two images with no text between
  merged_runs.push_back(7);
  CHECK(status_of([&] { conv.prefill(merged_runs); }) == Status::invalid_argument);
  std::vector<int32_t> ok{1};
  for (int i = 0; i < Q; ++i) ok.push_back(-1);
  ok.push_back(7);
  CHECK(status_of([&] { conv.prefill(ok); }) == Status::ok);
  CHECK(conv.cached_ids() == ok);
}

TEST_CASE("encode_images rejects tensors that are not [N,3,H,W]") {
  auto m = model("models/merged_fp32");
  CHECK(status_of([&] { m->encode_images(at::zeros({})); }) == Status::invalid_argument);
  CHECK(status_of([&] { m->encode_images(at::Tensor()); }) == Status::invalid_argument);
  CHECK(status_of([&] { m->encode_images(at::zeros({3, 70, 70})); }) == Status::invalid_argument);
}

TEST_CASE("a checkpoint without preprocessor_config.json crops to the encoder's image size") {
  TempDir d;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model"})
    std::filesystem::copy_file(gpath(std::string("models/merged_fp32/") + f), d.sub(f));
  ModelOptions o;
  o.runtime.dtype = at::kFloat;
  auto m = Model::load(d.path, o);
  CHECK(m->preprocess_config().crop_height == m->config().vision.image_size);
  CHECK(m->preprocess_config().shortest_edge == m->config().vision.image_size);
  CHECK(m->preprocess_config().image_mean[0] == doctest::Approx(0.5307f));
}
