// Sampler: greedy argmax, seeded reproducibility, top-k / top-p restrictions and the
// option checks.
#include <doctest/doctest.h>

#include "model_test_support.h"

#include <set>

#include "engine/sampler.h"

using m4cxr::Sampler;
using m4cxr::SamplingOptions;
using m4cxr::Status;

namespace {

SamplingOptions sampling(uint64_t seed, int top_k = 0, float top_p = 1.0f, float temperature = 1.0f) {
  SamplingOptions o;
  o.greedy = false;
  o.seed = seed;
  o.top_k = top_k;
  o.top_p = top_p;
  o.temperature = temperature;
  return o;
}

std::vector<int32_t> draws(const SamplingOptions& o, const at::Tensor& logits, int n) {
  Sampler s(o);
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(s.next(logits));
  return out;
}

at::Tensor some_logits() {
  at::manual_seed(1234);
  return at::randn({512}) * 2;
}

}  // namespace

TEST_CASE("sampler: greedy is argmax, for [V] and [1, V]") {
  c10::InferenceMode g;
  at::Tensor l = some_logits();
  const int32_t best = static_cast<int32_t>(l.argmax().item<int64_t>());
  Sampler s(SamplingOptions{});
  CHECK(s.next(l) == best);
  CHECK(s.next(l.unsqueeze(0)) == best);
  CHECK(s.next(l.to(at::kBFloat16)) == static_cast<int32_t>(l.to(at::kBFloat16).argmax().item<int64_t>()));
  at::Tensor l2 = l.clone();
  l2[7] = 1000;
  CHECK(s.next(l2) == 7);
  // Greedy ignores the sampling knobs entirely (no validation either).
  SamplingOptions o;
  o.temperature = 0;
  o.top_p = 0;
  Sampler s2(o);
  CHECK(s2.next(l) == best);
}

TEST_CASE("sampler: same seed reproduces, different seeds differ") {
  c10::InferenceMode g;
  at::Tensor flat = at::zeros({64});  // uniform: every draw is informative
  auto a = draws(sampling(42), flat, 200), b = draws(sampling(42), flat, 200), c = draws(sampling(43), flat, 200);
  CHECK(a == b);
  CHECK(a != c);
  std::set<int32_t> distinct(a.begin(), a.end());
  CHECK(distinct.size() > 30);  // really sampling over the vocabulary
  for (int32_t id : a) {
    CHECK(id >= 0);
    CHECK(id < 64);
  }
  at::Tensor l = some_logits();
  CHECK(draws(sampling(7, 0, 0.9f, 0.8f), l, 100) == draws(sampling(7, 0, 0.9f, 0.8f), l, 100));
}

TEST_CASE("sampler: top_k = 1 equals greedy; top_k and top_p restrict the candidates") {
  c10::InferenceMode g;
  at::Tensor l = some_logits();
  const int32_t best = static_cast<int32_t>(l.argmax().item<int64_t>());
  for (uint64_t seed : {0ull, 1ull, 99ull}) {
    for (int32_t id : draws(sampling(seed, 1, 1.0f, 5.0f), l, 50)) CHECK(id == best);
  }
  // top_k = 5 at a high temperature: only the 5 largest logits ever come out, and more than one of them.
  auto top5 = std::get<1>(l.topk(5));
  std::set<int32_t> allowed;
  for (int i = 0; i < 5; ++i) allowed.insert(static_cast<int32_t>(top5[i].item<int64_t>()));
  std::set<int32_t> seen;
  for (int32_t id : draws(sampling(3, 5, 1.0f, 100.0f), l, 300)) {
    CHECK(allowed.count(id) == 1);
    seen.insert(id);
  }
  CHECK(seen.size() > 1);
  // A tiny top_p keeps only the most likely token.
  for (int32_t id : draws(sampling(5, 0, 1e-6f), l, 50)) CHECK(id == best);
  // top_p: with probabilities {0.5, 0.3, 0.2}, top_p 0.7 keeps the first two only.
  at::Tensor p3 = at::log(at::tensor({0.2f, 0.5f, 0.3f}));
  std::set<int32_t> s3;
  for (int32_t id : draws(sampling(11, 0, 0.7f), p3, 300)) s3.insert(id);
  CHECK(s3 == std::set<int32_t>({1, 2}));
}

TEST_CASE("sampler: invalid sampling options are invalid_argument") {
  CHECK(mt::status_of([] { Sampler s(sampling(0, 0, 1.0f, 0.0f)); }) == Status::invalid_argument);
  CHECK(mt::status_of([] { Sampler s(sampling(0, 0, 1.0f, -1.0f)); }) == Status::invalid_argument);
  CHECK(mt::status_of([] { Sampler s(sampling(0, 0, 1.0f, std::numeric_limits<float>::infinity())); }) ==
        Status::invalid_argument);
  CHECK(mt::status_of([] { Sampler s(sampling(0, 0, 1.0f, std::numeric_limits<float>::quiet_NaN())); }) ==
        Status::invalid_argument);
  CHECK(mt::status_of([] { Sampler s(sampling(0, 0, 0.0f)); }) == Status::invalid_argument);
  CHECK(mt::status_of([] { Sampler s(sampling(0, 0, 1.01f)); }) == Status::invalid_argument);
  CHECK(mt::status_of([] { Sampler s(sampling(0, 0, -0.5f)); }) == Status::invalid_argument);
  CHECK(mt::status_of([] { Sampler s(sampling(0, 0, std::numeric_limits<float>::quiet_NaN())); }) ==
        Status::invalid_argument);
  CHECK(mt::status_of([] { Sampler s(sampling(0, -1)); }) == Status::invalid_argument);
  CHECK(mt::status_of([] { Sampler s(sampling(0, 3, 0.5f, 0.7f)); }) == Status::ok);
  CHECK(mt::status_of([] { Sampler s(sampling(0, 0, 1.0f)); }) == Status::ok);
}
