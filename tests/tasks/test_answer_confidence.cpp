// Confidence of parsed answers from token probabilities (issue 14, tasks/answer_confidence.h):
// span probabilities, label starts, label scores over the real Mistral tokenizer, and the
// spans the output parsers report. (Against a real model's distributions: tests/model,
// test_answer_confidence.cpp.)
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "tasks/answer_confidence.h"
#include "tasks/output_parsing.h"
#include "tasks_test_util.h"

using namespace m4cxr;
using namespace m4cxr_tasks_test;

namespace {

std::shared_ptr<const TokenTexts> texts() {
  static const auto t = std::make_shared<const TokenTexts>(mistral());
  return t;
}

// A distribution over the vocabulary with the given probabilities (the rest share what is left).
std::vector<float> distribution(const std::vector<std::pair<int32_t, double>>& mass) {
  const size_t v = static_cast<size_t>(mistral().vocab_size());
  double left = 1;
  for (const auto& m : mass) left -= m.second;
  std::vector<float> lp(v, static_cast<float>(std::log(left / static_cast<double>(v - mass.size()))));
  for (const auto& m : mass) lp[static_cast<size_t>(m.first)] = static_cast<float>(std::log(m.second));
  return lp;
}

int32_t piece(const char* p) {
  const int32_t id = mistral().piece_to_id(p);
  REQUIRE(id != mistral().unk_id());
  return id;
}

}  // namespace

TEST_CASE("answer confidence: a span's probability is the product over the tokens that overlap it") {
  const std::vector<TokenSpan> tokens{{0, 4, std::log(0.5)}, {4, 9, std::log(0.8)}, {9, 9, std::log(0.1)},
                                      {9, 12, std::log(0.25)}};
  CHECK(span_probability(tokens, 0, 4) == doctest::Approx(0.5));
  CHECK(span_probability(tokens, 3, 5) == doctest::Approx(0.4));        // reaches into two tokens
  CHECK(span_probability(tokens, 4, 12) == doctest::Approx(0.2));       // the empty token does not count
  CHECK(span_probability(tokens, 0, 12) == doctest::Approx(0.1));
  CHECK(span_probability(tokens, 5, 5) == 0);                           // empty span
  CHECK(span_probability(tokens, 20, 30) == 0);                         // nothing wrote it
}

TEST_CASE("answer confidence: where a label can start") {
  CHECK(LabelStartScorer::is_label_start(""));
  CHECK(LabelStartScorer::is_label_start("edema,"));
  CHECK(LabelStartScorer::is_label_start("edema,  "));
  CHECK(LabelStartScorer::is_label_start("  "));
  CHECK_FALSE(LabelStartScorer::is_label_start("edema"));
  CHECK_FALSE(LabelStartScorer::is_label_start("edema."));
  CHECK_FALSE(LabelStartScorer::is_label_start("edema, pl"));
}

TEST_CASE("answer confidence: an unwritten label scores the best probability of starting it") {
  const std::vector<std::string> labels{"pleural effusion", "edema", "atelectasis"};
  LabelStartScorer s(texts(), labels);
  // At the start of the answer: "▁ple" (first token: "ple") and "▁Ple" (case does not
  // matter) start "pleural effusion"; "▁ed" starts "edema"; "▁the" starts nothing.
  auto first = distribution({{piece("▁ple"), 0.3}, {piece("▁Ple"), 0.1}, {piece("▁ed"), 0.2}, {piece("▁the"), 0.3}});
  s.observe(false, first.data(), first.size());
  // After "pleural effusion,": "▁ed" now reads " ed" (leading spaces do not count).
  auto later = distribution({{piece("▁ed"), 0.6}, {piece("▁ple"), 0.05}});
  s.observe(true, later.data(), later.size());
  // A token longer than the label but beginning with it also starts it (the parser's
  // substring match finds the label in it).
  const std::string text = "cardiomegaly.";
  const std::vector<TokenSpan> tokens{{0, 13, std::log(0.9)}};
  const auto scores = s.scores(text, tokens);
  REQUIRE(scores.size() == 3);
  CHECK(scores[0].label == "pleural effusion");
  CHECK_FALSE(scores[0].written);
  // Every other token of the vocabulary carries a tiny share; those that start a label add it.
  CHECK(scores[0].score == doctest::Approx(0.4).epsilon(0.01));
  CHECK(scores[1].score == doctest::Approx(0.6).epsilon(0.01));
  CHECK(scores[2].score < 0.01);
  for (const auto& sc : scores) {
    CHECK(sc.score >= 0);
    CHECK(sc.score <= 1);
  }
}

