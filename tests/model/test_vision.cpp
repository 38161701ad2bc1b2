// Vision encoder / image encoding input validation, and the shapes it returns.
#include <doctest/doctest.h>

#include "model_test_support.h"


using m4cxr::Status;

TEST_CASE("vision encoder: input validation") {
  c10::InferenceMode g;
  auto m = mt::model("models/merged_fp32");
  const auto& v = m->vision();
  const int S = m->config().vision.image_size, P = m->config().vision.patch_size;
  auto st = [&](const at::Tensor& px, int layer = -1) { return mt::status_of([&] { v.forward(px, layer); }); };

  CHECK(st(at::zeros({1, 3, S, S})) == Status::ok);
  CHECK(st(at::zeros({1, 1, S, S})) == Status::invalid_argument);  // wrong channel count
  CHECK(st(at::zeros({1, 4, S, S})) == Status::invalid_argument);
  CHECK(st(at::zeros({3, S, S})) == Status::invalid_argument);     // not [N,3,H,W]
  CHECK(st(at::zeros({1, 1, 3, S, S})) == Status::invalid_argument);
  CHECK(st(at::zeros({1, 3, P - 1, S})) == Status::invalid_argument);  // too small
  CHECK(st(at::zeros({1, 3, S, P - 1})) == Status::invalid_argument);
  CHECK(st(at::zeros({1, 3, 1, 1})) == Status::invalid_argument);
  CHECK(st(at::zeros({1, 3, S, S}), 3) == Status::invalid_argument);   // only L+1 hidden states
  CHECK(st(at::zeros({1, 3, S, S}), -4) == Status::invalid_argument);
  CHECK(st(at::zeros({1, 3, S, S}), 0) == Status::ok);

  // Model::encode_images forwards the same errors.
  CHECK(mt::status_of([&] { m->encode_images(at::zeros({1, 1, S, S})); }) == Status::invalid_argument);
  CHECK(mt::status_of([&] { m->encode_images(at::zeros({2, 3, 8, 8})); }) == Status::invalid_argument);
}

TEST_CASE("vision encoder: shapes of the outputs; a batch equals its images one by one") {
  c10::InferenceMode g;
  auto m = mt::model("models/merged_fp32");
  const auto& c = m->config();
  const int S = c.vision.image_size, P = c.vision.patch_size;
  const int64_t patches = (S / P) * (S / P);
  at::Tensor pv = mt::pixel_values_of(nlohmann::json::array({"rgb_150x200.jpg", "gray8_70x70.png"}));
  std::vector<at::Tensor> hidden;
  at::Tensor h = m->vision().forward(pv, -1, m4cxr::collect_series(m4cxr::kVisionHiddenStates, &hidden));
  CHECK(h.sizes() == at::IntArrayRef({2, 1 + patches, c.vision.hidden_size}));
  CHECK(hidden.size() == size_t(c.vision.num_hidden_layers + 1));
  CHECK(at::equal(hidden.back(), h));
  at::Tensor tok = m->encode_images(pv);
  CHECK(tok.sizes() == at::IntArrayRef({2, m->num_visual_tokens(), c.text.hidden_size}));
  CHECK(mt::max_abs_diff(tok[1], m->encode_images(pv.slice(0, 1, 2))[0]) <= 1e-5);
  // Golden projector output of the single image.
  CHECK(mt::max_abs_diff(tok[0], mt::npy(mt::manifest()["stages_merged_fp32"]["rgb_150x200.jpg"]["abstractor_output"])) <= 1e-4);
  // No images: an empty [0, Q, H] batch.
  at::Tensor none = m->encode_images(at::empty({0, 3, S, S}));
  CHECK(none.sizes() == at::IntArrayRef({0, m->num_visual_tokens(), c.text.hidden_size}));
}
