// Issue 14, token probabilities (opt-in) through the C API on the tiny golden fp32 model:
// recording them changes no output; each greedy token is the argmax of its step; the
// alternatives are sorted and are probabilities; off by default, the JSON is unchanged.
// (That the values equal a teacher-forced recomputation is tests/model, test_generation.)
#include <cmath>
#include <cstring>

#include "capi_support.h"

using namespace capi_test;
using nlohmann::json;

namespace {

Run report_run(m4cxr_image* im, const m4cxr_generation_options& g) {
  m4cxr_session* s = nullptr;
  REQUIRE(m4cxr_session_create(model(), &s) == M4CXR_OK);
  m4cxr_task* t = nullptr;
  REQUIRE_MESSAGE(m4cxr_report(s, (const m4cxr_image* const*)&im, 1, &g, &t) == M4CXR_OK, m4cxr_last_error());
  Run r;
  drive(t, r);
  m4cxr_session_free(s);
  return r;
}

}  // namespace

TEST_CASE("capi logprobs: same outputs, greedy tokens are the argmax, alternatives sorted (report, 2 turns)") {
  m4cxr_image* im = image("gray8_73x101.png");
  auto off = greedy(12);
  auto on = greedy(12);
  CHECK(on.logprobs == 0);  // off by default
  CHECK(on.top_logprobs == 0);
  on.logprobs = 1;
  on.top_logprobs = 4;
  Run a = report_run(im, off);
  Run b = report_run(im, on);
  REQUIRE(m4cxr_result_turn_count(b.result) == 2);
  REQUIRE(m4cxr_result_turn_count(a.result) == 2);
  CHECK(std::string(m4cxr_result_text(a.result)) == m4cxr_result_text(b.result));
  CHECK(a.pieces == b.pieces);
  for (size_t turn = 0; turn < 2; ++turn) {
    CAPTURE(turn);
    const json& ja = a.json["turns"][turn];
    const json& jb = b.json["turns"][turn];
    CHECK(ja["generated_ids"] == jb["generated_ids"]);
    CHECK(ja["prompt_ids"] == jb["prompt_ids"]);
    CHECK(!ja.contains("tokens"));  // off: no token list, the JSON as before
    CHECK(m4cxr_result_token_count(a.result, turn) == 0);
    const auto ids = jb["generated_ids"].get<std::vector<int32_t>>();
    REQUIRE(!ids.empty());
    REQUIRE(m4cxr_result_token_count(b.result, turn) == ids.size());
    REQUIRE(jb["tokens"].size() == ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      CAPTURE(i);
      m4cxr_token_info tok;
      tok.struct_size = sizeof tok;
      REQUIRE(m4cxr_result_get_token(b.result, turn, i, &tok) == M4CXR_OK);
      CHECK(tok.id == ids[i]);
      CHECK(tok.logprob <= 0);
      CHECK(tok.text != nullptr);
      CHECK(std::strlen(tok.text) > 0);
      if (tok.id == 2) CHECK(std::string(tok.text) == "</s>");  // pieces, not decoded text
      REQUIRE(tok.top_count == 4);
      const json& jt = jb["tokens"][i];
      CHECK(jt["id"] == tok.id);
      CHECK(jt["text"] == tok.text);
      CHECK(jt["logprob"].get<double>() == tok.logprob);
      double mass = 0, prev = 0;
      for (size_t j = 0; j < tok.top_count; ++j) {
        m4cxr_token_info alt;
        alt.struct_size = sizeof alt;
        REQUIRE(m4cxr_result_get_token_alternative(b.result, turn, i, j, &alt) == M4CXR_OK);
        CHECK(alt.logprob <= 0);
        CHECK(alt.top_count == 0);
        if (j > 0) CHECK(alt.logprob <= prev);
        prev = alt.logprob;
        mass += std::exp(alt.logprob);
        CHECK(jt["top"][j]["id"] == alt.id);
        CHECK(jt["top"][j]["logprob"].get<double>() == alt.logprob);
        if (j == 0) CHECK(alt.logprob == tok.logprob);  // greedy: the token is the most likely
      }
      CHECK(mass <= 1.0 + 1e-6);
    }
    m4cxr_token_info x;
    x.struct_size = sizeof x;
    CHECK(m4cxr_result_get_token(b.result, turn, ids.size(), &x) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(m4cxr_result_get_token_alternative(b.result, turn, 0, 4, &x) == M4CXR_ERR_INVALID_ARGUMENT);
  }
  CHECK(b.json["replay"]["options"]["logprobs"] == true);
  CHECK(b.json["replay"]["options"]["top_logprobs"] == 4);
  CHECK(!a.json["replay"]["options"].contains("logprobs"));
  CHECK(!a.json["replay"]["options"].contains("top_logprobs"));
  m4cxr_image_free(im);
}

TEST_CASE("capi logprobs: top_logprobs 0, bounds, errors and older struct sizes") {
  m4cxr_image* im = image("gray8_73x101.png");
  m4cxr_session* s = nullptr;
  REQUIRE(m4cxr_session_create(model(), &s) == M4CXR_OK);
  m4cxr_task* t = nullptr;
  SUBCASE("k = 0 records the tokens without alternatives") {
    auto g = greedy(3);
    g.logprobs = 1;
    REQUIRE(m4cxr_vqa(s, im, "Is there pleural effusion?", &g, &t) == M4CXR_OK);
    Run r;
    drive(t, r);
    REQUIRE(m4cxr_result_token_count(r.result, 0) >= 1);
    m4cxr_token_info tok;
    tok.struct_size = sizeof tok;
    REQUIRE(m4cxr_result_get_token(r.result, 0, 0, &tok) == M4CXR_OK);
    CHECK(tok.top_count == 0);
    CHECK(r.json["turns"][0]["tokens"][0]["top"].empty());
    CHECK(m4cxr_result_get_token_alternative(r.result, 0, 0, 0, &tok) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(m4cxr_result_get_token(r.result, 0, 0, nullptr) == M4CXR_ERR_INVALID_ARGUMENT);
    tok.struct_size = 3;
    CHECK(m4cxr_result_get_token(r.result, 0, 0, &tok) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(m4cxr_result_token_count(r.result, 1) == 0);  // no such turn
    CHECK(std::strlen(m4cxr_last_error()) > 0);
    CHECK(m4cxr_result_token_count(nullptr, 0) == 0);
    CHECK(m4cxr_result_get_token(nullptr, 0, 0, &tok) == M4CXR_ERR_INVALID_HANDLE);
  }
  SUBCASE("top_logprobs outside 0..100 is refused when logprobs is on, ignored when off") {
    auto g = greedy(3);
    g.logprobs = 1;
    g.top_logprobs = 101;
    CHECK(m4cxr_vqa(s, im, "Is there pleural effusion?", &g, &t) == M4CXR_ERR_INVALID_ARGUMENT);
    g.top_logprobs = -1;
    CHECK(m4cxr_vqa(s, im, "Is there pleural effusion?", &g, &t) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(t == nullptr);
    g.logprobs = 0;
    REQUIRE(m4cxr_vqa(s, im, "Is there pleural effusion?", &g, &t) == M4CXR_OK);
    m4cxr_task_free(t);
  }
  SUBCASE("a struct of the 0.2 size never reads logprobs from its padding") {
    // 0.2's layout ended with continue_conversation; its sizeof covered the padding
    // where logprobs now lies.
    struct v02 {
      size_t struct_size;
      int max_new_tokens, do_sample;
      float temperature;
      int top_k;
      float top_p;
      uint64_t seed;
      int continue_conversation;
    };
    static_assert(sizeof(v02) < sizeof(m4cxr_generation_options), "a field was added since 0.2");
    unsigned char buf[sizeof(m4cxr_generation_options)];
    std::memset(buf, 0x01, sizeof buf);  // "garbage" padding: non-zero
    REQUIRE(m4cxr_generation_options_init(reinterpret_cast<m4cxr_generation_options*>(buf), sizeof(v02)) == M4CXR_OK);
    std::memset(buf + offsetof(v02, continue_conversation) + sizeof(int), 0x01,
                sizeof(v02) - offsetof(v02, continue_conversation) - sizeof(int));
    v02 o;
    std::memcpy(&o, buf, sizeof o);
    o.max_new_tokens = 2;
    std::memcpy(buf, &o, sizeof o);
    REQUIRE(m4cxr_vqa(s, im, "Is there pleural effusion?", reinterpret_cast<m4cxr_generation_options*>(buf), &t) ==
            M4CXR_OK);
    Run r;
    drive(t, r);
    CHECK(!r.json["turns"][0].contains("tokens"));
    CHECK(m4cxr_result_token_count(r.result, 0) == 0);
  }
  m4cxr_session_free(s);
  m4cxr_image_free(im);
}
