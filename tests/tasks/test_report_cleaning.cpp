// clean_report_mimic_cxr (docs/upstream-tasks.md §8) against upstream's outputs.
#include <doctest/doctest.h>

#include <string>

#include "tasks/report_cleaning.h"
#include "tasks_test_util.h"

using m4cxr::clean_report_mimic_cxr;
using namespace m4cxr_tasks_test;

TEST_CASE("cleaning: every raw/cleaned pair of the golden data") {
  int pairs = 0;
  for (const auto& c : cases()) {
    const auto& in = c.at("inputs");
    for (const char* key : {"report", "prior_report", "current_report"}) {
      const std::string raw = std::string(key) + "_raw";
      if (!in.contains(raw)) continue;
      CAPTURE(c.at("id").get<std::string>());
      CHECK(clean_report_mimic_cxr(in.at(raw).get<std::string>()) ==
            in.at(std::string(key) + "_cleaned").get<std::string>());
      ++pairs;
    }
    // RaDialog report answers were cleaned the same way.
    if (c.at("task") == "V3" && in.contains("raw_conversations") && c.contains("target") && !c.at("target").is_null()) {
      const auto& raw = in.at("raw_conversations");
      if (raw.size() == 1 && raw[0].at("human").get<std::string>().find("write the finding section") != std::string::npos) {
        CHECK(clean_report_mimic_cxr(raw[0].at("gpt").get<std::string>()) == c.at("target").get<std::string>());
        ++pairs;
      }
    }
  }
  for (const auto& r : parsing_records())
    if (r.contains("gt_findings")) {
      CHECK(clean_report_mimic_cxr(r.at("gt_findings").get<std::string>()) == r.at("gt_cleaned_for_nlg").get<std::string>());
      ++pairs;
    }
  CHECK(pairs >= 20);
  MESSAGE(pairs << " raw/cleaned pairs checked");
}

// Expected values worked out by hand from upstream's code (golden/prompts/README.md).
TEST_CASE("cleaning: documented quirks") {
  CHECK(clean_report_mimic_cxr("No change compared to ___.") == "No change compared to .");
  CHECK(clean_report_mimic_cxr("Discussed with Dr. ___ at 10:15 a.m.") == "Discussed with Dr.  at 1015 am.");
  CHECK(clean_report_mimic_cxr("1. Edema. 2. Effusion (left > right).") == "Edema. Effusion left > right.");
  CHECK(clean_report_mimic_cxr("Well-defined; \"round\" / 'odd' {x} [y] 5% +1 a^b & c!") ==
        "Well-defined round odd x y 5 1 ab c.");
  CHECK(clean_report_mimic_cxr("") == ".");
  CHECK(clean_report_mimic_cxr("   ") == ".");
  CHECK(clean_report_mimic_cxr("A. . B") == "A. . B.");          // empty pieces are kept
  CHECK(clean_report_mimic_cxr("A.... B") == "A. B.");
  CHECK(clean_report_mimic_cxr("A\nB\r\nC\tD") == "A B C D.");  // \s+ collapse (\r and \t too)
  CHECK(clean_report_mimic_cxr("Lungs clear.\n\n") == "Lungs clear.");
  CHECK(clean_report_mimic_cxr("11. item") == "1item.");        // "1. " removed inside "11. "
  CHECK(clean_report_mimic_cxr("Size 3. 5 cm") == "Size. 5 cm.");  // " 3. " -> ". "
  // Unicode whitespace is whitespace for Python (strip and \s)
  CHECK(clean_report_mimic_cxr("\xC2\xA0" "Heart\xE2\x80\x83normal\xE3\x80\x80") == "Heart normal.");
  // non-ASCII text survives untouched; malformed bytes pass through
  CHECK(clean_report_mimic_cxr("Kleiner Pneumothorax \xE2\x80\x93 unver\xC3\xA4ndert") ==
        "Kleiner Pneumothorax \xE2\x80\x93 unver\xC3\xA4ndert.");
  CHECK(clean_report_mimic_cxr("a\xFF" "b") == "a\xFF" "b.");
}