TEST_CASE("answer confidence: a written label scores the probability of the tokens that wrote it, in any case and order") {
  const std::vector<std::string> labels{"pleural effusion", "edema"};
  LabelStartScorer s(texts(), labels);
  auto d = distribution({{piece("▁ed"), 0.5}});
  s.observe(false, d.data(), d.size());
  // "Edema, Pleural effusion." written as: "Ed" "ema" "," " Ple" "ural" " eff" "usion" "."
  const std::string text = "Edema, Pleural effusion.";
  const std::vector<TokenSpan> tokens{{0, 2, std::log(0.5)},   {2, 5, std::log(0.9)},   {5, 6, std::log(0.7)},
                                      {6, 10, std::log(0.4)},  {10, 14, std::log(0.8)}, {14, 18, std::log(0.5)},
                                      {18, 23, std::log(0.9)}, {23, 24, std::log(0.6)}};
  const auto scores = s.scores(text, tokens);
  REQUIRE(scores.size() == 2);
  CHECK(scores[0].written);
  CHECK(scores[0].score == doctest::Approx(0.4 * 0.8 * 0.5 * 0.9));  // " Ple" reaches into it: counts whole
  CHECK(scores[1].written);
  CHECK(scores[1].score == doctest::Approx(0.5 * 0.9));
  CHECK(parse_findings(text, labels) == labels);  // the parser agrees on what is written
}

TEST_CASE("answer confidence: a vocabulary of another size is refused") {
  LabelStartScorer s(texts(), {"edema"});
  std::vector<float> small(10, 0.f);
  CHECK_THROWS_AS(s.observe(false, small.data(), small.size()), Error);
}

TEST_CASE("output parsing: locate_finding and locate_boxes point into the text the parsers read") {
  CHECK(locate_finding("No EDEMA here, edema.", "edema") == 3);
  CHECK(locate_finding("nothing", "edema") == std::string::npos);
  CHECK(locate_finding("edema", "") == std::string::npos);
  // Non-ASCII before the label: lower-casing keeps byte offsets.
  CHECK(locate_finding("\xc3\x89t\xc3\xa9 Edema", "edema") == 6);

  const std::string text = " <s>Yes. [1,2,30,40], [ 5 , 6 , 70 , 80 ]</s>";
  const auto spans = locate_boxes(text);
  const auto boxes = parse_boxes(text);
  REQUIRE(spans.size() == boxes.size());
  REQUIRE(spans.size() == 2);
  CHECK(text.substr(spans[0].begin, spans[0].end - spans[0].begin) == "[1,2,30,40]");
  CHECK(text.substr(spans[1].begin, spans[1].end - spans[1].begin) == "[ 5 , 6 , 70 , 80 ]");
  // A marker deleted from inside a box: the span covers it in the original text.
  const std::string split = "[1,2,<s>30,40].";
  const auto s2 = locate_boxes(split);
  REQUIRE(s2.size() == 1);
  CHECK(split.substr(s2[0].begin, s2[0].end - s2[0].begin) == "[1,2,<s>30,40]");
  CHECK(parse_boxes(split).at(0).x2 == 30);
  // The bare form is the whole answer.
  const std::string bare = "  12,34,56,78.";
  const auto s3 = locate_boxes(bare);
  REQUIRE(s3.size() == 1);
  CHECK(bare.substr(s3[0].begin, s3[0].end - s3[0].begin) == "12,34,56,78.");
  // Named boxes list the same boxes in the same order.
  const std::string named = "edema [1,2,3,4], [5,6,7,8], mass [9,10,11,12].";
  size_t n = 0;
  for (const auto& g : parse_named_boxes(named)) n += g.second.size();
  CHECK(locate_boxes(named).size() == n);
  CHECK(box_probabilities(named, {{0, named.size(), std::log(0.5)}}) == std::vector<double>{0.5, 0.5, 0.5});
}
