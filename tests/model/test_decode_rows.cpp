// RMSNorm and RoPE for a few bf16 rows (model/decode_rows.h) against the libtorch expressions
// they replace in decoding: RoPE bit for bit, RMSNorm to one bf16 step where the fp32 mean's
// last bit differs; and what they refuse.
#include <doctest/doctest.h>

#include "model_test_support.h"

#include "model/decode_rows.h"
#include "model/linear_few_rows.h"

using namespace m4cxr;

namespace {

// The libtorch expressions of language_model.cpp's general path (HF's).
at::Tensor rms_norm_libtorch(const at::Tensor& x, const at::Tensor& w, double eps) {
  at::Tensor h = x.to(at::kFloat);
  const at::Tensor var = h.pow(2).mean(-1, true);
  h = h * at::rsqrt(var + eps);
  return w * h.to(x.scalar_type());
}

at::Tensor rope_libtorch(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, int64_t d) {
  const int64_t T = x.size(0), n = x.size(1) / d;
  const at::Tensor q = x.view({T, n, d}).transpose(0, 1);  // [n, T, d]
  const at::Tensor rotated = at::cat({-q.slice(-1, d / 2), q.slice(-1, 0, d / 2)}, -1);
  return (q * cos + rotated * sin).transpose(0, 1).reshape({T, n * d});
}

// HF's tables for positions start.. start+T-1: fp32 angles, then bf16.
std::pair<at::Tensor, at::Tensor> rope_tables(int64_t start, int64_t T, int64_t d, double theta) {
  const at::Tensor inv = 1.0 / at::pow(theta, at::arange(0, d, 2).to(at::kFloat) / double(d));
  const at::Tensor freqs = at::outer(at::arange(start, start + T).to(at::kFloat), inv.to(at::kFloat));
  const at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos().to(at::kBFloat16).unsqueeze(0), emb.sin().to(at::kBFloat16).unsqueeze(0)};
}

}  // namespace

TEST_CASE("rope_rows: bit for bit the libtorch expression, at any position and head width") {
  c10::InferenceMode g;
  at::manual_seed(23);
  for (int64_t d : {int64_t(128), int64_t(16), int64_t(2)})
    for (int64_t T : {int64_t(1), int64_t(3), int64_t(kMaxFewRows)})
      for (int64_t start : {int64_t(0), int64_t(517), int64_t(31000)}) {
        CAPTURE(d);
        CAPTURE(T);
        CAPTURE(start);
        const at::Tensor x = (at::randn({T, 4 * d}) * 3).to(at::kBFloat16);
        const auto [cos, sin] = rope_tables(start, T, d, 1e6);
        CHECK(at::equal(rope_rows(x, cos, sin, d), rope_libtorch(x, cos, sin, d)));
      }
}

TEST_CASE("rms_norm_rows: the libtorch expression to one bf16 step, nearly always exactly") {
  c10::InferenceMode g;
  at::manual_seed(29);
  int64_t total = 0, differing = 0;
  for (int64_t H : {int64_t(4096), int64_t(64), int64_t(5)})
    for (int64_t T : {int64_t(1), int64_t(2), int64_t(kMaxFewRows)}) {
      CAPTURE(H);
      CAPTURE(T);
      at::Tensor xf = at::randn({T, H}) * 4;
      xf.select(1, 0).mul_(100);  // an outlier channel, as the residual stream has
      const at::Tensor x = xf.to(at::kBFloat16), w = (at::rand({H}) + 0.5).to(at::kBFloat16);
      const at::Tensor got = rms_norm_rows(x, w, 1e-5).to(at::kFloat), want = rms_norm_libtorch(x, w, 1e-5).to(at::kFloat);
      // One bf16 step of the value: 2^-7 relative at most.
      CHECK(at::le((got - want).abs(), want.abs() * (1.0 / 128)).all().item<bool>());
      total += got.numel();
      differing += at::ne(got, want).sum().item<int64_t>();
    }
  CHECK(differing * 100 < total);  // off by a step only where the mean's last bit differs
  // Zero rows stay zero (rsqrt(eps) is finite), leading shapes are kept.
  const at::Tensor z = at::zeros({1, 2, 8}, at::kBFloat16);
  const at::Tensor zn = rms_norm_rows(z, at::ones({8}, at::kBFloat16), 1e-5);
  CHECK((zn.sizes().vec() == std::vector<int64_t>{1, 2, 8}));
  CHECK(zn.abs().sum().item<float>() == 0);
}

TEST_CASE("decode rows: what they do not take is refused") {
  c10::InferenceMode g;
  const at::Tensor x = at::randn({2, 8}).to(at::kBFloat16), w = at::ones({8}, at::kBFloat16);
  CHECK(decode_rows_apply(x));
  CHECK_FALSE(decode_rows_apply(at::randn({2, 8})));                                    // fp32
  CHECK_FALSE(decode_rows_apply(at::randn({kMaxFewRows + 1, 8}).to(at::kBFloat16)));   // a prefill
  CHECK_FALSE(decode_rows_apply(at::randn({8, 2}).to(at::kBFloat16).t()));             // not contiguous
  CHECK(mt::status_of([&] { rms_norm_rows(at::randn({2, 8}), w, 1e-5); }) == Status::invalid_argument);
  CHECK(mt::status_of([&] { rms_norm_rows(x, at::ones({7}, at::kBFloat16), 1e-5); }) == Status::invalid_argument);
  const auto [cos, sin] = rope_tables(0, 2, 4, 1e4);
  CHECK(mt::status_of([&] { rope_rows(x, cos, sin, 3); }) == Status::invalid_argument);     // odd d
  CHECK(mt::status_of([&] { rope_rows(x, cos, sin, 8); }) == Status::invalid_argument);     // tables of d = 4
  CHECK(mt::status_of([&] { rope_rows(x, cos.to(at::kFloat), sin, 4); }) == Status::invalid_argument);
  CHECK(at::equal(rope_rows(x, cos, sin, 4), rope_libtorch(x, cos, sin, 4)));
}
