// Task prompt builders against the upstream golden prompts (golden/prompts/cases.jsonl):
// every dataset-path case is rebuilt from its `inputs` with the m4cxr builders and must
// give upstream's user contents, rendered text and token ids.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "tasks/label_sets.h"
#include "tasks/report_cleaning.h"
#include "tasks/task_prompts.h"
#include "tasks_test_util.h"
#include "text/chat_prompt.h"

using namespace m4cxr;
using namespace m4cxr_tasks_test;
using nlohmann::json;

namespace {

std::vector<std::string> strings_of(const json& j) { return j.get<std::vector<std::string>>(); }

Turn turn_at(size_t i) { return i == 0 ? Turn::first : Turn::later; }

// Appends the turns of one per-item builder call to a conversation.
void add(TaskPrompt* conv, const TaskPrompt& item) {
  if (conv->questions.empty()) {
    *conv = item;
    return;
  }
  conv->questions.insert(conv->questions.end(), item.questions.begin(), item.questions.end());
}

// The m4cxr prompt of a dataset-path case, built from its inputs only.
TaskPrompt build_from_inputs(const json& c) {
  const std::string task = c.at("task");
  const json& in = c.at("inputs");
  TaskPrompt conv;
  if (task == "R0") return report_only();
  if (task == "R1" || task == "R3") return report_single_turn(in.at("n_images").get<int>());
  if (task == "R2") return report_cot(in.at("n_images").get<int>());
  if (task == "R4") return report_cot_multi(in.at("n_images").get<int>());
  if (task == "R5" || task == "R6") {
    const int np = in.at("n_images").at("prior"), nc = in.at("n_images").at("current");
    const std::string prior = in.at("prior_report_raw");
    return task == "R5" ? report_followup_single_turn(np, nc, prior) : report_followup_cot(np, nc, prior);
  }
  if (task == "C1") return classify(strings_of(in.at("labels")));
  if (task == "C2") {
    size_t k = 0;
    for (const json& item : in.at("items"))
      if (!item.value("skipped", false)) add(&conv, single_disease(item.at("finding").get<std::string>(), turn_at(k++)));
    return conv;
  }
  if (task == "G1" || task == "G2" || task == "G9" || task == "G10" || task == "V3" ||
      ((task == "G7" || task == "G8") && in.contains("items"))) {
    const json& items = in.at("items");
    for (size_t i = 0; i < items.size(); ++i) {
      const json& it = items[i];
      const Turn t = turn_at(i);
      if (task == "G1") add(&conv, ground_finding(it.at("finding").get<std::string>(), t));
      if (task == "G2") add(&conv, grounded_finding(box_of(it.at("box")), t));
      if (task == "G7") add(&conv, grounded_phrase({box_of(it.at("box"))}, t));
      if (task == "G8") add(&conv, ground_phrase(it.at("phrase").get<std::string>(), t));
      if (task == "G9") add(&conv, ground_region(it.at("region").get<std::string>(), t));
      if (task == "G10") add(&conv, grounded_region(box_of(it.at("box")), t));
      if (task == "V3") add(&conv, instruction(it.at("question").get<std::string>(), t));
    }
    return conv;
  }
  if (task == "G3") return detect_abnormalities();
  if (task == "G4") return ground_multi_findings(strings_of(in.at("labels")));
  if (task == "G5") return ground_organ(in.at("organ").get<std::string>());
  if (task == "G6") return grounded_organ(boxes_of(in.at("boxes")));
  if (task == "G7") return grounded_phrase(boxes_of(in.at("boxes")));
  if (task == "G8") return ground_phrase(in.at("phrase").get<std::string>());
  if (task == "V1") return vqa(in.at("question").get<std::string>());
  if (task == "V2") return difference_vqa(in.at("question").get<std::string>());
  FAIL("no builder for task " << task);
  return conv;
}

std::vector<std::string> user_contents(const json& c) {
  std::vector<std::string> out;
  for (const json& t : c.at("turns"))
    if (t.at("role") == "user") out.push_back(t.at("content"));
  return out;
}

// Upstream's turns with the user contents replaced by ours (assistant turns kept).
std::vector<ChatMessage> messages_with(const json& c, const std::vector<std::string>& ours) {
  std::vector<ChatMessage> msgs;
  size_t u = 0;
  for (const json& t : c.at("turns")) {
    if (t.at("role") == "user")
      msgs.push_back({ChatMessage::Role::user, ours.at(u++)});
    else
      msgs.push_back({ChatMessage::Role::assistant, t.at("content").get<std::string>()});
  }
  return msgs;
}

void check_text_and_ids(const json& c, const std::vector<ChatMessage>& msgs) {
  const std::string text = render_chat(msgs);
  CHECK(text == c.at("text").get<std::string>());
  const EncodedPrompt enc = encode_prompt(mistral(), text);
  CHECK(enc.ids == c.at("input_ids").get<std::vector<int32_t>>());
  CHECK(enc.truncated == c.at("truncated").get<bool>());
  CHECK(enc.n_image_markers == c.at("n_images").get<int>());
  CHECK(enc.n_image_runs == c.at("n_image_runs").get<int>());
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

}  // namespace

TEST_CASE("prompts: every dataset case of cases.jsonl is rebuilt from its inputs") {
  int dataset_cases = 0, demo_cases = 0;
  for (const json& c : cases()) {
    const std::string id = c.at("id");
    const std::string path = c.at("path");
    CAPTURE(id);
    const std::vector<std::string> upstream = user_contents(c);
    REQUIRE(static_cast<int>(upstream.size()) == c.at("turn").get<int>());
    if (starts_with(path, "dataset")) {
      ++dataset_cases;
      const TaskPrompt ours = build_from_inputs(c);
      REQUIRE(ours.user_turns().size() >= upstream.size());
      for (size_t i = 0; i < upstream.size(); ++i) {
        CAPTURE(i);
        CHECK(ours.user_turns()[i] == upstream[i]);
      }
      CHECK(ours.n_images == c.at("n_images").get<int>());
      check_text_and_ids(c, messages_with(c, ours.user_turns()));
    } else {
      // demo.chat / generate_with_prompt: free-text prompts; check how they were joined.
      ++demo_cases;
      REQUIRE(starts_with(path, "demo."));
      const json& in = c.at("inputs");
      std::vector<std::string> prompts = strings_of(in.at("user_prompts"));
      if (in.contains("followup")) prompts.push_back(in.at("followup"));
      REQUIRE(prompts.size() >= upstream.size());
      CHECK(first_user_content("", prompts[0]) == upstream[0]);
      for (size_t i = 1; i < upstream.size(); ++i) {
        CAPTURE(i);
        CHECK(prompts[i] == upstream[i]);
        if (prompts[i].find("<image>") == std::string::npos)
          CHECK(instruction(prompts[i], Turn::later).user_turns().at(0) == upstream[i]);
        else  // demo allows an image in a later turn; the builders refuse it
          CHECK(status_of([&] { instruction(prompts[i], Turn::later); }) == Status::invalid_argument);
      }
      check_text_and_ids(c, messages_with(c, upstream));
    }
  }
  CHECK(dataset_cases + demo_cases == static_cast<int>(cases().size()));
  CHECK(dataset_cases >= 50);
  MESSAGE(dataset_cases << " dataset cases rebuilt, " << demo_cases << " demo cases checked");
}

TEST_CASE("prompts: demo R2 prompts with the lower-case list are the R2 builder's turns") {
  int checked = 0;
  for (const json& c : cases()) {
    if (c.at("task") != "R2" || c.at("path") == "dataset+inference_step") continue;
    const std::vector<std::string> prompts = strings_of(c.at("inputs").at("user_prompts"));
    const TaskPrompt r2 = report_cot(1);
    const std::vector<std::string> upstream = user_contents(c);
    if (prompts[0].find("enlarged cardiomediastinum") == std::string::npos) {
      CHECK(upstream[0] != r2.user_turns()[0]);  // the Title-case variant is not the trained prompt
      continue;
    }
    CHECK(upstream[0] == r2.user_turns()[0]);
    if (upstream.size() > 1) CHECK(upstream[1] == r2.user_turns()[1]);
    ++checked;
  }
  CHECK(checked >= 1);
}

TEST_CASE("prompts: targets and box conversions of the cases") {
  for (const json& c : cases()) {
    CAPTURE(c.at("id").get<std::string>());
    const json& in = c.at("inputs");
    // Every raw report -> cleaned report pair (prompt inputs and answers).
    for (const char* key : {"report", "prior_report", "current_report"}) {
      const std::string raw = std::string(key) + "_raw", cleaned = std::string(key) + "_cleaned";
      if (in.contains(raw)) CHECK(clean_report_mimic_cxr(in.at(raw).get<std::string>()) == in.at(cleaned).get<std::string>());
    }
    // Pixel boxes -> 0..100 boxes written into prompts (upstream normalize_bbox).
    if (in.contains("image_wh")) {
      const int w = in.at("image_wh")[0], h = in.at("image_wh")[1];
      auto px = [](const json& b) {
        return PixelBox{b[0].get<double>(), b[1].get<double>(), b[2].get<double>(), b[3].get<double>()};
      };
      if (in.contains("boxes_px"))
        for (size_t i = 0; i < in.at("boxes_px").size(); ++i)
          CHECK(format_box(normalize_box(px(in.at("boxes_px")[i]), w, h)) == format_box(box_of(in.at("boxes")[i])));
      if (in.contains("items"))
        for (const json& it : in.at("items"))
          if (it.contains("box_px"))
            CHECK(format_box(normalize_box(px(it.at("box_px")), w, h)) == format_box(box_of(it.at("box"))));
    }
  }
}

TEST_CASE("prompts: R6 cleans the prior report before inserting it") {
  for (const json& c : cases()) {
    if (c.at("task") != "R6" || c.at("id") != "R6-history-cot-2p1c#t1") continue;
    const json& in = c.at("inputs");
    const std::string raw = in.at("prior_report_raw"), cleaned = in.at("prior_report_cleaned");
    const TaskPrompt p = report_followup_cot(2, 1, raw);
    CHECK(p.user_turns()[0].find("prior radiology report: " + cleaned + " follow-up images: <image>, The") !=
          std::string::npos);
    // clean_prior = false inserts the text as given; the cleaned text then gives the same prompt.
    CHECK(report_followup_cot(2, 1, cleaned, false).user_turns() == p.user_turns());
    CHECK(report_followup_cot(2, 1, raw, false).user_turns() != p.user_turns());
    return;
  }
  FAIL("R6-history-cot-2p1c#t1 missing from cases.jsonl");
}

TEST_CASE("prompts: exact template strings") {
  const std::string sys = std::string(kSystemMessage) + " ";
  const std::string f13 =
      "enlarged cardiomediastinum, cardiomegaly, lung opacity, lung lesion, edema, consolidation, "
      "pneumonia, atelectasis, pneumothorax, pleural effusion, pleural other, fracture, support devices";
  CHECK(report_cot(1).user_turns() ==
        std::vector<std::string>{sys + "radiology image: <image> Which of the following findings are present in the radiology image? Findings: " + f13,
                                 "Based on the previous conversation, provide a description of the findings in the radiology image."});
  CHECK(report_cot(3).user_turns() ==
        std::vector<std::string>{sys + "radiology images: <image> <image> <image> Which of the following findings are present in the radiology images? Findings: " + f13,
                                 "Based on the previous conversation, provide a description of the findings in the radiology images."});
  CHECK(report_cot(3).n_images == 3);
  CHECK(report_cot_multi(1).user_turns()[0] ==
        sys + "radiology images: <image> Which of the following findings are present in the radiology images? Findings: " + f13);
  CHECK(report_single_turn(1).user_turns() ==
        std::vector<std::string>{sys + "radiology image: <image> Provide a description of the findings in the radiology image."});
  CHECK(report_single_turn(2).user_turns() ==
        std::vector<std::string>{sys + "radiology images: <image> <image> Provide a description of the findings in the radiology images."});
  CHECK(report_followup_single_turn(1, 1, "Clear lungs.").user_turns() ==
        std::vector<std::string>{sys + "prior radiology images: <image>, prior radiology report: Clear lungs. follow-up images: <image>, The radiology studies are given in chronological order. Provide a description of the findings in the current follow-up radiology images."});
  const TaskPrompt r6 = report_followup_cot(2, 3, "Clear lungs.");
  CHECK(r6.n_images == 5);
  CHECK(r6.user_turns() ==
        std::vector<std::string>{sys + "prior radiology images: <image> <image>, prior radiology report: Clear lungs. follow-up images: <image> <image> <image>, The radiology studies are given in chronological order. Which of the following findings are present in the current follow-up radiology images? Findings: " + f13,
                                 "Based on the previous conversation, provide a description of the findings in the current follow-up radiology images."});
  CHECK(report_only().user_turns() == std::vector<std::string>{"<image>"});
  CHECK(report_only().n_images == 1);

  CHECK(classify().user_turns() == std::vector<std::string>{report_cot(1).user_turns().at(0)});
  CHECK(classify({"Aortic Enlargement", "No Finding", "lung", "Nodule/Mass"}).user_turns().at(0) ==
        sys + "radiology image: <image> Which of the following findings are present in the radiology image? Findings: aortic enlargement, nodule/mass");

  const std::string img = sys + "radiology image: <image> ";
  CHECK(single_disease("Cardiomegaly").user_turns().at(0) == img + "Is cardiomegaly present in the radiology image?");
  CHECK(single_disease("No Finding", Turn::later).user_turns().at(0) == "Are there any findings in the radiology image?");
  CHECK(ground_finding("Pneumothorax").user_turns().at(0) ==
        img + "Is pneumothorax present in the radiology image? If so, provide the bounding box coordinates of the region.");
  CHECK(grounded_finding({1, 2, 3, 4}).user_turns().at(0) == img + "Provide a finding name for this region. [1,2,3,4]");
  CHECK(detect_abnormalities().user_turns().at(0) ==
        img + "Provide the bounding box coordinates of abnormal regions in the radiology image.");
  CHECK(ground_multi_findings({"nodule", "mass"}).user_turns().at(0) ==
        img + "Which of the following findings are present in the radiology image? Provide the bounding box coordinates if present. Findings: nodule, mass");
  CHECK(ground_organ().user_turns().at(0) == img + "Provide the bounding box coordinates of lung in the radiology image.");
  CHECK(grounded_organ({{8, 15, 48, 85}, {55, 14, 93, 86}}).user_turns().at(0) ==
        img + "Provide an organ name for this region. [8,15,48,85], [55,14,93,86]");
  CHECK(grounded_phrase({{0, 0, 100, 100}}).user_turns().at(0) ==
        img + "Provide a radiology report phrase for the region. [0,0,100,100].");
  CHECK(ground_phrase("Small left apical pneumothorax").user_turns().at(0) ==
        img + "Provide the bounding box coordinate of the region this phrase describes: Small left apical pneumothorax");
  CHECK(ground_region("Right Lung").user_turns().at(0) ==
        img + "Provide the bounding box coordinate of the anatomical region. right lung");
  CHECK(grounded_region({44, 12, 52, 35}, Turn::later).user_turns() ==
        std::vector<std::string>{"Provide an anatomical region name for this region. [44,12,52,35]"});
  CHECK(vqa("Is there edema?").user_turns().at(0) == img + "Answer the question. Is there edema?");
  const TaskPrompt diff = difference_vqa("what has changed?");
  CHECK(diff.user_turns().at(0) ==
        sys + "reference: <image>, main: <image> Using the provided reference and main radiology images, answer the following question. what has changed?");
  CHECK(diff.n_images == 2);
  CHECK(instruction("What is the view?").user_turns().at(0) == img + "What is the view?");
  CHECK(format_boxes({}) == "");
  CHECK(format_boxes({{1, 2, 3, 4}, {5, 6, 7, 8}}) == "[1,2,3,4], [5,6,7,8]");
  CHECK(image_markers(0) == "");
  CHECK(image_markers(3) == "<image> <image> <image>");
}

TEST_CASE("prompts: later turns are bare and carry no image") {
  for (const TaskPrompt& p : {single_disease("edema", Turn::later), ground_finding("edema", Turn::later),
                              grounded_finding({1, 2, 3, 4}, Turn::later), grounded_phrase({{1, 2, 3, 4}}, Turn::later),
                              ground_phrase("x", Turn::later), ground_region("spine", Turn::later),
                              grounded_region({1, 2, 3, 4}, Turn::later), instruction("Summarize.", Turn::later)}) {
    REQUIRE(p.user_turns().size() == 1);
    CHECK(p.n_images == 0);
    CHECK(p.user_turns()[0].find(kSystemMessage) == std::string::npos);
    CHECK(p.user_turns()[0].find("<image>") == std::string::npos);
  }
}

TEST_CASE("prompts: RaDialog report instruction becomes the trained report question") {
  const std::string mrg = report_single_turn(1).user_turns().at(0);
  // upstream removed the leading "<image>. " of the raw RaDialog message first
  CHECK(instruction("write the finding section of a chest x-ray radiology report for this X-ray image").user_turns().at(0) == mrg);
  CHECK(instruction("Please write the finding section of a chest x-ray radiology report for this X-ray image now").user_turns().at(0) == mrg);
  // only the first message is rewritten (upstream: first human message only)
  CHECK(instruction("write the finding section of a chest x-ray radiology report for this X-ray image", Turn::later).user_turns().at(0) ==
        "write the finding section of a chest x-ray radiology report for this X-ray image");
}

TEST_CASE("prompts: argument validation") {
  const auto invalid = [](const std::function<void()>& f) { return status_of(f) == Status::invalid_argument; };
  // image counts
  CHECK(invalid([] { report_cot(0); }));
  CHECK(invalid([] { report_cot(6); }));
  CHECK(invalid([] { report_cot(-1); }));
  CHECK(invalid([] { report_cot_multi(6); }));
  CHECK(invalid([] { report_single_turn(0); }));
  CHECK(invalid([] { report_single_turn(6); }));
  CHECK_NOTHROW(report_cot(5));
  CHECK(invalid([] { report_followup_cot(0, 1, "x"); }));
  CHECK(invalid([] { report_followup_cot(1, 0, "x"); }));
  CHECK(invalid([] { report_followup_cot(6, 5, "x"); }));
  CHECK(invalid([] { report_followup_single_turn(9, 2, "x"); }));
  CHECK_NOTHROW(report_followup_cot(5, 5, "x"));
  CHECK_NOTHROW(report_followup_cot(9, 1, "x"));
  // text
  CHECK(invalid([] { report_followup_cot(1, 1, ""); }));
  CHECK(invalid([] { report_followup_cot(1, 1, " \n\t "); }));
  CHECK(invalid([] { report_followup_cot(1, 1, "see <image> here"); }));
  CHECK(invalid([] { report_followup_cot(1, 1, "see <ima_ge> here"); }));  // cleaning would make "<image>"
  CHECK_NOTHROW(report_followup_cot(1, 1, "see <ima_ge> here", false));
  CHECK(invalid([] { vqa(""); }));
  CHECK(invalid([] { vqa("   "); }));
  for (const char* marker : {"<image>", "[INST]", "[/INST]", "<s>", "</s>", "<unk>"}) {
    CAPTURE(marker);
    const std::string bad = std::string("Is there ") + marker + " edema?";
    CHECK(invalid([&] { vqa(bad); }));
    CHECK(invalid([&] { difference_vqa(bad); }));
    CHECK(invalid([&] { instruction(bad); }));
    CHECK(invalid([&] { instruction(bad, Turn::later); }));
    CHECK(invalid([&] { ground_phrase(bad); }));
    CHECK(invalid([&] { ground_finding(bad); }));
    CHECK(invalid([&] { ground_region(bad); }));
    CHECK(invalid([&] { ground_organ(bad); }));
    CHECK(invalid([&] { single_disease(bad); }));
    CHECK(invalid([&] { classify({"edema", bad}); }));
    CHECK(invalid([&] { ground_multi_findings({bad}); }));
    CHECK(invalid([&] { report_followup_single_turn(1, 1, bad); }));
  }
  CHECK_NOTHROW(vqa("Is the <b>heart</b> [enlarged]?"));  // other brackets are plain text
  CHECK(invalid([] { vqa(std::string("bad \xff utf8")); }));
  CHECK(invalid([] { vqa(std::string(kMaxUserTextBytes + 1, 'a')); }));
  CHECK_NOTHROW(vqa(std::string(kMaxUserTextBytes, 'a')));
  // labels
  CHECK_NOTHROW(classify({}));
  CHECK(invalid([] { classify({"no finding"}); }));
  CHECK(invalid([] { classify({"Lung", "No Finding"}); }));
  CHECK(invalid([] { classify({"edema", ""}); }));
  CHECK(invalid([] { classify(std::vector<std::string>(kMaxLabels + 1, "edema")); }));
  CHECK(invalid([] { ground_multi_findings({}); }));
  // boxes
  CHECK(invalid([] { grounded_organ({}); }));
  CHECK(invalid([] { grounded_phrase({}); }));
  CHECK(invalid([] { grounded_finding({-1, 0, 10, 10}); }));
  CHECK(invalid([] { grounded_region({0, 0, 101, 10}); }));
  CHECK(invalid([] { grounded_region({20, 0, 10, 10}); }));
  CHECK(invalid([] { grounded_phrase({{0, 30, 10, 10}}); }));
  CHECK(invalid([] { grounded_organ(std::vector<ModelBox>(kMaxBoxes + 1, ModelBox{0, 0, 1, 1})); }));
  CHECK_NOTHROW(grounded_region({5, 5, 5, 5}));  // degenerate but well-formed
  // error messages name the builder and the argument
  try {
    report_cot(7);
    FAIL("no exception");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("report_cot") != std::string::npos);
    CHECK(std::string(e.what()).find("n_images") != std::string::npos);
  }
}

TEST_CASE("prompts: single-turn prompts encode like upstream's (real tokenizer)") {
  // Builder output rendered and encoded directly, without the golden text in between.
  for (const json& c : cases()) {
    if (c.at("path") != "dataset+inference_step" || c.at("turn") != 1 || c.at("truncated")) continue;
    CAPTURE(c.at("id").get<std::string>());
    const TaskPrompt p = build_from_inputs(c);
    const std::string text = render_chat({{ChatMessage::Role::user, p.user_turns().at(0)}});
    CHECK(encode_prompt(mistral(), text).ids == c.at("input_ids").get<std::vector<int32_t>>());
  }
}
