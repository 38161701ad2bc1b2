// Issue 14, constrained decoding through the C API on the tiny golden model (random
// weights: arbitrary text unconstrained, the hard case). Every answer with a fixed shape
// must come out in upstream's exact format, checked here by regular expressions written
// from docs/upstream-tasks.md independently of the engine's automaton, and must parse
// (the result's boxes and findings are what the text says).
#include <random>
#include <regex>

#include "capi_support.h"

using namespace capi_test;

namespace {

const std::string kNum = "(100|[1-9]?[0-9])";
const std::string kBox = "\\[" + kNum + "," + kNum + "," + kNum + "," + kNum + "\\]";
const std::string kBoxes = kBox + "(, " + kBox + ")*";

// The 13 CheXbert findings, lower case, in their order (upstream's {F13}).
const std::vector<std::string> kF13 = {"enlarged cardiomediastinum", "cardiomegaly", "lung opacity", "lung lesion",
                                       "edema", "consolidation", "pneumonia", "atelectasis", "pneumothorax",
                                       "pleural effusion", "pleural other", "fracture", "support devices"};

std::string alternatives(const std::vector<std::string>& labels) {
  std::string s = "(";
  for (size_t i = 0; i < labels.size(); ++i) s += (i ? "|" : "") + std::regex_replace(labels[i], std::regex("[/.]"), "\\$&");
  return s + ")";
}

// Every box in the text, as numbers; each must have x1 < x2 and y1 < y2.
std::vector<std::array<int, 4>> boxes_in(const std::string& text) {
  std::vector<std::array<int, 4>> out;
  const std::regex box(kBox);
  for (auto it = std::sregex_iterator(text.begin(), text.end(), box); it != std::sregex_iterator(); ++it) {
    std::array<int, 4> b{};
    for (int i = 0; i < 4; ++i) b[static_cast<size_t>(i)] = std::stoi((*it)[i + 1].str());
    CHECK(b[0] < b[2]);
    CHECK(b[1] < b[3]);
    out.push_back(b);
  }
  return out;
}

// The labels of a "a, b." answer appear in candidate order, each once.
void check_label_order(const std::string& text, const std::vector<std::string>& labels) {
  if (text == "Not found.") return;
  std::string body = text.substr(0, text.size() - 1);
  int last = -1;
  size_t start = 0;
  while (start <= body.size()) {
    const size_t comma = body.find(", ", start);
    const std::string name = body.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto it = std::find(labels.begin(), labels.end(), name);
    REQUIRE(it != labels.end());
    const int index = static_cast<int>(it - labels.begin());
    CHECK(index > last);
    last = index;
    if (comma == std::string::npos) break;
    start = comma + 2;
  }
}

std::vector<m4cxr_image*> test_images() {
  std::vector<m4cxr_image*> out;
  for (const char* name : {"gray8_70x70.png", "gray8_73x101.png", "gray16_200x150.png", "rgb_150x200.jpg",
                           "rgb_640x512.png", "rgba_60x45.png"})
    out.push_back(image(name));
  std::mt19937 rng(14);
  for (int i = 0; i < 6; ++i) {  // noise of assorted sizes: more arbitrary answers
    const int w = 40 + static_cast<int>(rng() % 200), h = 40 + static_cast<int>(rng() % 200);
    std::vector<uint8_t> px(static_cast<size_t>(w * h * 3));
    for (auto& p : px) p = static_cast<uint8_t>(rng());
    m4cxr_image* im = nullptr;
    REQUIRE(m4cxr_image_from_pixels(model(), px.data(), px.size(), w, h, static_cast<size_t>(w) * 3,
                                    M4CXR_PIXELS_RGB8, &im) == M4CXR_OK);
    out.push_back(im);
  }
  return out;
}

struct Answer {
  std::string text;
  std::vector<std::string> turns;
  size_t boxes = 0, findings = 0;
};

template <typename Start>
Answer run(m4cxr_session* s, Start&& start) {
  m4cxr_task* t = nullptr;
  REQUIRE_MESSAGE(start(s, &t) == M4CXR_OK, std::string(m4cxr_last_error()));
  Run r;
  drive(t, r);
  Answer a;
  a.text = m4cxr_result_text(r.result);
  for (size_t i = 0; i < m4cxr_result_turn_count(r.result); ++i) a.turns.push_back(m4cxr_result_turn_text(r.result, i));
  a.boxes = m4cxr_result_box_count(r.result);
  a.findings = m4cxr_result_finding_count(r.result);
  return a;
}

}  // namespace

