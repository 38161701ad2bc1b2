// KvCache: doubling growth that keeps the content, truncate / clear, and writes past
// the capacity rejected.
#include <doctest/doctest.h>

#include "model_test_support.h"

#include "model/kv_cache.h"

using m4cxr::KvCache;
using m4cxr::Status;

namespace {

constexpr int kLayers = 2, kHeads = 2, kDim = 4;

// Writes T positions (distinct values per layer/position) and commits them.
std::vector<std::pair<at::Tensor, at::Tensor>> append(KvCache& c, int64_t t, float base) {
  c.reserve(t);
  std::vector<std::pair<at::Tensor, at::Tensor>> kv;
  for (int l = 0; l < kLayers; ++l) {
    at::Tensor k = at::arange(kHeads * t * kDim, at::kFloat).reshape({kHeads, t, kDim}) + base + 1000 * l;
    at::Tensor v = -k;
    c.write(l, k, v);
    kv.emplace_back(k, v);
  }
  c.advance(t);
  return kv;
}

}  // namespace

TEST_CASE("kv cache: capacity doubles on demand and keeps what was written") {
  c10::InferenceMode g;
  KvCache c(kLayers, kHeads, kDim, mt::runtime(at::kFloat), 4);
  const int64_t cap0 = c.capacity();
  CHECK(cap0 >= 4);
  CHECK(c.length() == 0);
  const size_t bytes0 = c.bytes();
  CHECK(bytes0 == size_t(2 * kLayers * kHeads * cap0 * kDim * 4));

  auto first = append(c, cap0 - 3, 0.5f);
  CHECK(c.length() == cap0 - 3);
  CHECK(c.capacity() == cap0);  // still fits: no reallocation

  c.reserve(3);
  CHECK(c.capacity() == cap0);  // exactly full is enough
  c.reserve(4);
  CHECK(c.capacity() == 2 * cap0);  // one doubling
  CHECK(c.bytes() == 2 * bytes0);
  CHECK(c.length() == cap0 - 3);  // reserve never changes the length
  for (int l = 0; l < kLayers; ++l) {
    CHECK(at::equal(c.keys(l, cap0 - 3), first[l].first));
    CHECK(at::equal(c.values(l, cap0 - 3), first[l].second));
  }

  auto second = append(c, 10, 7.0f);
  const int64_t n = cap0 - 3 + 10;
  CHECK(c.length() == n);
  c.reserve(5 * cap0);  // needs several doublings at once
  CHECK(c.capacity() == 8 * cap0);
  for (int l = 0; l < kLayers; ++l) {
    at::Tensor k = c.keys(l, n), v = c.values(l, n);
    CHECK(k.sizes() == at::IntArrayRef({kHeads, n, kDim}));
    CHECK(at::equal(k.slice(1, 0, cap0 - 3), first[l].first));
    CHECK(at::equal(k.slice(1, cap0 - 3, n), second[l].first));
    CHECK(at::equal(v.slice(1, cap0 - 3, n), second[l].second));
  }
}

TEST_CASE("kv cache: truncate and clear forget the tail; new writes land after the kept prefix") {
  c10::InferenceMode g;
  KvCache c(kLayers, kHeads, kDim, mt::runtime(at::kFloat));
  auto a = append(c, 6, 0);
  append(c, 4, 100);
  const int64_t cap = c.capacity();
  c.truncate(6);
  CHECK(c.length() == 6);
  auto b = append(c, 3, 500);
  CHECK(c.length() == 9);
  for (int l = 0; l < kLayers; ++l) {
    CHECK(at::equal(c.keys(l, 6), a[l].first));
    CHECK(at::equal(c.keys(l, 9).slice(1, 6), b[l].first));
  }
  CHECK(mt::status_of([&] { c.truncate(10); }) != Status::ok);  // beyond the length
  CHECK(mt::status_of([&] { c.truncate(-1); }) != Status::ok);
  CHECK(c.length() == 9);
  c.truncate(9);  // no-op
  CHECK(c.length() == 9);
  c.clear();
  CHECK(c.length() == 0);
  CHECK(c.capacity() == cap);  // storage is kept for reuse
  auto d = append(c, 2, 900);
  CHECK(at::equal(c.keys(1, 2), d[1].first));
}

TEST_CASE("kv cache: writing past the capacity is an error") {
  c10::InferenceMode g;
  KvCache c(kLayers, kHeads, kDim, mt::runtime(at::kFloat), 4);
  const int64_t cap = c.capacity();
  at::Tensor k = at::zeros({kHeads, cap + 1, kDim});
  CHECK(mt::status_of([&] { c.write(0, k, k); }) == Status::internal);
  append(c, cap - 1, 0);
  at::Tensor two = at::zeros({kHeads, 2, kDim});
  CHECK(mt::status_of([&] { c.write(0, two, two); }) == Status::internal);
  CHECK(c.length() == cap - 1);
  CHECK(c.capacity() == cap);
}

TEST_CASE("kv cache: bf16 runtime stores bf16") {
  c10::InferenceMode g;
  KvCache c(1, kHeads, kDim, mt::runtime(at::kBFloat16), 8);
  at::Tensor k = at::full({kHeads, 3, kDim}, 1.5f).to(at::kBFloat16);
  c.reserve(3);
  c.write(0, k, k);
  c.advance(3);
  CHECK((c.keys(0, 3).scalar_type() == at::kBFloat16));
  CHECK(at::equal(c.values(0, 3), k));
}
