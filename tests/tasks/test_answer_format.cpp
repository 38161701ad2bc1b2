// Answer formats for constrained decoding (issue 14): every reference answer of the golden
// prompts matches its task's format, every prefix of it is viable, and malformed answers
// are refused at the byte where they go wrong.
#include <doctest/doctest.h>

#include <random>
#include <set>

#include "tasks/answer_format.h"
#include "tasks_test_util.h"

using namespace m4cxr;
using namespace m4cxr_tasks_test;
using nlohmann::json;

namespace {

std::vector<std::string> strings(const json& a) {
  std::vector<std::string> out;
  for (const auto& s : a) out.push_back(s.get<std::string>());
  return out;
}

// Every proper prefix is viable, the whole text complete.
void check_accepted(const AnswerFormat& f, const std::string& text) {
  CAPTURE(text);
  for (size_t n = 0; n < text.size(); ++n) {
    CAPTURE(n);
    REQUIRE(f.viable_prefix(text.substr(0, n)));
  }
  CHECK(f.matches(text));
}

// The text stays viable up to `bad_at` bytes and dies at byte `bad_at`.
void check_refused_at(const AnswerFormat& f, const std::string& text, size_t bad_at) {
  CAPTURE(text);
  CHECK(f.viable_prefix(text.substr(0, bad_at)));
  CHECK_FALSE(f.viable_prefix(text.substr(0, bad_at + 1)));
  CHECK_FALSE(f.matches(text));
}

}  // namespace

TEST_CASE("answer format: every golden reference answer matches its task's format") {
  int checked = 0;
  std::set<std::string> tasks;
  for (const json& c : read_jsonl(prompts_path("cases.jsonl"))) {
    if (!c.contains("target") || !c["target"].is_string()) continue;
    const std::string task = c["task"].get<std::string>(), target = c["target"].get<std::string>();
    const json& in = c["inputs"];
    const int turn = c["turn"].get<int>();
    CAPTURE(task);
    if (task == "C1" || ((task == "R2" || task == "R4" || task == "R6") && turn == 1 && in.contains("labels"))) {
      check_accepted(AnswerFormat::label_list(strings(in["labels"])), target);
    } else if (task == "G1") {
      check_accepted(AnswerFormat::box_answer(AnswerFormat::BoxAnswer::yes_boxes_or_not_present), target);
    } else if (task == "G3" || task == "G8") {
      check_accepted(AnswerFormat::box_answer(AnswerFormat::BoxAnswer::boxes_period), target);
    } else if (task == "G5") {
      check_accepted(AnswerFormat::box_answer(AnswerFormat::BoxAnswer::boxes), target);
    } else if (task == "G9") {
      check_accepted(AnswerFormat::box_answer(AnswerFormat::BoxAnswer::one_box_period), target);
    } else if (task == "G4") {
      check_accepted(AnswerFormat::named_boxes(strings(in["labels"])), target);
    } else if (task == "G2" || task == "G10") {
      std::vector<std::string> names;
      for (const json& item : in["items"]) names.push_back(item[task == "G2" ? "finding" : "region"].get<std::string>());
      check_accepted(AnswerFormat::one_label(names), target);
    } else if (task == "G6") {
      check_accepted(AnswerFormat::one_label({"lung", "heart"}), target);
    } else {
      continue;
    }
    tasks.insert(task);
    ++checked;
  }
  CHECK(checked >= 20);
  CHECK(tasks.size() >= 9);
}

