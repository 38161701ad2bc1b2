// Output parsers against golden/prompts/parsing.jsonl (what upstream's evaluation code
// extracts) and against the reference answers (targets) of cases.jsonl.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tasks/label_sets.h"
#include "tasks/output_parsing.h"
#include "tasks/python_text.h"
#include "tasks/task_prompts.h"
#include "tasks_test_util.h"

using namespace m4cxr;
using namespace m4cxr_tasks_test;
using nlohmann::json;

namespace {

std::vector<bool> labels_vec(const ChexbertFindings& f) { return std::vector<bool>(f.labels.begin(), f.labels.end()); }
std::vector<bool> labels_vec(const json& j) {
  std::vector<bool> out;
  for (const json& v : j) out.push_back(v.get<int>() == 1);
  return out;
}

bool contains_box(const std::vector<ModelBox>& boxes, const ModelBox& b) {
  return std::any_of(boxes.begin(), boxes.end(), [&](const ModelBox& x) { return as_vec(x) == as_vec(b); });
}

bool sane(const ModelBox& b) {
  return b.x1 >= 0 && b.y1 >= 0 && b.x2 <= 100 && b.y2 <= 100 && b.x1 <= b.x2 && b.y1 <= b.y2;
}

std::vector<std::string> named_summary(const std::vector<std::pair<std::string, std::vector<ModelBox>>>& groups) {
  std::vector<std::string> out;
  for (const auto& [name, boxes] : groups) out.push_back(name + " " + format_boxes(boxes));
  return out;
}

}  // namespace

TEST_CASE("parsing: findings records reproduce upstream compute_multi_cls_metrics") {
  int n = 0;
  for (const json& r : parsing_records()) {
    if (r.at("kind") != "findings") continue;
    const std::string raw = r.at("raw");
    CAPTURE(raw);
    const auto expected_findings = r.at("findings").get<std::vector<std::string>>();
    const ChexbertFindings up = parse_chexbert_findings(raw, MatchCase::upstream);
    CHECK(labels_vec(up) == labels_vec(r.at("labels14")));
    CHECK(up.findings == expected_findings);
    CHECK(up.no_finding == r.at("no_finding").get<bool>());
    CHECK(parse_findings(raw, cot_findings(), MatchCase::upstream) == expected_findings);
    // m4cxr's default (case-insensitive) agrees wherever the output is lower case
    const ChexbertFindings ours = parse_chexbert_findings(raw);
    if (pytext::lower(raw) == raw) {
      CHECK(labels_vec(ours) == labels_vec(r.at("labels14")));
      CHECK(ours.findings == expected_findings);
    }
    ++n;
  }
  CHECK(n == 11);
}

TEST_CASE("parsing: Title-case findings (upstream finds nothing, m4cxr reads them)") {
  const std::string raw = "Cardiomegaly, Pleural Effusion.";
  CHECK(parse_chexbert_findings(raw, MatchCase::upstream).findings.empty());
  CHECK(parse_chexbert_findings(raw, MatchCase::upstream).no_finding);
  const ChexbertFindings ours = parse_chexbert_findings(raw);
  CHECK(ours.findings == std::vector<std::string>{"cardiomegaly", "pleural effusion"});
  CHECK_FALSE(ours.no_finding);
  CHECK(ours.labels[1]);
  CHECK(ours.labels[9]);
  CHECK_FALSE(ours.labels[kNoFindingIndex]);
  // candidates come back as given, in candidate order
  CHECK(parse_findings("PLEURAL EFFUSION and Edema", {"Edema", "Pleural Effusion", "Fracture"}) ==
        std::vector<std::string>{"Edema", "Pleural Effusion"});
  CHECK(parse_findings("Edema", {"Edema"}, MatchCase::upstream) == std::vector<std::string>{});
  CHECK(parse_findings("edema", {"Edema"}, MatchCase::upstream) == std::vector<std::string>{"Edema"});
  // support devices alone is still "no finding"; empty names never match
  CHECK(parse_chexbert_findings("Support Devices.").no_finding);
  CHECK(parse_findings("anything", {"", "any"}) == std::vector<std::string>{"any"});
  // non-CheXbert sets (upstream has no parser for them)
  CHECK(parse_findings("aortic enlargement, nodule/mass.", label_set(LabelSet::vindr_cxr)) ==
        std::vector<std::string>{"aortic enlargement", "nodule/mass"});
}

