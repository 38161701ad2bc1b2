// The vision encoder's fused bf16 attention (model/fused_attention.h) against fp64 math and
// against libtorch's unfused bf16 path.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <doctest/doctest.h>

#include "model_test_support.h"

#include "model/cpu_features.h"
#include "model/decode_attention.h"
#include "model/fused_attention.h"

using namespace m4cxr;

namespace {
at::Tensor reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const at::Tensor s = at::matmul(q.to(at::kDouble), k.to(at::kDouble).transpose(-1, -2));
  return at::matmul(at::softmax(s, -1), v.to(at::kDouble));
}
}  // namespace

TEST_CASE("fused attention: as close to exact math as libtorch's bf16 path, every size and head width") {
  c10::InferenceMode g;
  at::manual_seed(23);
  if (!cpu_features().avx512_bf16) {
    const at::Tensor x = at::randn({1, 2, 5, 64}).to(at::kBFloat16);
    CHECK_FALSE(fused_attention_applies(x, x, x));
    CHECK(mt::status_of([&] { fused_attention(x, x, x); }) == Status::invalid_argument);
    return;
  }
  // T: fewer than a block of keys or queries, not a multiple of either, an odd number of
  // key blocks (the last one taken alone) whole or cut, several blocks of 16 queries, the
  // encoder's 1370.
  for (int64_t d : {int64_t(16), int64_t(32), int64_t(48), int64_t(64)})
    for (int64_t T : {int64_t(1), int64_t(3), int64_t(17), int64_t(26), int64_t(40), int64_t(48), int64_t(100), int64_t(1370)}) {
      if (T == 1370 && d != 64) continue;
      CAPTURE(d);
      CAPTURE(T);
      // The encoder's layout: [B, T, H, d] viewed as [B, H, T, d]; scores up to about ±12.
      const at::Tensor x = at::randn({2, T, 3, 3 * d});
      const at::Tensor q = (x.slice(3, 0, d) * (3.0 / std::sqrt(double(d)))).to(at::kBFloat16).permute({0, 2, 1, 3});
      const at::Tensor k = x.slice(3, d, 2 * d).to(at::kBFloat16).permute({0, 2, 1, 3});
      const at::Tensor v = x.slice(3, 2 * d, 3 * d).to(at::kBFloat16).permute({0, 2, 1, 3});
      REQUIRE(fused_attention_applies(q, k, v));
      const at::Tensor exact = reference(q, k, v);
      const at::Tensor unfused = at::matmul(at::softmax(at::matmul(q, k.transpose(-1, -2)), -1), v);
      const double err_unfused = (unfused.to(at::kDouble) - exact).abs().max().item<double>();
      CAPTURE(err_unfused);
      // Every kernel this CPU runs at this width; AMX where it does not is refused.
      for (AttentionKernel kernel : {AttentionKernel::avx512_bf16, AttentionKernel::amx}) {
        CAPTURE(attention_kernel_name(kernel));
        const bool amx_width = d == 32 || d == 64;
        CHECK(attention_kernel_supported(kernel, d) == (kernel == AttentionKernel::avx512_bf16 || (cpu_features().amx && amx_width)));
        if (!attention_kernel_supported(kernel, d)) {
          CHECK(mt::status_of([&] { fused_attention(q, k, v, kernel); }) == Status::invalid_argument);
          continue;
        }
        const at::Tensor y = fused_attention(q, k, v, kernel);
        REQUIRE((y.sizes() == q.sizes()));
        REQUIRE((y.scalar_type() == at::kBFloat16));
        const double err = (y.to(at::kDouble) - exact).abs().max().item<double>();
        CAPTURE(err);
        CHECK(err <= 0.03);                       // bf16 probabilities and output: a few 2^-8
        CHECK(err <= err_unfused * 1.25 + 1e-3);  // never worse than the path it replaces
      }
      // Without a kernel named: the best one here.
      CHECK(at::equal(fused_attention(q, k, v), fused_attention(q, k, v, best_attention_kernel(d))));
    }
  CHECK(best_attention_kernel(64) == (cpu_features().amx ? AttentionKernel::amx : AttentionKernel::avx512_bf16));
  CHECK(best_attention_kernel(48) == AttentionKernel::avx512_bf16);
  // A row whose scores are all far below zero, and one key far above the rest.
  at::Tensor q = at::zeros({1, 1, 5, 16});
  at::Tensor k = at::randn({1, 1, 5, 16});
  q[0][0][0].fill_(8.0);
  k[0][0][3].fill_(8.0);
  const at::Tensor v = at::randn({1, 1, 5, 16}).to(at::kBFloat16);
  const at::Tensor y = fused_attention(q.to(at::kBFloat16), k.to(at::kBFloat16), v);
  CHECK(at::allclose(y[0][0][0].to(at::kFloat), v[0][0][3].to(at::kFloat), 1e-2, 1e-2));
  CHECK(at::isfinite(y.to(at::kFloat)).all().item<bool>());
  // Refused: other widths, dtypes, shapes.
  const at::Tensor odd = at::randn({1, 1, 4, 24}).to(at::kBFloat16);
  CHECK_FALSE(fused_attention_applies(odd, odd, odd));
  const at::Tensor f = at::randn({1, 1, 4, 16});
  CHECK_FALSE(fused_attention_applies(f, f, f));
  CHECK(mt::status_of([&] { fused_attention(f, f, f); }) == Status::invalid_argument);
}