TEST_CASE("capi constrained: every fixed-shape answer is in upstream's format and parses, on many images") {
  m4cxr_session* s = nullptr;
  REQUIRE(m4cxr_session_create(model(), &s) == M4CXR_OK);
  auto g = greedy(60);
  g.constrained = 1;
  const std::vector<std::string> custom = {"edema", "nodule/mass", "pleural effusion"};
  const char* custom_c[] = {"edema", "nodule/mass", "pleural effusion"};
  int answers = 0;
  for (m4cxr_image* im : test_images()) {
    const m4cxr_image* const* ims = (const m4cxr_image* const*)&im;
    int w = 0, h = 0;
    REQUIRE(m4cxr_image_get_size(im, &w, &h) == M4CXR_OK);
    const double box_px[4] = {w / 2.0 - 10, h / 2.0 - 10, w / 2.0 + 10, h / 2.0 + 10};  // inside the visible square
    // C1 with the default and with a custom label list.
    Answer a = run(s, [&](m4cxr_session* ss, m4cxr_task** t) { return m4cxr_classify(ss, im, nullptr, 0, &g, t); });
    CAPTURE(a.text);
    CHECK(std::regex_match(a.text, std::regex("(" + alternatives(kF13) + "(, " + alternatives(kF13) + ")*\\.|Not found\\.)")));
    check_label_order(a.text, kF13);
    a = run(s, [&](m4cxr_session* ss, m4cxr_task** t) { return m4cxr_classify(ss, im, custom_c, 3, &g, t); });
    CHECK(std::regex_match(a.text, std::regex("(" + alternatives(custom) + "(, " + alternatives(custom) + ")*\\.|Not found\\.)")));
    check_label_order(a.text, custom);
    CHECK((a.text == "Not found.") == (a.findings == 0));
    // R2: the findings turn of the report; the report turn stays free text.
    a = run(s, [&](m4cxr_session* ss, m4cxr_task** t) { return m4cxr_report(ss, ims, 1, &g, t); });
    REQUIRE(a.turns.size() == 2);
    CHECK(std::regex_match(a.turns[0], std::regex("(" + alternatives(kF13) + "(, " + alternatives(kF13) + ")*\\.|Not found\\.)")));
    check_label_order(a.turns[0], kF13);
    // G1.
    a = run(s, [&](m4cxr_session* ss, m4cxr_task** t) { return m4cxr_ground_finding(ss, im, "pleural effusion", &g, t); });
    CHECK(std::regex_match(a.text, std::regex("Yes\\. " + kBoxes + "\\.|Not present\\.")));
    CHECK(a.boxes == boxes_in(a.text).size());
    // G3, G8: boxes and a period; G5: no period; G9: one box.
    a = run(s, [&](m4cxr_session* ss, m4cxr_task** t) { return m4cxr_detect_abnormalities(ss, im, &g, t); });
    CHECK(std::regex_match(a.text, std::regex(kBoxes + "\\.")));
    CHECK(a.boxes == boxes_in(a.text).size());
    a = run(s, [&](m4cxr_session* ss, m4cxr_task** t) { return m4cxr_ground_phrase(ss, im, "small left effusion", &g, t); });
    CHECK(std::regex_match(a.text, std::regex(kBoxes + "\\.")));
    CHECK(a.boxes == boxes_in(a.text).size());
    a = run(s, [&](m4cxr_session* ss, m4cxr_task** t) { return m4cxr_ground_organ(ss, im, nullptr, &g, t); });
    CHECK(std::regex_match(a.text, std::regex(kBoxes)));
    CHECK(a.boxes == boxes_in(a.text).size());
    a = run(s, [&](m4cxr_session* ss, m4cxr_task** t) { return m4cxr_ground_region(ss, im, "right lung", &g, t); });
    CHECK(std::regex_match(a.text, std::regex(kBox + "\\.")));
    CHECK(a.boxes == 1);
    // G4.
    a = run(s, [&](m4cxr_session* ss, m4cxr_task** t) { return m4cxr_ground_findings(ss, im, custom_c, 3, &g, t); });
    const std::string group = alternatives(custom) + " " + kBoxes;
    CHECK(std::regex_match(a.text, std::regex(group + "(, " + group + ")*\\.|Not found\\.")));
    CHECK(a.boxes == boxes_in(a.text).size());
    // G2, G6, G10: one lower-case name and a period.
    for (m4cxr_box_question what : {M4CXR_NAME_FINDING, M4CXR_NAME_ORGAN, M4CXR_NAME_REGION}) {
      a = run(s, [&](m4cxr_session* ss, m4cxr_task** t) { return m4cxr_identify_region(ss, im, what, box_px, 1, &g, t); });
      CHECK(std::regex_match(a.text, std::regex("[a-z0-9][a-z0-9 /_()-]*\\.")));
    }
    answers += 13;
    m4cxr_image_free(im);
  }
  CHECK(answers == 12 * 13);
  m4cxr_session_free(s);
}

TEST_CASE("capi constrained: off by default and free text untouched; a budget below the shortest answer is refused") {
  auto g = greedy(8);
  CHECK(g.constrained == 0);
  m4cxr_image* im = image("gray8_70x70.png");
  m4cxr_session* s = nullptr;
  REQUIRE(m4cxr_session_create(model(), &s) == M4CXR_OK);
  // VQA is free text: the option changes nothing.
  Answer plain = run(s, [&](m4cxr_session* ss, m4cxr_task** t) { return m4cxr_vqa(ss, im, "Is there edema?", &g, t); });
  auto c = g;
  c.constrained = 1;
  Answer constrained = run(s, [&](m4cxr_session* ss, m4cxr_task** t) { return m4cxr_vqa(ss, im, "Is there edema?", &c, t); });
  CHECK(plain.text == constrained.text);
  // "Not present." takes 12 bytes: with 8 new tokens the answer could not be finished.
  m4cxr_task* t = nullptr;
  CHECK(m4cxr_ground_finding(s, im, "edema", &c, &t) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(std::string(m4cxr_last_error()).find("max_new_tokens of at least") != std::string::npos);
  CHECK(t == nullptr);
  // The shortest budget that is accepted gives a complete answer.
  c.max_new_tokens = 13;
  Answer tight = run(s, [&](m4cxr_session* ss, m4cxr_task** tt) { return m4cxr_ground_finding(ss, im, "edema", &c, tt); });
  CHECK(std::regex_match(tight.text, std::regex("Yes\\. " + kBoxes + "\\.|Not present\\.")));
  m4cxr_session_free(s);
  m4cxr_image_free(im);
}