TEST_CASE("parsing: boxes records") {
  // m4cxr's reading of every `boxes` record (upstream's own result is in the record).
  const std::map<std::string, std::string> ours = {
      {"[12,34,56,78].</s>", "[12,34,56,78]"},
      {"[12,34,56,78]", "[12,34,56,78]"},
      {"[12, 34, 56, 78].", "[12,34,56,78]"},
      {" [ 12 ,34 , 56,78 ] . ", "[12,34,56,78]"},
      {"[12,34,56,78], [60,35,90,85].", "[12,34,56,78], [60,35,90,85]"},  // upstream: 0 boxes
      {"Not found.", ""},
      {"12,34,56,78", "[12,34,56,78]"},
      {"[12,34,56,78", "[12,34,56,78]"},
      {"[12,34,56].", ""},
      {"[12,34,56,78,90].", ""},
      {"[120,34,156,78].", "[100,34,100,78]"},          // upstream keeps 120/156
      {"[-5,10,30,40].", "[0,10,30,40]"},               // upstream keeps -5
      {"[12.5,34,56,78].", "[12,34,56,78]"},            // upstream reads 125
      {"[12.0,34.0,56.0,78.0]", "[12,34,56,78]"},       // upstream reads 120,340,560,780
      {"The box is [12,34,56,78].", "[12,34,56,78]"},   // upstream raises ValueError
      {"[12,34,56,78] trailing words", "[12,34,56,78]"},  // upstream raises ValueError
      {"[0,0,100,100].", "[0,0,100,100]"},
      {"[78,56,34,12].", "[34,12,78,56]"},              // upstream keeps the swapped corners
      {"", ""},
      {"[74,70,95,92].</s>", "[74,70,95,92]"},
      {"[8,15,48,85], [55,14,93,86]", "[8,15,48,85], [55,14,93,86]"},  // upstream: 0 boxes
      {"[62,18,70,26].", "[62,18,70,26]"},
      {"consolidation [12,40,45,88], [60,35,90,85], nodule [71,30,78,37].",
       "[12,40,45,88], [60,35,90,85], [71,30,78,37]"},
      {"nodule [71,30,78,37].", "[71,30,78,37]"},  // upstream raises ValueError
  };
  int n = 0, upstream_boxes_checked = 0;
  for (const json& r : parsing_records()) {
    if (r.at("kind") != "boxes") continue;
    const std::string raw = r.at("raw");
    CAPTURE(raw);
    const std::vector<ModelBox> got = parse_boxes(raw);
    REQUIRE(ours.count(raw) == 1);
    CHECK(format_boxes(got) == ours.at(raw));
    for (const ModelBox& b : got) CHECK(sane(b));
    // every box upstream extracted is among ours, except where upstream misread the
    // text (out-of-range or swapped values; the table above has our reading)
    if (r.contains("boxes"))
      for (const json& jb : r.at("boxes")) {
        const ModelBox b = box_of(jb);
        if (!sane(b)) continue;
        CHECK(contains_box(got, b));
        ++upstream_boxes_checked;
      }
    // the reference answer parses to upstream's reference box
    if (r.contains("gt_box")) CHECK(format_boxes(parse_boxes(r.at("gt_label").get<std::string>())) == format_box(box_of(r.at("gt_box"))));
    ++n;
  }
  CHECK(n == static_cast<int>(ours.size()));
  CHECK(upstream_boxes_checked == 9);  // all sane upstream extractions
}

