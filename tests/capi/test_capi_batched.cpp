// Batched decoding seen through the C ABI: sessions of one model running different tasks
// (a two-turn chain-of-thought report, classification, grounding, detection, region
// naming, VQA, difference VQA, a follow-up report) with different lengths, each on its
// own thread at once, give the same generated ids and texts as each one alone (fp32), and
// their confidence figures agree to fp32 rounding.
#include "capi/capi_support.h"

#include <functional>
#include <thread>

using namespace capi_test;

namespace {

using Start = std::function<m4cxr_status(m4cxr_session*, const m4cxr_generation_options*, m4cxr_task**)>;

nlohmann::json run_alone(const Start& start, int max_new) {
  m4cxr_session* s = nullptr;
  REQUIRE(m4cxr_session_create(model(), &s) == M4CXR_OK);
  const m4cxr_generation_options g = greedy(max_new);
  m4cxr_task* t = nullptr;
  REQUIRE_MESSAGE(start(s, &g, &t) == M4CXR_OK, m4cxr_last_error());
  Run r;
  drive(t, r);
  m4cxr_session_free(s);
  return r.json;
}

// What must not depend on the company a session keeps: every turn's ids and text, the
// findings and boxes parsed from them.
void check_same(const nlohmann::json& alone, const nlohmann::json& together) {
  REQUIRE(alone["turns"].size() == together["turns"].size());
  for (size_t i = 0; i < alone["turns"].size(); ++i) {
    CHECK(alone["turns"][i]["generated_ids"] == together["turns"][i]["generated_ids"]);
    CHECK(alone["turns"][i]["text"] == together["turns"][i]["text"]);
  }
  CHECK(alone["text"] == together["text"]);
  CHECK(alone["findings"] == together["findings"]);
  REQUIRE(alone["boxes"].size() == together["boxes"].size());
  for (size_t i = 0; i < alone["boxes"].size(); ++i) {
    CHECK(alone["boxes"][i]["pixels"] == together["boxes"][i]["pixels"]);
    CHECK(alone["boxes"][i]["probability"].get<double>() ==
          doctest::Approx(together["boxes"][i]["probability"].get<double>()).epsilon(1e-4));
  }
  REQUIRE(alone.contains("label_scores") == together.contains("label_scores"));
  if (!alone.contains("label_scores")) return;
  REQUIRE(alone.at("label_scores").size() == together.at("label_scores").size());
  for (const auto& kv : alone.at("label_scores").items())
    CHECK(kv.value().get<double>() == doctest::Approx(together.at("label_scores").at(kv.key()).get<double>()).epsilon(1e-4));
}

}  // namespace

TEST_CASE("capi: sessions running different tasks at once get what each gets alone (batched decoding)") {
  m4cxr_image* a = image("rgb_150x200.jpg");
  m4cxr_image* b = image("gray8_70x70.png");
  const char* labels[] = {"Atelectasis", "Cardiomegaly", "Edema"};
  const double box[4] = {30, 40, 120, 160};
  struct Job {
    const char* name;
    int max_new;
    Start start;
  };
  const std::vector<Job> jobs = {
      {"report (two turns, two images)", 24,
       [&](m4cxr_session* s, const m4cxr_generation_options* g, m4cxr_task** t) {
         const m4cxr_image* ims[] = {a, b};
         return m4cxr_report(s, ims, 2, g, t);
       }},
      {"classify", 9, [&](m4cxr_session* s, const m4cxr_generation_options* g, m4cxr_task** t) { return m4cxr_classify(s, a, labels, 3, g, t); }},
      {"ground finding", 17, [&](m4cxr_session* s, const m4cxr_generation_options* g, m4cxr_task** t) { return m4cxr_ground_finding(s, b, "Nodule", g, t); }},
      {"detect", 30, [&](m4cxr_session* s, const m4cxr_generation_options* g, m4cxr_task** t) { return m4cxr_detect_abnormalities(s, a, g, t); }},
      {"name region", 5, [&](m4cxr_session* s, const m4cxr_generation_options* g, m4cxr_task** t) { return m4cxr_identify_region(s, a, M4CXR_NAME_REGION, box, 1, g, t); }},
      {"vqa", 12, [&](m4cxr_session* s, const m4cxr_generation_options* g, m4cxr_task** t) { return m4cxr_vqa(s, b, "Is there pleural effusion?", g, t); }},
      {"difference vqa", 20, [&](m4cxr_session* s, const m4cxr_generation_options* g, m4cxr_task** t) { return m4cxr_difference_vqa(s, a, b, "what has changed?", g, t); }},
      {"follow-up report", 14,
       [&](m4cxr_session* s, const m4cxr_generation_options* g, m4cxr_task** t) {
         const m4cxr_image* p[] = {a};
         const m4cxr_image* c[] = {b};
         return m4cxr_report_followup(s, p, 1, "Heart size is normal.", c, 1, g, t);
       }},
  };
  std::vector<nlohmann::json> alone, together(jobs.size());
  for (const Job& j : jobs) alone.push_back(run_alone(j.start, j.max_new));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < jobs.size(); ++i)
    threads.emplace_back([&, i] { together[i] = run_alone(jobs[i].start, jobs[i].max_new); });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < jobs.size(); ++i) {
    INFO(jobs[i].name);
    check_same(alone[i], together[i]);
  }
  m4cxr_image_free(a);
  m4cxr_image_free(b);
}