TEST_CASE("decode attention: one token per head against the cache, as close to exact math as libtorch's bf16 path") {
  c10::InferenceMode g;
  at::manual_seed(29);
  const at::Tensor one = at::randn({4, 1, 16}).to(at::kBFloat16), kv = at::randn({2, 5, 16}).to(at::kBFloat16);
  if (!cpu_features().avx512_bf16) {
    CHECK_FALSE(decode_attention_applies(one, kv, kv));
    return;
  }
  for (int64_t d : {int64_t(16), int64_t(48), int64_t(128)})
    for (int64_t n : {int64_t(1), int64_t(15), int64_t(17), int64_t(300)})
      for (int64_t group : {int64_t(1), int64_t(4), int64_t(6)}) {
        CAPTURE(d);
        CAPTURE(n);
        CAPTURE(group);
        const int64_t nkv = 2, nh = nkv * group;
        // The cache's layout: [nkv, capacity, d] with only the first n positions used.
        const at::Tensor cache_k = at::randn({nkv, n + 7, d}).to(at::kBFloat16), cache_v = at::randn({nkv, n + 7, d}).to(at::kBFloat16);
        const at::Tensor k = cache_k.slice(1, 0, n), v = cache_v.slice(1, 0, n);
        const at::Tensor q = (at::randn({1, nh, d}) * (3.0 / std::sqrt(double(d)))).to(at::kBFloat16).transpose(0, 1);
        REQUIRE(decode_attention_applies(q, k, v));
        const at::Tensor y = decode_attention(q, k, v);
        REQUIRE((y.sizes().vec() == std::vector<int64_t>{nh, 1, d}));
        // Reference: head h against kv head h / group.
        const at::Tensor kr = k.repeat_interleave(group, 0), vr = v.repeat_interleave(group, 0);
        const at::Tensor exact = reference(q.unsqueeze(0), kr.unsqueeze(0), vr.unsqueeze(0))[0];
        const at::Tensor unfused = at::matmul(at::softmax(at::matmul(q, kr.transpose(1, 2)), -1, at::kFloat).to(at::kBFloat16), vr);
        const double err = (y.to(at::kDouble) - exact).abs().max().item<double>();
        const double err_unfused = (unfused.to(at::kDouble) - exact).abs().max().item<double>();
        CAPTURE(err);
        CAPTURE(err_unfused);
        CHECK(err <= 0.02);
        CHECK(err <= err_unfused * 1.25 + 1e-3);
      }
  // Refused: two query rows, mismatched widths, fp32, d not a multiple of 16.
  CHECK_FALSE(decode_attention_applies(at::randn({4, 2, 16}).to(at::kBFloat16), kv, kv));
  CHECK_FALSE(decode_attention_applies(one, at::randn({2, 5, 32}).to(at::kBFloat16), at::randn({2, 5, 32}).to(at::kBFloat16)));
  CHECK_FALSE(decode_attention_applies(at::randn({4, 1, 16}), at::randn({2, 5, 16}), at::randn({2, 5, 16})));
  CHECK_FALSE(decode_attention_applies(at::randn({3, 1, 16}).to(at::kBFloat16), kv, kv));
  const at::Tensor odd = at::randn({2, 3, 24}).to(at::kBFloat16);
  CHECK_FALSE(decode_attention_applies(at::randn({2, 1, 24}).to(at::kBFloat16), odd, odd));
  CHECK(mt::status_of([&] { decode_attention(at::randn({4, 2, 16}).to(at::kBFloat16), kv, kv); }) == Status::invalid_argument);
  // Turned off with the fused attention switch.
  set_fused_attention(false);
  CHECK_FALSE(decode_attention_applies(one, kv, kv));
  set_fused_attention(true);
  CHECK(decode_attention_applies(one, kv, kv));
}
