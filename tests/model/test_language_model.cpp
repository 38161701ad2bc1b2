// Decoder and conversation state: one-shot vs incremental decoding, prefix reuse of
// Conversation::prefill (extension, repetition, divergence, image change), and the
// multimodal splice with its argument checks.
#include <doctest/doctest.h>

#include "model_test_support.h"

#include <limits>

#include "engine/conversation.h"
#include "engine/multimodal_splice.h"

using m4cxr::Conversation;
using m4cxr::GenerationStats;
using m4cxr::Status;

namespace {

const char* kMerged = "models/merged_fp32";

at::Tensor id_tensor(const std::vector<int32_t>& ids) {
  return at::tensor(std::vector<int64_t>(ids.begin(), ids.end()), at::kLong);
}

const nlohmann::json& single_case() { return mt::manifest()["prompts_merged_fp32"]["single"]; }

std::vector<int32_t> single_ids() { return mt::npy_ids(single_case()["input_ids"]); }

at::Tensor single_visual(const m4cxr::Model& m) { return m.encode_images(mt::pixel_values_of(single_case()["images"])); }

at::Tensor fresh_logits(const std::shared_ptr<const m4cxr::Model>& m, const at::Tensor& visual,
                        const std::vector<int32_t>& ids, bool all = false) {
  Conversation c(m);
  if (visual.defined()) c.set_images(visual);
  return c.prefill(ids, nullptr, all);
}

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_CASE("language model: one call == prefill then single-token steps (across a cache reallocation)") {
  c10::InferenceMode g;
  auto m = mt::model(kMerged);
  const auto& lm = m->language_model();
  const int V = lm.config().vocab_size;
  // 300 tokens: the incremental run crosses the cache's first capacity step (256).
  at::manual_seed(7);
  at::Tensor ids = at::randint(3, V, {300}, at::kLong);
  const int64_t T = ids.size(0);

  auto c1 = lm.make_cache(m->runtime(), 16);
  at::Tensor all = lm.forward(lm.embed(ids), c1, true);
  REQUIRE(all.sizes() == at::IntArrayRef({T, V}));
  CHECK((all.scalar_type() == at::kFloat));
  CHECK(c1.length() == T);

  auto c2 = lm.make_cache(m->runtime(), 16);
  at::Tensor last = lm.forward(lm.embed(ids), c2, false);
  REQUIRE(last.sizes() == at::IntArrayRef({1, V}));
  CHECK(mt::max_abs_diff(last[0], all[T - 1]) <= 1e-5);

  auto c3 = lm.make_cache(m->runtime(), 16);
  const int64_t k = 240;
  at::Tensor pre = lm.forward(lm.embed(ids.slice(0, 0, k)), c3, false);
  CHECK(mt::max_abs_diff(pre[0], all[k - 1]) <= 1e-4);
  const int64_t cap_before = c3.capacity();
  double worst = 0;
  at::Tensor step;
  for (int64_t i = k; i < T; ++i) {
    step = lm.forward(lm.embed(ids.slice(0, i, i + 1)), c3, false);
    worst = std::max(worst, mt::max_abs_diff(step[0], all[i]));
  }
  CHECK(c3.capacity() > cap_before);
  CHECK(c3.length() == T);
  CHECK(worst <= 1e-4);
  CHECK(mt::max_abs_diff(step[0], last[0]) <= 1e-4);
  CHECK(step.argmax().item<int64_t>() == last.argmax().item<int64_t>());

  // The golden text-only prompt agrees with upstream's logits too.
  auto tids = mt::npy_ids(mt::manifest()["prompts_merged_fp32"]["text_only"]["input_ids"]);
  auto c4 = lm.make_cache(m->runtime());
  at::Tensor tl = lm.forward(lm.embed(id_tensor(tids)), c4, true);
  CHECK(mt::max_abs_diff(tl, mt::npy(mt::manifest()["prompts_merged_fp32"]["text_only"]["logits"])) <= 1e-3);
}

TEST_CASE("language model: forward rejects malformed embeddings") {
  c10::InferenceMode g;
  auto m = mt::model(kMerged);
  const auto& lm = m->language_model();
  const int H = lm.config().hidden_size;
  auto c = lm.make_cache(m->runtime());
  CHECK(mt::status_of([&] { lm.forward(at::zeros({H}), c, false); }) == Status::invalid_argument);
  CHECK(mt::status_of([&] { lm.forward(at::zeros({2, H + 1}), c, false); }) == Status::invalid_argument);
  CHECK(mt::status_of([&] { lm.forward(at::zeros({0, H}), c, false); }) == Status::invalid_argument);
  CHECK(mt::status_of([&] { lm.forward(at::zeros({1, 2, H}), c, false); }) == Status::invalid_argument);
  CHECK(c.length() == 0);
}

TEST_CASE("conversation: prefill reuses the cached prefix and matches a fresh conversation") {
  c10::InferenceMode g;
  auto m = mt::model(kMerged);
  const auto A = single_ids();
  at::Tensor visual = single_visual(*m);
  Conversation conv(m);
  conv.set_images(visual);
  GenerationStats st;
  at::Tensor la = conv.prefill(A, &st);
  CHECK(st.prompt_tokens == int64_t(A.size()));
  CHECK(st.prefilled_tokens == int64_t(A.size()));
  CHECK(conv.cached_ids() == A);
  CHECK(mt::max_abs_diff(la[0], mt::npy(single_case()["logits"])[int64_t(A.size()) - 1]) <= 1e-3);

  SUBCASE("an extension only runs the new tokens") {
    const auto B = concat(A, {345, 329, 201, 436, 114});
    at::Tensor lb = conv.prefill(B, &st);
    CHECK(st.prompt_tokens == int64_t(B.size()));
    CHECK(st.prefilled_tokens == 5);
    CHECK(conv.cached_ids() == B);
    CHECK(mt::max_abs_diff(lb, fresh_logits(m, visual, B)) <= 1e-4);

    // all_logits returns the rows of the newly run positions only.
    const auto B2 = concat(B, {7, 8, 9});
    at::Tensor lb2 = conv.prefill(B2, &st, true);
    CHECK(st.prefilled_tokens == 3);
    REQUIRE(lb2.size(0) == 3);
    at::Tensor fresh_all = fresh_logits(m, visual, B2, true);
    CHECK(mt::max_abs_diff(lb2, fresh_all.slice(0, int64_t(B2.size()) - 3)) <= 1e-4);
  }
  SUBCASE("the same prompt again re-runs only its last token") {
    at::Tensor again = conv.prefill(A, &st);
    CHECK(st.prefilled_tokens == 1);
    CHECK(mt::max_abs_diff(again, la) <= 1e-4);
    CHECK(conv.cached_ids() == A);
  }
  SUBCASE("a prefix of the cached prompt re-runs only its last token") {
    const std::vector<int32_t> P(A.begin(), A.begin() + 100);
    at::Tensor lp = conv.prefill(P, &st);
    CHECK(st.prefilled_tokens == 1);
    CHECK(conv.cached_ids() == P);
    CHECK(mt::max_abs_diff(lp, fresh_logits(m, visual, P)) <= 1e-4);
  }
  SUBCASE("a diverging prompt re-runs from the first differing token") {
    const size_t k = A.size() - 20;
    REQUIRE(A[k] != 300);
    std::vector<int32_t> C(A.begin(), A.begin() + static_cast<std::ptrdiff_t>(k));
    C.insert(C.end(), {300, 301, 302, 303});
    at::Tensor lc = conv.prefill(C, &st);
    CHECK(st.prefilled_tokens == 4);
    CHECK(conv.cached_ids() == C);
    CHECK(mt::max_abs_diff(lc, fresh_logits(m, visual, C)) <= 1e-4);
    // and back to the original: re-runs the 20 tokens after the common prefix
    at::Tensor la2 = conv.prefill(A, &st);
    CHECK(st.prefilled_tokens == 20);
    CHECK(mt::max_abs_diff(la2, la) <= 1e-4);
  }
  SUBCASE("a divergence before the image re-splices the image from the start") {
    std::vector<int32_t> D = A;
    size_t first_ph = 0;
    while (D[first_ph] != -1) ++first_ph;
    REQUIRE(first_ph > 3);
    D[first_ph - 2] = D[first_ph - 2] == 300 ? 301 : 300;
    at::Tensor ld = conv.prefill(D, &st);
    CHECK(st.prefilled_tokens == int64_t(D.size() - (first_ph - 2)));
    CHECK(mt::max_abs_diff(ld, fresh_logits(m, visual, D)) <= 1e-4);
  }
  SUBCASE("changing the image invalidates the cache from its first placeholder") {
    at::Tensor other = m->encode_images(mt::pixel_values_of(nlohmann::json::array({"gray8_70x70.png"})));
    REQUIRE(!at::equal(other, visual));
    size_t first_ph = 0;
    while (A[first_ph] != -1) ++first_ph;
    conv.set_images(other);
    CHECK(conv.cached_ids().size() == first_ph);
    at::Tensor lo = conv.prefill(A, &st);
    CHECK(st.prefilled_tokens == int64_t(A.size() - first_ph));
    CHECK(mt::max_abs_diff(lo, fresh_logits(m, other, A)) <= 1e-4);
    CHECK(mt::max_abs_diff(lo, la) > 1e-3);  // the image matters
    // setting equal images keeps the cache
    conv.set_images(other.clone());
    CHECK(conv.cached_ids() == A);
  }
  SUBCASE("reset forgets everything") {
    conv.reset();
    CHECK(conv.cached_ids().empty());
    CHECK(!conv.images().defined());
    CHECK(mt::status_of([&] { conv.prefill(A); }) == Status::invalid_argument);  // images are gone too
    conv.set_images(visual);
    at::Tensor lr = conv.prefill(A, &st);
    CHECK(st.prefilled_tokens == int64_t(A.size()));
    CHECK(mt::max_abs_diff(lr, la) <= 1e-4);
  }
}

TEST_CASE("conversation: invalid prompts leave the cache usable") {
  c10::InferenceMode g;
  auto m = mt::model(kMerged);
  const auto A = single_ids();
  at::Tensor visual = single_visual(*m);
  Conversation conv(m);
  conv.set_images(visual);
  at::Tensor la = conv.prefill(A);
  const int V = m->config().text.vocab_size;
  CHECK(mt::status_of([&] { conv.prefill({}); }) == Status::invalid_argument);
  CHECK(mt::status_of([&] { conv.prefill(concat(A, {V})); }) == Status::invalid_argument);
  CHECK(mt::status_of([&] { conv.prefill(concat(A, {-2})); }) == Status::invalid_argument);
  CHECK(conv.cached_ids() == A);  // ids are validated before anything changes
  // a tenth placeholder block needs a second image
  std::vector<int32_t> more = A;
  more.insert(more.end(), 9, -1);
  CHECK(mt::status_of([&] { conv.prefill(more); }) == Status::invalid_argument);
  GenerationStats st;
  at::Tensor again = conv.prefill(A, &st);
  CHECK(mt::max_abs_diff(again, la) <= 1e-4);
  CHECK(mt::status_of([&] { conv.set_images(at::zeros({1, 8, 64})); }) == Status::invalid_argument);
  CHECK(mt::status_of([&] { conv.set_images(at::zeros({9, 64})); }) == Status::invalid_argument);
}

TEST_CASE("multimodal splice: placeholders take the visual rows in order") {
  c10::InferenceMode g;
  auto m = mt::model(kMerged);
  const auto& lm = m->language_model();
  const int64_t Q = m->num_visual_tokens(), H = lm.config().hidden_size;
  at::manual_seed(3);
  at::Tensor visual = at::randn({2, Q, H});
  std::vector<int32_t> ids = {1, 5};
  ids.insert(ids.end(), Q, -1);
  ids.push_back(7);
  ids.insert(ids.end(), Q, -1);
  ids.push_back(8);
  CHECK(m4cxr::count_placeholders(ids, lm.config().vocab_size) == 2 * Q);
  at::Tensor emb = m4cxr::splice_embeddings(lm, ids, visual);
  REQUIRE(emb.sizes() == at::IntArrayRef({int64_t(ids.size()), H}));
  CHECK(at::equal(emb.slice(0, 2, 2 + Q), visual[0]));
  CHECK(at::equal(emb.slice(0, 3 + Q, 3 + 2 * Q), visual[1]));
  CHECK(at::equal(emb[0], lm.embedding_table()[1]));
  CHECK(at::equal(emb[2 + Q], lm.embedding_table()[7]));
  CHECK(at::equal(emb[int64_t(ids.size()) - 1], lm.embedding_table()[8]));

  // A continuation that starts after the first image's placeholders gets the second image.
  std::vector<int32_t> tail(static_cast<size_t>(Q), -1);
  tail.push_back(4);
  at::Tensor e2 = m4cxr::splice_embeddings(lm, tail, visual, Q);
  CHECK(at::equal(e2.slice(0, 0, Q), visual[1]));
  // ... and one starting mid-image continues inside it.
  std::vector<int32_t> mid(3, -1);
  at::Tensor e3 = m4cxr::splice_embeddings(lm, mid, visual, Q - 1);
  CHECK(at::equal(e3[0], visual[0][Q - 1]));
  CHECK(at::equal(e3[1], visual[1][0]));

  // Text only: no images needed.
  at::Tensor e4 = m4cxr::splice_embeddings(lm, {1, 2, 3}, at::Tensor());
  CHECK(at::equal(e4, lm.embed(at::tensor({1, 2, 3}, at::kLong))));
}

TEST_CASE("multimodal splice: argument errors") {
  c10::InferenceMode g;
  auto m = mt::model(kMerged);
  const auto& lm = m->language_model();
  const int V = lm.config().vocab_size;
  const int64_t Q = m->num_visual_tokens(), H = lm.config().hidden_size;
  at::Tensor one = at::randn({1, Q, H});
  std::vector<int32_t> block(static_cast<size_t>(Q), -1);

  auto status = [&](const std::vector<int32_t>& ids, const at::Tensor& v, int64_t first = 0) {
    return mt::status_of([&] { m4cxr::splice_embeddings(lm, ids, v, first); });
  };
  CHECK(status(block, one) == Status::ok);
  CHECK(status(concat(block, {-1}), one) == Status::invalid_argument);  // more placeholders than images
  CHECK(status(concat(block, block), one) == Status::invalid_argument);
  CHECK(status(block, one, 1) == Status::invalid_argument);  // offset pushes past the last image
  CHECK(status(block, at::Tensor()) == Status::invalid_argument);  // no images at all
  CHECK(status({1, -1}, at::Tensor()) == Status::invalid_argument);
  CHECK(status(block, at::randn({Q, H})) == Status::invalid_argument);  // not [N, Q, H]
  CHECK(status({1, -2, 3}, one) == Status::invalid_argument);
  CHECK(status({1, std::numeric_limits<int32_t>::min()}, one) == Status::invalid_argument);
  CHECK(status({1, V}, one) == Status::invalid_argument);
  CHECK(status({1, V - 1}, one) == Status::ok);
  CHECK(status({0}, at::Tensor()) == Status::ok);
  std::string msg;
  CHECK(mt::status_of([&] { m4cxr::count_placeholders({4, V + 5}, V); }, &msg) == Status::invalid_argument);
  CHECK(msg.find(std::to_string(V + 5)) != std::string::npos);
}