TEST_CASE("parsing: named boxes (G4)") {
  CHECK(named_summary(parse_named_boxes("consolidation [12,40,45,88], [60,35,90,85], nodule [71,30,78,37].")) ==
        std::vector<std::string>{"consolidation [12,40,45,88], [60,35,90,85]", "nodule [71,30,78,37]"});
  CHECK(named_summary(parse_named_boxes("nodule [71,30,78,37].</s>")) == std::vector<std::string>{"nodule [71,30,78,37]"});
  CHECK(parse_named_boxes("Not found.").empty());
  CHECK(parse_named_boxes("").empty());
  CHECK(named_summary(parse_named_boxes("[1,2,3,4], pleural effusion [5,60,30,95]; [70,60,95,95].")) ==
        std::vector<std::string>{" [1,2,3,4]", "pleural effusion [5,60,30,95], [70,60,95,95]"});
  CHECK(named_summary(parse_named_boxes("nodule/mass: [1,2,3,4] and other lesion [5,6,7,8]")) ==
        std::vector<std::string>{"nodule/mass [1,2,3,4]", "and other lesion [5,6,7,8]"});
  CHECK(named_summary(parse_named_boxes("12,34,56,78.")) == std::vector<std::string>{" [12,34,56,78]"});
}

TEST_CASE("parsing: the reference answers of cases.jsonl parse back to their inputs") {
  int n = 0;
  for (const json& c : cases()) {
    if (!c.contains("target") || c.at("target").is_null()) continue;
    const std::string task = c.at("task"), target = c.at("target");
    const json& in = c.at("inputs");
    const int turn = c.at("turn");
    CAPTURE(c.at("id").get<std::string>());
    if ((task == "C1" || ((task == "R2" || task == "R4" || task == "R6") && turn == 1)) && in.contains("positives")) {
      const auto labels = in.at("labels").get<std::vector<std::string>>();
      const auto positives = in.at("positives").get<std::vector<std::string>>();
      CHECK(parse_findings(target, labels, MatchCase::upstream) == positives);
      CHECK(parse_findings(target, labels) == positives);
      ++n;
    } else if (task == "G1") {
      const json& item = in.at("items").at(turn - 1);
      CHECK(is_not_present(target) == !item.at("present").get<bool>());
      CHECK(format_boxes(parse_boxes(target)) == format_boxes(boxes_of(item.at("boxes"))));
      ++n;
    } else if (task == "G3" || task == "G5" || (task == "G8" && in.contains("boxes"))) {
      CHECK(format_boxes(parse_boxes(target)) == format_boxes(boxes_of(in.at("boxes"))));
      ++n;
    } else if (task == "G8" || task == "G9") {
      CHECK(format_boxes(parse_boxes(target)) == format_box(box_of(in.at("items").at(turn - 1).at("box"))));
      ++n;
    } else if (task == "G4") {
      std::vector<std::string> expected;
      for (const json& f : in.at("findings"))
        if (f.at("present").get<bool>()) expected.push_back(f.at("finding").get<std::string>() + " " + format_boxes(boxes_of(f.at("boxes"))));
      CHECK(named_summary(parse_named_boxes(target)) == expected);
      ++n;
    } else if (task == "V1") {
      CHECK(normalize_vqa_answer(target) == normalize_vqa_answer(in.at("answer").get<std::string>()));
      ++n;
    } else if (task == "G10") {
      CHECK(parse_findings(target, label_set(LabelSet::imagenome_regions)) ==
            std::vector<std::string>{in.at("items").at(turn - 1).at("region").get<std::string>()});
      ++n;
    }
  }
  CHECK(n >= 25);
  MESSAGE(n << " reference answers parsed back");
}

