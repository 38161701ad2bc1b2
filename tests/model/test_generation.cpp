// Generation loop: option checks, early stop from the token callback, cancellation in
// decode (ids so far returned, conversation still consistent) and in prefill (Error
// cancelled, cache unchanged), and concurrent conversations on one shared Model.
#include <doctest/doctest.h>

#include "model_test_support.h"

#include <atomic>
#include <exception>
#include <thread>

#include "engine/conversation.h"

using m4cxr::Conversation;
using m4cxr::GenerationOptions;
using m4cxr::GenerationStats;
using m4cxr::Status;

namespace {

const char* kMerged = "models/merged_fp32";

const nlohmann::json& single_case() { return mt::manifest()["prompts_merged_fp32"]["single"]; }

std::vector<int32_t> single_ids() { return mt::npy_ids(single_case()["input_ids"]); }

std::vector<int32_t> golden_generation() {
  std::vector<int32_t> v;
  for (const auto& x : single_case()["generated_ids"]) v.push_back(x.get<int32_t>());
  return v;
}

GenerationOptions greedy(int max_new) {
  GenerationOptions o;
  o.max_new_tokens = max_new;
  return o;
}

std::vector<int32_t> slice(const std::vector<int32_t>& v, size_t a, size_t b) {
  return std::vector<int32_t>(v.begin() + static_cast<std::ptrdiff_t>(a), v.begin() + static_cast<std::ptrdiff_t>(b));
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A cancel check that fires on its (n+1)-th call and counts every call.
struct CancelAfter {
  int n;
  std::shared_ptr<int> calls = std::make_shared<int>(0);
  bool operator()() const { return ++*calls > n; }
};

}  // namespace

TEST_CASE("generation: greedy reproduces the golden ids; max_new_tokens bounds the output") {
  c10::InferenceMode g;
  auto m = mt::model(kMerged);
  const auto A = single_ids();
  const auto want = golden_generation();
  REQUIRE(want.size() == 20);
  at::Tensor visual = m->encode_images(mt::pixel_values_of(single_case()["images"]));
  Conversation conv(m);
  conv.set_images(visual);
  GenerationStats st;
  auto out = conv.generate(A, greedy(20), {}, &st);
  CHECK(out == want);
  CHECK(st.generated_tokens == 20);
  CHECK(st.prompt_tokens == int64_t(A.size()));
  CHECK(!st.cancelled);
  CHECK(!st.stopped_by_eos);
  // The cache holds the prompt and every generated id that was fed back (all but the last).
  CHECK(conv.cached_ids() == concat(A, slice(want, 0, 19)));

  Conversation c5(m);
  c5.set_images(visual);
  CHECK(c5.generate(A, greedy(5)) == slice(want, 0, 5));
  CHECK(c5.generate(A, greedy(1)) == slice(want, 0, 1));  // restarting the same prompt reuses the cache

  SUBCASE("max_new_tokens < 1 is invalid_argument and changes nothing") {
    const auto before = conv.cached_ids();
    CHECK(mt::status_of([&] { conv.generate(A, greedy(0)); }) == Status::invalid_argument);
    CHECK(mt::status_of([&] { conv.generate(A, greedy(-3)); }) == Status::invalid_argument);
    CHECK(conv.cached_ids() == before);
  }
  SUBCASE("invalid sampling options are invalid_argument") {
    GenerationOptions o = greedy(4);
    o.sampling.greedy = false;
    o.sampling.top_p = 0;
    CHECK(mt::status_of([&] { conv.generate(A, o); }) == Status::invalid_argument);
  }
  SUBCASE("seeded sampling is reproducible across conversations") {
    GenerationOptions o = greedy(12);
    o.sampling.greedy = false;
    o.sampling.seed = 17;
    o.sampling.temperature = 1.5f;
    Conversation a(m), b(m);
    a.set_images(visual);
    b.set_images(visual);
    auto ia = a.generate(A, o), ib = b.generate(A, o);
    CHECK(ia == ib);
    CHECK(ia.size() <= 12);
  }
}

TEST_CASE("generation: the token callback returning false stops early") {
  c10::InferenceMode g;
  auto m = mt::model(kMerged);
  const auto A = single_ids();
  const auto want = golden_generation();
  Conversation conv(m);
  conv.set_images(m->encode_images(mt::pixel_values_of(single_case()["images"])));
  std::vector<int32_t> streamed;
  GenerationStats st;
  auto out = conv.generate(
      A, greedy(20),
      [&](int32_t id) {
        streamed.push_back(id);
        return streamed.size() < 3;
      },
      &st);
  CHECK(out == slice(want, 0, 3));
  CHECK(streamed == out);
  CHECK(st.generated_tokens == 3);
  CHECK(!st.cancelled);
  // Continuing from there gives the rest of the greedy answer.
  auto rest = conv.generate(concat(A, out), greedy(17), {}, &st);
  CHECK(st.prefilled_tokens == 1);
  CHECK(rest == slice(want, 3, 20));
}

TEST_CASE("generation: cancellation during decoding keeps the ids so far and the conversation usable") {
  c10::InferenceMode g;
  auto m = mt::model(kMerged);
  const auto A = single_ids();
  const auto want = golden_generation();
  const int L = m->config().text.num_hidden_layers;
  at::Tensor visual = m->encode_images(mt::pixel_values_of(single_case()["images"]));
  Conversation conv(m);
  conv.set_images(visual);
  // The check runs once per decoder layer: the prefill and three decode steps pass,
  // the fourth decode step is cancelled.
  CancelAfter cancel{L * (1 + 3)};
  GenerationStats st;
  std::vector<int32_t> streamed;
  auto out = conv.generate(
      A, greedy(20),
      [&](int32_t id) {
        streamed.push_back(id);
        return true;
      },
      &st, cancel);
  CHECK(st.cancelled);
  CHECK(!st.stopped_by_eos);
  CHECK(out == slice(want, 0, 4));
  CHECK(streamed == out);
  CHECK(st.generated_tokens == 4);
  CHECK(*cancel.calls == L * 4 + 1);
  CHECK(conv.cached_ids() == concat(A, slice(want, 0, 3)));

  // Usable afterwards: continuing gives the same as a fresh conversation (and upstream).
  GenerationStats st2;
  auto rest = conv.generate(concat(A, out), greedy(16), {}, &st2);
  CHECK(st2.prefilled_tokens == 1);
  CHECK(!st2.cancelled);
  CHECK(rest == slice(want, 4, 20));
  Conversation fresh(m);
  fresh.set_images(visual);
  CHECK(fresh.generate(concat(A, out), greedy(16)) == rest);

  SUBCASE("cancelled in the middle of a decode step (after some layers wrote the cache)") {
    Conversation c2(m);
    c2.set_images(visual);
    auto o2 = c2.generate(A, greedy(20), {}, &st, CancelAfter{L * 2 + 1});
    CHECK(st.cancelled);
    CHECK(o2 == slice(want, 0, 2));
    CHECK(c2.generate(concat(A, o2), greedy(18)) == slice(want, 2, 20));
  }
}

TEST_CASE("generation: cancellation during prefill throws cancelled and leaves the cache as it was") {
  c10::InferenceMode g;
  auto m = mt::model(kMerged);
  const auto A = single_ids();
  const auto want = golden_generation();
  const int L = m->config().text.num_hidden_layers;
  at::Tensor visual = m->encode_images(mt::pixel_values_of(single_case()["images"]));
  Conversation conv(m);
  conv.set_images(visual);
  at::Tensor la = conv.prefill(A);
  const auto B = concat(A, slice(want, 0, 5));

  for (int after : {0, L - 1}) {  // before the first layer, and after all but the last wrote the cache
    INFO("cancel after " << after << " checks");
    std::string msg;
    CHECK(mt::status_of([&] { conv.generate(B, greedy(20), {}, nullptr, CancelAfter{after}); }, &msg) ==
          Status::cancelled);
    CHECK(conv.cached_ids() == A);
    CHECK(mt::status_of([&] { conv.prefill(B, nullptr, false, CancelAfter{after}); }) == Status::cancelled);
    CHECK(conv.cached_ids() == A);
  }
  GenerationStats st;
  at::Tensor again = conv.prefill(A, &st);
  CHECK(st.prefilled_tokens == 1);
  CHECK(mt::max_abs_diff(again, la) <= 1e-4);
  auto rest = conv.generate(B, greedy(15), {}, &st);
  CHECK(st.prefilled_tokens == 5);
  CHECK(rest == slice(want, 5, 20));

  // A fresh conversation cancelled in prefill stays empty and works afterwards.
  Conversation c2(m);
  c2.set_images(visual);
  CHECK(mt::status_of([&] { c2.generate(A, greedy(3), {}, nullptr, [] { return true; }); }) == Status::cancelled);
  CHECK(c2.cached_ids().empty());
  CHECK(c2.generate(A, greedy(3)) == slice(want, 0, 3));

  // Image encoding is cancellable too.
  CHECK(mt::status_of([&] { m->encode_images(mt::pixel_values_of(single_case()["images"]), nullptr, [] { return true; }); }) ==
        Status::cancelled);
}

TEST_CASE("generation: 4 threads with their own conversations on one shared model agree with one thread") {
  auto m = mt::model(kMerged);
  const auto A = single_ids();
  const at::Tensor pv = mt::pixel_values_of(single_case()["images"]);
  const int steps = 20;

  std::vector<int32_t> single_thread;
  {
    Conversation conv(m);
    conv.set_images(m->encode_images(pv));
    single_thread = conv.generate(A, greedy(steps));
  }
  CHECK(single_thread == golden_generation());

  constexpr int kThreads = 4;
  std::vector<std::vector<int32_t>> results(kThreads);
  std::vector<at::Tensor> visuals(kThreads);
  std::vector<std::exception_ptr> errors(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        ready.fetch_add(1);
        while (ready.load() < kThreads) std::this_thread::yield();  // start together
        Conversation conv(m);
        visuals[t] = m->encode_images(pv);
        conv.set_images(visuals[t]);
        results[t] = conv.generate(A, greedy(steps));
        // a second round on the same conversation (cache reuse under contention)
        auto more = conv.generate(concat(A, results[t]), greedy(3));
        results[t].insert(results[t].end(), more.begin(), more.end());
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  for (auto& th : threads) th.join();

  Conversation ref(m);
  ref.set_images(m->encode_images(pv));
  auto expected = single_thread;
  {
    auto more = ref.generate(concat(A, single_thread), greedy(3));
    expected.insert(expected.end(), more.begin(), more.end());
  }
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    if (errors[t]) {
      try {
        std::rethrow_exception(errors[t]);
      } catch (const std::exception& e) {
        FAIL_CHECK("thread threw: " << e.what());
      }
      continue;
    }
    CHECK(results[t] == expected);
    // Intra-op reductions may be split differently under contention: close, not bitwise.
    CHECK(mt::max_abs_diff(visuals[t], visuals[0]) <= 1e-5);
  }
}

// Issue 14: token log-probabilities come from the logits the decoding loop already has;
// they must equal a teacher-forced recomputation (one full forward pass over the prompt
// and the generated ids) to 1e-4 in fp32, for greedy and for sampled tokens (whose
// log-probability is the model's, before temperature).
TEST_CASE("generation: token logprobs equal a teacher-forced recomputation (fp32, 1e-4)") {
  c10::InferenceMode g;
  auto m = mt::model(kMerged);
  const auto A = single_ids();
  at::Tensor visual = m->encode_images(mt::pixel_values_of(single_case()["images"]));
  for (bool sample : {false, true}) {
    CAPTURE(sample);
    GenerationOptions o = greedy(20);
    o.logprobs = 5;
    if (sample) {
      o.sampling.greedy = false;
      o.sampling.temperature = 1.5f;
      o.sampling.seed = 3;
    }
    Conversation conv(m);
    conv.set_images(visual);
    conv.start(A, o);
    std::vector<int32_t> ids;
    std::vector<m4cxr::TokenLogprob> lps;
    int32_t id;
    m4cxr::TokenLogprob lp;
    while (conv.step(&id, &lp)) {
      ids.push_back(id);
      lps.push_back(lp);
    }
    REQUIRE(!ids.empty());
    REQUIRE(lps.size() == ids.size());
    if (!sample) {
      CHECK(ids == golden_generation());  // recording changes nothing
    }

    Conversation fresh(m);
    fresh.set_images(visual);
    std::vector<int32_t> whole = concat(A, slice(ids, 0, ids.size() - 1));
    at::Tensor logits = fresh.prefill(whole, nullptr, /*all_logits=*/true);  // [len, V]
    REQUIRE(logits.size(0) == int64_t(whole.size()));
    at::Tensor ref = at::log_softmax(logits.to(at::kFloat), 1);
    double worst = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      const int64_t pos = int64_t(A.size() + i) - 1;  // the position that predicts ids[i]
      CHECK(lps[i].id == ids[i]);
      const double want = ref[pos][ids[i]].item<double>();
      worst = std::max(worst, std::abs(double(lps[i].logprob) - want));
      REQUIRE(lps[i].top.size() == 5);
      for (size_t j = 0; j < lps[i].top.size(); ++j) {
        worst = std::max(worst, std::abs(double(lps[i].top[j].second) - ref[pos][lps[i].top[j].first].item<double>()));
        if (j > 0) CHECK(lps[i].top[j - 1].second >= lps[i].top[j].second);
      }
      if (!sample) CHECK(lps[i].top[0].second == lps[i].logprob);  // greedy: the token is the argmax
      CHECK(lps[i].logprob <= 0);
    }
    MESSAGE("largest |logprob - teacher-forced| = " << worst);
    CHECK(worst < 1e-4);
  }
}

TEST_CASE("generation: logprobs off by default, below -1 refused; a step asked for its logprob gets it without alternatives") {
  c10::InferenceMode g;
  auto m = mt::model(kMerged);
  CHECK(GenerationOptions{}.logprobs == -1);
  Conversation conv(m);
  conv.set_images(m->encode_images(mt::pixel_values_of(single_case()["images"])));
  GenerationOptions o = greedy(2);
  o.logprobs = -2;
  CHECK(mt::status_of([&] { conv.start(single_ids(), o); }) == Status::invalid_argument);
  conv.start(single_ids(), greedy(2));
  int32_t id;
  m4cxr::TokenLogprob lp;
  lp.id = -7;
  lp.top = {{1, 0.f}};
  REQUIRE(conv.step(&id, &lp));
  CHECK(lp.id == id);  // asked for: the token's own log-probability, no alternatives
  CHECK(lp.logprob <= 0);
  CHECK(lp.top.empty());
}
