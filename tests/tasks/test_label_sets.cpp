// Label catalogues (docs/upstream-tasks.md §1) and their agreement with the golden prompt inputs.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "tasks/label_sets.h"
#include "tasks/python_text.h"
#include "tasks_test_util.h"

using namespace m4cxr;
using namespace m4cxr_tasks_test;

TEST_CASE("labels: CheXbert conditions and {F13}") {
  REQUIRE(cot_findings().size() == 13);
  for (size_t i = 0; i < 13; ++i) CHECK(cot_findings()[i] == pytext::lower(kChexbertConditions[i]));
  CHECK(kChexbertConditions[kNoFindingIndex] == "No Finding");
  CHECK(kChexbertConditions[kSupportDevicesIndex] == "Support Devices");
  CHECK(&label_set(LabelSet::mimic_cxr) == &cot_findings());
  CHECK(label_set(LabelSet::chexpert) == cot_findings());
}

TEST_CASE("labels: presets") {
  CHECK(label_set(LabelSet::vindr_cxr).size() == 14);
  CHECK(label_set(LabelSet::nih_chestxray14).size() == 14);
  CHECK(label_set(LabelSet::nih_boxed).size() == 7);
  CHECK(label_set(LabelSet::chestx_det10).size() == 10);
  CHECK(label_set(LabelSet::imagenome_regions).size() == 29);
  CHECK(label_set(LabelSet::imagenome_regions).front() == "right lung");
  CHECK(label_set(LabelSet::imagenome_regions).back() == "abdomen");
  CHECK(label_set(LabelSet::organs) == std::vector<std::string>{"lung"});
  // BRAX has the same 13 concepts as {F13}
  const auto& brax = label_set(LabelSet::brax);
  CHECK(std::set<std::string>(brax.begin(), brax.end()) == std::set<std::string>(cot_findings().begin(), cot_findings().end()));
  std::set<std::string> names;
  for (LabelSet s : all_label_sets()) {
    const std::string_view name = label_set_name(s);
    CHECK(names.insert(std::string(name)).second);
    CHECK(label_set_from_name(name) == s);
    for (const std::string& label : label_set(s)) {
      CHECK(label == pytext::lower(label));  // prompts use lower case only
      CHECK(label.find(", ") == std::string::npos);
    }
  }
  CHECK(all_label_sets().size() == 15);
  CHECK_FALSE(label_set_from_name("VinDr").has_value());
  CHECK_FALSE(label_set_from_name("").has_value());
}

TEST_CASE("labels: the golden classification cases use these lists") {
  const std::map<std::string, LabelSet> by_case = {
      {"C1-mimic#t1", LabelSet::mimic_cxr}, {"C1-chexpert#t1", LabelSet::chexpert},
      {"C1-brax#t1", LabelSet::brax},       {"C1-vindr#t1", LabelSet::vindr_cxr},
      {"C1-nih-normal#t1", LabelSet::nih_chestxray14},
      {"C1-chestxdet-normal#t1", LabelSet::chestx_det10},
      {"C1-siim#t1", LabelSet::siim},       {"C1-covid19-normal#t1", LabelSet::covid19_radiography},
      {"G4-mf-ground-chestxdet#t1", LabelSet::chestx_det10}};
  int seen = 0;
  for (const auto& c : cases()) {
    const auto it = by_case.find(c.at("id").get<std::string>());
    if (it == by_case.end()) continue;
    CAPTURE(it->first);
    CHECK(c.at("inputs").at("labels").get<std::vector<std::string>>() == label_set(it->second));
    ++seen;
  }
  CHECK(seen == static_cast<int>(by_case.size()));
  // the R/C MIMIC cases all list {F13}
  for (const auto& c : cases())
    if (c.at("inputs").contains("labels") && (c.at("task") == "R2" || c.at("task") == "R4" || c.at("task") == "R6"))
      CHECK(c.at("inputs").at("labels").get<std::vector<std::string>>() == cot_findings());
  // every ImaGenome region in the golden inputs is one of the 29
  const auto& regions = label_set(LabelSet::imagenome_regions);
  for (const auto& c : cases())
    if (c.at("inputs").contains("items"))
      for (const auto& item : c.at("inputs").at("items"))
        if (item.contains("region"))
          CHECK(std::find(regions.begin(), regions.end(), item.at("region").get<std::string>()) != regions.end());
}