TEST_CASE("answer format: boxes are four integers 0..100 without leading zeros, x1 < x2, y1 < y2") {
  const auto f = AnswerFormat::box_answer(AnswerFormat::BoxAnswer::boxes_period);
  check_accepted(f, "[0,0,1,1].");
  check_accepted(f, "[99,99,100,100], [0,0,100,100].");
  check_refused_at(f, "[10,20,5,30].", 8);    // x2 = 5 is not above x1 = 10 (but "5" could still become 50..59)
  check_refused_at(f, "[01,2,3,4].", 2);      // leading zero
  check_refused_at(f, "[1,2,3,101].", 9);     // over 100
  check_refused_at(f, "[1, 2,3,4].", 3);      // no spaces inside
  check_refused_at(f, "[100,0,1,1].", 3);     // x1 = 100 leaves no room for x2
  CHECK(f.viable_prefix("[1,2,3,4]"));        // without the period: viable, not complete
  CHECK_FALSE(f.matches("[1,2,3,4]"));
  check_refused_at(f, "[1,2,3,4],[5,6,7,8].", 10);  // the separator is ", "
  CHECK_FALSE(AnswerFormat::box_answer(AnswerFormat::BoxAnswer::boxes).matches("[1,2,3,4]."));  // G5: no period
  CHECK(AnswerFormat::box_answer(AnswerFormat::BoxAnswer::boxes).matches("[1,2,3,4]"));
  CHECK_FALSE(AnswerFormat::box_answer(AnswerFormat::BoxAnswer::one_box_period).matches("[1,2,3,4], [1,2,3,4]."));
  // Against a brute-force reading of the rules, on random numbers around the limits.
  std::mt19937 rng(9);
  for (int i = 0; i < 20000; ++i) {
    int v[4];
    for (int& x : v) x = static_cast<int>(rng() % 115);
    const std::string s = "[" + std::to_string(v[0]) + "," + std::to_string(v[1]) + "," + std::to_string(v[2]) + "," +
                          std::to_string(v[3]) + "].";
    const bool valid = v[0] < v[2] && v[1] < v[3] && v[2] <= 100 && v[3] <= 100;
    CAPTURE(s);
    REQUIRE(f.matches(s) == valid);
  }
}

TEST_CASE("answer format: label lists keep the candidates' order, each label at most once") {
  const auto f = AnswerFormat::label_list({"cardiomegaly", "edema", "pleural effusion", "pleural other"});
  check_accepted(f, "cardiomegaly, pleural other.");
  check_accepted(f, "Not found.");
  check_accepted(f, "edema.");
  check_refused_at(f, "edema, cardiomegaly.", 7);  // out of order
  check_refused_at(f, "edema, edema.", 7);         // twice
  check_refused_at(f, "Edema.", 0);               // the candidates' case
  check_refused_at(f, "pleural thing.", 8);
  CHECK(f.viable_prefix("Not found"));            // incomplete
  CHECK_FALSE(f.matches("Not found"));
  CHECK(f.viable_prefix("pleural "));
  // After the last candidate nothing can follow a separator: ", " is already dead.
  CHECK(f.viable_prefix("pleural other,") == false);
  CHECK(f.viable_prefix("edema, "));
  // "pleural effusion" may be followed by "pleural other", not the other way round.
  CHECK(f.matches("pleural effusion, pleural other."));
  CHECK_FALSE(f.matches("pleural other, pleural effusion."));
  // A label that is the prefix of another: both readings stay open.
  const auto g = AnswerFormat::label_list({"mass", "mass lesion"});
  CHECK(g.matches("mass."));
  CHECK(g.matches("mass lesion."));
  CHECK(g.matches("mass, mass lesion."));
}

TEST_CASE("answer format: one label, and named boxes") {
  const auto one = AnswerFormat::one_label({"svc", "right hemidiaphragm"});
  check_accepted(one, "right hemidiaphragm.");
  check_refused_at(one, "svc, right hemidiaphragm.", 3);
  const auto named = AnswerFormat::named_boxes({"atelectasis", "consolidation", "nodule"});
  check_accepted(named, "consolidation [12,40,45,88], [60,35,90,85], nodule [71,30,78,37].");
  check_accepted(named, "Not found.");
  check_refused_at(named, "nodule [1,2,3,4], consolidation [1,2,3,4].", 18);  // order
  check_refused_at(named, "nodule.", 6);  // a name needs its boxes
  CHECK_THROWS_AS(AnswerFormat::label_list({}), Error);
  CHECK_THROWS_AS(AnswerFormat::one_label({"a", ""}), Error);
}