TEST_CASE("parsing: vqa_answer, report and no_parser records") {
  int vqa = 0, report = 0, other = 0;
  for (const json& r : parsing_records()) {
    const std::string kind = r.at("kind"), raw = r.at("raw");
    CAPTURE(raw);
    if (kind == "vqa_answer") {
      CHECK(normalize_vqa_answer(raw) == r.at("answer_normalized").get<std::string>());
      CHECK(normalize_vqa_answer(r.at("gt_label").get<std::string>()) == r.at("gt_normalized").get<std::string>());
      CHECK((normalize_vqa_answer(raw) == normalize_vqa_answer(r.at("gt_label").get<std::string>())) ==
            (r.at("exact_match").get<double>() == 1.0));
      ++vqa;
    } else if (kind == "report") {
      CHECK(strip_special_text(raw) == r.at("report").get<std::string>());
      CHECK(r.at("turn_outputs").at(r.at("selected_turn").get<int>() - 1).get<std::string>() == raw);
      ++report;
    } else if (kind == "no_parser") {
      const std::string task = r.at("task");
      if (task == "G1" && is_not_present(raw)) CHECK(parse_boxes(raw).empty());
      if (task == "G1" && !is_not_present(raw))
        CHECK(format_boxes(parse_boxes(raw)) == "[12,40,45,88], [60,35,90,85]");
      if (task == "G2") CHECK(parse_findings(raw, label_set(LabelSet::chestx_det10)) == std::vector<std::string>{"pneumothorax"});
      if (task == "G6") CHECK(parse_findings(raw, label_set(LabelSet::organs)) == std::vector<std::string>{"lung"});
      if (task == "G10") CHECK(parse_findings(raw, label_set(LabelSet::imagenome_regions)) == std::vector<std::string>{"cardiac silhouette"});
      if (task == "G7") CHECK(strip_special_text(raw) == raw);
      if (task == "C1") CHECK(parse_findings(raw, label_set(LabelSet::vindr_cxr)) == std::vector<std::string>{"aortic enlargement", "nodule/mass"});
      ++other;
    }
  }
  CHECK(vqa == 6);
  CHECK(report == 2);
  CHECK(other == 7);
}

TEST_CASE("parsing: box_to_pixels / pixels_to_box records agree with box_geometry") {
  int n = 0;
  for (const json& r : parsing_records()) {
    const std::string kind = r.at("kind");
    if (kind != "box_to_pixels" && kind != "pixels_to_box") continue;
    const int w = r.at("image_wh")[0], h = r.at("image_wh")[1];
    CAPTURE(r.dump());
    if (kind == "box_to_pixels") {
      const ModelBox b = box_of(r.at("box"));
      CHECK(format_boxes(parse_boxes(r.at("raw").get<std::string>())) == format_box(b));
      const PixelBox p = model_box_to_pixels(b, w, h);
      const json& e = r.at("pixels");
      CHECK(p.x1 == e[0].get<double>());
      CHECK(p.y1 == e[1].get<double>());
      CHECK(p.x2 == e[2].get<double>());
      CHECK(p.y2 == e[3].get<double>());
    } else {
      const json& px = r.at("box_px");
      const ModelBox b = normalize_box(PixelBox{px[0].get<double>(), px[1].get<double>(), px[2].get<double>(), px[3].get<double>()}, w, h);
      CHECK(format_box(b) == r.at("box_str").get<std::string>());
      CHECK(format_box(b) == format_box(box_of(r.at("box"))));
    }
    ++n;
  }
  CHECK(n == 7);
}

TEST_CASE("parsing: strip_special_text, normalize_vqa_answer, is_not_present") {
  CHECK(strip_special_text("<s>[INST] a [/INST] b</s>  ") == "a  b");
  CHECK(strip_special_text("\xC2\xA0 x \xE3\x80\x80") == "x");
  CHECK(strip_special_text("<</s>s>") == "<s>");  // successive replaces, as upstream
  CHECK(strip_special_text("") == "");
  CHECK(normalize_vqa_answer(" Left Lung, Right Lung.</s>") == "left lung, right lung");
  CHECK(normalize_vqa_answer("3.5 cm.") == "35 cm");  // upstream deletes every '.'
  CHECK(is_not_present("Not present."));
  CHECK(is_not_present("not found.</s>"));
  CHECK(is_not_present("  NOT PRESENT  "));
  CHECK_FALSE(is_not_present("Yes. [1,2,3,4]."));
  CHECK_FALSE(is_not_present("Not present. But maybe [1,2,3,4]."));
  CHECK_FALSE(is_not_present(""));
}

