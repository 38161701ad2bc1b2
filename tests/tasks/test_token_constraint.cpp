// Token-level constrained decoding over the real Mistral tokenizer (issue 14): whatever the
// model's scores, the decoded answer is in the task's format and parses.
#include <doctest/doctest.h>

#include <chrono>
#include <random>

#include "tasks/label_sets.h"
#include "tasks/output_parsing.h"
#include "tasks/token_constraint.h"
#include "tasks_test_util.h"

using namespace m4cxr;
using namespace m4cxr_tasks_test;

namespace {

std::shared_ptr<const TokenTexts> texts() {
  static const auto t = std::make_shared<const TokenTexts>(mistral());
  return t;
}

// Decodes under the constraint with arbitrary scores (a random model): at each step a
// random allowed id, EOS with some probability once it is allowed. Returns the ids.
std::vector<int32_t> run(const std::shared_ptr<const AnswerFormat>& format, std::mt19937& rng, double* ms_per_step) {
  TokenConstraint c(texts(), format);
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;
  double ms = 0;
  for (int step = 0; step < 400; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    c.allowed(&mask);
    ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::vector<int32_t> ok;
    for (size_t i = 0; i < mask.size(); ++i)
      if (mask[i]) ok.push_back(static_cast<int32_t>(i));
    CAPTURE(c.text());
    REQUIRE_FALSE(ok.empty());
    const int32_t eos = mistral().eos_id();
    int32_t id = ok[rng() % ok.size()];
    if (mask[static_cast<size_t>(eos)] && rng() % 3 == 0) id = eos;
    c.accept(id);
    ids.push_back(id);
    if (id == eos) break;
  }
  *ms_per_step = ms / static_cast<double>(ids.size());
  REQUIRE(ids.back() == mistral().eos_id());
  CHECK(c.complete());
  CHECK(mistral().decode(ids) == c.text());  // the constraint's text is what decode() gives
  return ids;
}

}  // namespace

TEST_CASE("token constraint: random scores still give answers in the format that parse") {
  std::mt19937 rng(5);
  const auto& labels = label_set(LabelSet::mimic_cxr);
  struct Case {
    std::string name;
    std::shared_ptr<const AnswerFormat> format;
  };
  const std::vector<Case> cases = {
      {"G1", std::make_shared<const AnswerFormat>(AnswerFormat::box_answer(AnswerFormat::BoxAnswer::yes_boxes_or_not_present))},
      {"G3", std::make_shared<const AnswerFormat>(AnswerFormat::box_answer(AnswerFormat::BoxAnswer::boxes_period))},
      {"G5", std::make_shared<const AnswerFormat>(AnswerFormat::box_answer(AnswerFormat::BoxAnswer::boxes))},
      {"G9", std::make_shared<const AnswerFormat>(AnswerFormat::box_answer(AnswerFormat::BoxAnswer::one_box_period))},
      {"C1", std::make_shared<const AnswerFormat>(AnswerFormat::label_list(labels))},
      {"G10", std::make_shared<const AnswerFormat>(AnswerFormat::one_label(label_set(LabelSet::chestx_det10)))},
      {"G4", std::make_shared<const AnswerFormat>(AnswerFormat::named_boxes(label_set(LabelSet::vindr_cxr)))},
  };
  double worst_ms = 0;
  for (const Case& c : cases) {
    CAPTURE(c.name);
    for (int run_i = 0; run_i < 12; ++run_i) {
      double ms = 0;
      const auto ids = run(c.format, rng, &ms);
      worst_ms = std::max(worst_ms, ms);
      const std::string text = mistral().decode(ids);
      CAPTURE(text);
      REQUIRE(c.format->matches(text));
      const std::string name = c.name;
      // Upstream's parsing rules read what was written.
      const size_t brackets = static_cast<size_t>(std::count(text.begin(), text.end(), '['));
      if (name == "G1" || name == "G3" || name == "G5" || name == "G9") {
        CHECK(parse_boxes(text).size() == brackets);
        if (name == "G1") CHECK((brackets == 0) == is_not_present(text));
      } else if (name == "C1" && text != "Not found.") {
        CHECK(parse_findings(text, labels).size() >= static_cast<size_t>(std::count(text.begin(), text.end(), ',')) + 1);
      } else if (name == "G4" && text != "Not found.") {
        size_t boxes = 0;
        for (const auto& group : parse_named_boxes(text)) boxes += group.second.size();
        CHECK(boxes == brackets);
      }
    }
  }
  MESSAGE("slowest mean allowed() per step over a run: " << worst_ms << " ms (vocabulary " << mistral().vocab_size() << ")");
}

TEST_CASE("token constraint: EOS only on a complete answer; refused ids throw") {
  auto f = std::make_shared<const AnswerFormat>(AnswerFormat::box_answer(AnswerFormat::BoxAnswer::boxes_period));
  TokenConstraint c(texts(), f);
  std::vector<uint8_t> mask;
  c.allowed(&mask);
  CHECK(mask[static_cast<size_t>(mistral().eos_id())] == 0);
  CHECK(mask[static_cast<size_t>(mistral().bos_id())] == 0);
  CHECK_THROWS_AS(c.accept(mistral().eos_id()), Error);
  const int32_t yes = mistral().encode_chunk("Yes")[0];
  CHECK(mask[static_cast<size_t>(yes)] == 0);
  CHECK_THROWS_AS(c.accept(yes), Error);
  for (int32_t id : mistral().encode_chunk("[1,2,3,4].")) {
    c.allowed(&mask);
    REQUIRE(mask[static_cast<size_t>(id)] == 1);
    c.accept(id);
  }
  c.allowed(&mask);
  CHECK(mask[static_cast<size_t>(mistral().eos_id())] == 1);
  CHECK(c.text() == "[1,2,3,4].");
}
