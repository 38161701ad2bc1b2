// Issue 14, confidence through the C API on the tiny golden fp32 model: a label score for
// every candidate of a classification and of a report's findings turn, in the question's
// order, `written` exactly for the findings; box probabilities; the JSON agrees with the
// accessors; the structs' size rules and the errors the header promises. (That the values
// follow their definition is tests/model, test_answer_confidence.cpp.)
#include <cmath>
#include <cstddef>
#include <cstring>

#include "capi_support.h"

using namespace capi_test;
using nlohmann::json;

namespace {

std::vector<std::string> findings_of(const m4cxr_result* r) {
  std::vector<std::string> out;
  for (size_t i = 0; i < m4cxr_result_finding_count(r); ++i) out.push_back(m4cxr_result_finding(r, i));
  return out;
}

// Label scores of a result, checked against its findings and its JSON.
void check_label_scores(const Run& run, const std::vector<std::string>& labels) {
  REQUIRE(m4cxr_result_label_score_count(run.result) == labels.size());
  const auto findings = findings_of(run.result);
  const auto doc = nlohmann::ordered_json::parse(m4cxr_result_json(run.result));  // keeps the key order
  REQUIRE(doc.contains("label_scores"));
  REQUIRE(doc["label_scores"].size() == labels.size());
  size_t i = 0;
  for (const auto& [name, value] : doc["label_scores"].items()) {
    CAPTURE(i);
    m4cxr_label_score ls;
    ls.struct_size = sizeof ls;
    REQUIRE(m4cxr_result_get_label_score(run.result, i, &ls) == M4CXR_OK);
    CHECK(ls.struct_size == sizeof ls);
    CHECK(std::string(ls.label) == labels[i]);
    CHECK(name == labels[i]);  // candidate order
    CHECK(value.get<double>() == ls.score);
    CHECK(ls.score >= 0);
    CHECK(ls.score <= 1);
    const bool found = std::find(findings.begin(), findings.end(), labels[i]) != findings.end();
    CHECK(ls.written == (found ? 1 : 0));
    CHECK(doc["label_written"][name].get<bool>() == found);
    ++i;
  }
}

Run classify(const std::vector<const char*>& labels, m4cxr_generation_options g) {
  m4cxr_session* s = nullptr;
  REQUIRE(m4cxr_session_create(model(), &s) == M4CXR_OK);
  m4cxr_image* im = image("gray8_73x101.png");
  m4cxr_task* t = nullptr;
  REQUIRE_MESSAGE(m4cxr_classify(s, im, labels.data(), labels.size(), &g, &t) == M4CXR_OK, m4cxr_last_error());
  Run r;
  drive(t, r);
  m4cxr_image_free(im);
  m4cxr_session_free(s);
  return r;
}

}  // namespace