TEST_CASE("parsing: box grammar details") {
  CHECK(format_boxes(parse_boxes("[ +12 , 34 ,56,78 ]")) == "[12,34,56,78]");
  CHECK(format_boxes(parse_boxes("[1,2,3,4][5,6,7,8]")) == "[1,2,3,4], [5,6,7,8]");
  CHECK(format_boxes(parse_boxes("[[1,2,3,4]]")) == "[1,2,3,4]");
  CHECK(format_boxes(parse_boxes("[99999999999999999999,2,3,4]")) == "[3,2,100,4]");  // saturates, clamps, orders
  CHECK(format_boxes(parse_boxes("[12.5,13.5,0.5,1.5]")) == "[0,2,12,14]");  // half to even, then ordered
  CHECK(format_boxes(parse_boxes("[1,2,3,4")) == "[1,2,3,4]");
  CHECK(format_boxes(parse_boxes("[1,2,3,4 ...")) == "[1,2,3,4]");
  CHECK(format_boxes(parse_boxes("[1,2,3,4 and more")) == "");  // unclosed only at the end
  CHECK(format_boxes(parse_boxes("[1,2,3,4</s>")) == "[1,2,3,4]");
  CHECK(format_boxes(parse_boxes("[INST] [1,2,3,4] [/INST]")) == "[1,2,3,4]");
  CHECK(format_boxes(parse_boxes("[a,2,3,4]")) == "");
  CHECK(format_boxes(parse_boxes("[1,,2,3,4]")) == "");
  CHECK(format_boxes(parse_boxes("[1;2;3;4]")) == "");
  CHECK(format_boxes(parse_boxes("1, 2, 3, 4 ribs")) == "");  // bare numbers only when alone
  CHECK(format_boxes(parse_boxes("1,2,3,4.")) == "[1,2,3,4]");
  CHECK(format_boxes(parse_boxes("[1,2,3,4.]")) == "");
  CHECK(format_boxes(parse_boxes("[1,2,3,-]")) == "");
  CHECK(format_boxes(parse_boxes("[")) == "");
  CHECK(format_boxes(parse_boxes("]")) == "");
}

TEST_CASE("parsing: never throws, always returns valid boxes (random input)") {
  std::mt19937 rng(20240521);
  const std::vector<std::string> atoms = {"[", "]", ",", " ", ".", "-", "+", "0", "1", "5", "9", "12", "100",
                                          "999", "</s>", "<s>", "[INST]", "[/INST]", "nodule", "Not found",
                                          "\xC2\xA0", "\xFF", "\xE2\x80", "\n", ";", ":", "Yes."};
  for (int iter = 0; iter < 20000; ++iter) {
    std::string s;
    const int len = std::uniform_int_distribution<int>(0, 40)(rng);
    for (int i = 0; i < len; ++i) {
      if (rng() % 10 == 0)
        s.push_back(static_cast<char>(rng() & 0xFF));
      else
        s += atoms[rng() % atoms.size()];
    }
    CAPTURE(s);
    std::vector<ModelBox> boxes;
    REQUIRE_NOTHROW(boxes = parse_boxes(s));
    for (const ModelBox& b : boxes) REQUIRE(sane(b));
    std::vector<std::pair<std::string, std::vector<ModelBox>>> named;
    REQUIRE_NOTHROW(named = parse_named_boxes(s));
    size_t total = 0;
    for (const auto& g : named) total += g.second.size();
    REQUIRE(total == boxes.size());
    REQUIRE_NOTHROW(parse_chexbert_findings(s));
    REQUIRE_NOTHROW(parse_findings(s, label_set(LabelSet::vindr_cxr), MatchCase::upstream));
    REQUIRE_NOTHROW(normalize_vqa_answer(s));
    REQUIRE_NOTHROW(is_not_present(s));
    REQUIRE_NOTHROW(strip_special_text(s));
  }
}
