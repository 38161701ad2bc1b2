// The vision encoder's bf16 LayerNorm in one pass per row (model/layer_norm_rows.h) against
// the libtorch expression it replaces: within one bf16 step, nearly always exact, closer to
// fp64 math than bf16 rounding allows; row splits over threads; what it refuses.
#include <doctest/doctest.h>

#include <ATen/Parallel.h>

#include "model_test_support.h"

#include "model/layer_norm_rows.h"

using namespace m4cxr;

namespace {

// vision_encoder.cpp's general path (upstream's fp32 LayerNorm of the bf16 input).
at::Tensor layer_norm_libtorch(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, double eps) {
  return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, w.to(at::kFloat), b.to(at::kFloat), eps).to(at::kBFloat16);
}

// One bf16 step at v: 2^(exponent - 7).
at::Tensor bf16_step(const at::Tensor& v) {
  return at::pow(2.0, at::floor(at::log2(v.to(at::kDouble).abs().clamp_min(1e-30))) - 7);
}

}  // namespace

TEST_CASE("layer_norm_rows: libtorch's fp32 LayerNorm to one bf16 step, nearly always exactly") {
  c10::InferenceMode g;
  at::manual_seed(31);
  int64_t total = 0, differing = 0;
  for (int64_t D : {int64_t(768), int64_t(64), int64_t(5), int64_t(1)})
    for (int64_t rows : {int64_t(1), int64_t(3), int64_t(1370)}) {
      CAPTURE(D);
      CAPTURE(rows);
      // An offset and a spread like the residual stream's, so the mean matters.
      const at::Tensor x = (at::randn({1, rows, D}) * 4 + 2).to(at::kBFloat16);
      const at::Tensor w = (at::randn({D}) * 0.5 + 1).to(at::kBFloat16), b = (at::randn({D}) * 0.1).to(at::kBFloat16);
      REQUIRE(layer_norm_rows_apply(x, w, b));
      const at::Tensor y = layer_norm_rows(x, w, b, 1e-6);
      REQUIRE((y.sizes() == x.sizes()));
      REQUIRE((y.scalar_type() == at::kBFloat16));
      const at::Tensor want = layer_norm_libtorch(x, w, b, 1e-6);
      const at::Tensor diff = (y.to(at::kDouble) - want.to(at::kDouble)).abs();
      // (plus 1e-6 absolute: where w * x_hat + b cancels to near 0, fp32's rounding of the
      // terms is many bf16 steps of the result, in either implementation)
      CHECK((diff <= bf16_step(want) + 1e-6).all().item<bool>());
      total += want.numel();
      differing += (diff > 0).sum().item<int64_t>();
      // fp64 math rounded once: every output within one bf16 step of it.
      const at::Tensor xd = x.to(at::kDouble);
      const at::Tensor mean = xd.mean(-1, true), var = (xd - mean).pow(2).mean(-1, true);
      const at::Tensor exact = (xd - mean) / at::sqrt(var + 1e-6) * w.to(at::kDouble) + b.to(at::kDouble);
      CHECK(((y.to(at::kDouble) - exact).abs() <= bf16_step(exact) + 1e-6).all().item<bool>());
    }
  INFO(differing << " of " << total << " outputs differ from libtorch's");
  CHECK(differing * 100 < total);
}

TEST_CASE("layer_norm_rows: the same whatever the thread count; fp32 weights; what it refuses") {
  c10::InferenceMode g;
  at::manual_seed(37);
  const at::Tensor x = at::randn({2, 301, 768}).to(at::kBFloat16);
  const at::Tensor w = at::randn({768}), b = at::randn({768});
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const at::Tensor one = layer_norm_rows(x, w, b, 1e-5);
  at::set_num_threads(3);
  const at::Tensor three = layer_norm_rows(x, w, b, 1e-5);
  at::set_num_threads(threads);
  CHECK(at::equal(one, three));
  CHECK((one - layer_norm_libtorch(x, w, b, 1e-5)).abs().max().item<float>() <= 0.0625f);
  // A constant row: variance 0, output b.
  const at::Tensor flat = at::full({1, 768}, 3.0).to(at::kBFloat16);
  CHECK(at::equal(layer_norm_rows(flat, w, b, 1e-6), b.to(at::kBFloat16).unsqueeze(0)));

  CHECK_FALSE(layer_norm_rows_apply(x.to(at::kFloat), w, b));                   // fp32 x: libtorch's
  CHECK_FALSE(layer_norm_rows_apply(x.transpose(1, 2), w, b));                  // not contiguous
  CHECK_FALSE(layer_norm_rows_apply(x, w.slice(0, 1), b));                      // wrong width
  CHECK_FALSE(layer_norm_rows_apply(x, w, at::Tensor()));                       // no bias
  CHECK_FALSE(layer_norm_rows_apply(x, w, at::zeros({768}, at::kInt)));         // not floating
  CHECK(mt::status_of([&] { layer_norm_rows(x.transpose(1, 2), w, b, 1e-6); }) == Status::invalid_argument);
  CHECK(mt::status_of([&] { layer_norm_rows(x, w, b, -1.0); }) == Status::invalid_argument);
}