TEST_CASE("capi confidence: classification scores every label, written ones are the findings, JSON agrees") {
  const std::vector<const char*> labels{"edema", "cardiomegaly", "pleural effusion", "atelectasis"};
  for (int constrained : {0, 1}) {
    CAPTURE(constrained);
    auto g = greedy(24);
    g.constrained = constrained;
    Run r = classify(labels, g);
    check_label_scores(r, {labels.begin(), labels.end()});
    if (constrained) CHECK(!findings_of(r.result).empty());  // this model names one then
    // Errors: index past the end, NULL, a struct_size outside the published range.
    m4cxr_label_score ls;
    ls.struct_size = sizeof ls;
    CHECK(m4cxr_result_get_label_score(r.result, labels.size(), &ls) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(std::string(m4cxr_last_error()).find("out of range") != std::string::npos);
    CHECK(m4cxr_result_get_label_score(r.result, 0, nullptr) == M4CXR_ERR_INVALID_ARGUMENT);
    ls.struct_size = sizeof ls + 8;
    CHECK(m4cxr_result_get_label_score(r.result, 0, &ls) == M4CXR_ERR_INVALID_ARGUMENT);
    ls.struct_size = 4;
    CHECK(m4cxr_result_get_label_score(r.result, 0, &ls) == M4CXR_ERR_INVALID_ARGUMENT);
  }
  // Scores do not depend on whether token log-probabilities are recorded.
  auto off = greedy(24), on = greedy(24);
  on.logprobs = 1;
  on.top_logprobs = 3;
  Run a = classify(labels, off), b = classify(labels, on);
  CHECK(a.json["label_scores"] == b.json["label_scores"]);
}

TEST_CASE("capi confidence: a report scores the 13 CheXbert findings of its findings turn; other tasks none") {
  m4cxr_session* s = nullptr;
  REQUIRE(m4cxr_session_create(model(), &s) == M4CXR_OK);
  m4cxr_image* im = image("gray8_73x101.png");
  auto g = greedy(16);
  g.constrained = 1;
  m4cxr_task* t = nullptr;
  REQUIRE(m4cxr_report(s, (const m4cxr_image* const*)&im, 1, &g, &t) == M4CXR_OK);
  Run report;
  drive(t, report);
  std::vector<std::string> names;
  const auto doc = nlohmann::ordered_json::parse(m4cxr_result_json(report.result));
  for (const auto& [name, v] : doc["label_scores"].items()) names.push_back(name);
  REQUIRE(names.size() == 13);
  CHECK(names.front() == "enlarged cardiomediastinum");  // the CheXbert order
  CHECK(names.back() == "support devices");
  check_label_scores(report, names);

  REQUIRE(m4cxr_vqa(s, im, "Is there edema?", &g, &t) == M4CXR_OK);
  Run vqa;
  drive(t, vqa);
  CHECK(m4cxr_result_label_score_count(vqa.result) == 0);
  CHECK(!vqa.json.contains("label_scores"));
  m4cxr_label_score ls;
  ls.struct_size = sizeof ls;
  CHECK(m4cxr_result_get_label_score(vqa.result, 0, &ls) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(m4cxr_result_label_score_count(nullptr) == 0);
  m4cxr_image_free(im);
  m4cxr_session_free(s);
}

TEST_CASE("capi confidence: boxes carry a probability; a caller of the first m4cxr_box layout gets the fields it knows") {
  m4cxr_session* s = nullptr;
  REQUIRE(m4cxr_session_create(model(), &s) == M4CXR_OK);
  m4cxr_image* im = image("gray8_73x101.png");
  auto g = greedy(40);
  g.constrained = 1;  // a well-formed box, whatever the random weights say
  m4cxr_task* t = nullptr;
  REQUIRE(m4cxr_detect_abnormalities(s, im, &g, &t) == M4CXR_OK);
  Run r;
  drive(t, r);
  REQUIRE(m4cxr_result_box_count(r.result) >= 1);
  for (size_t i = 0; i < m4cxr_result_box_count(r.result); ++i) {
    m4cxr_box b;
    b.struct_size = sizeof b;
    REQUIRE(m4cxr_result_get_box(r.result, i, &b) == M4CXR_OK);
    CHECK(b.probability > 0);
    CHECK(b.probability <= 1);
    CHECK(r.json["boxes"][i]["probability"].get<double>() == b.probability);
    // The layout of version 0.1 ends before `probability`: it is left alone.
    m4cxr_box old;
    std::memset(&old, 0, sizeof old);
    old.probability = -5;
    old.struct_size = offsetof(m4cxr_box, probability);
    REQUIRE(m4cxr_result_get_box(r.result, i, &old) == M4CXR_OK);
    CHECK(old.struct_size == offsetof(m4cxr_box, probability));
    CHECK(old.probability == -5);
    CHECK(old.model[2] == b.model[2]);
    old.struct_size = offsetof(m4cxr_box, image_index);  // shorter than any published layout
    CHECK(m4cxr_result_get_box(r.result, i, &old) == M4CXR_ERR_INVALID_ARGUMENT);
  }
  CHECK(!r.json.contains("label_scores"));
  m4cxr_image_free(im);
  m4cxr_session_free(s);
}
