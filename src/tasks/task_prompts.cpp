#include "tasks/task_prompts.h"

#include <utility>

#include "common/error.h"
#include "tasks/label_sets.h"
#include "tasks/python_text.h"
#include "tasks/report_cleaning.h"
#include "text/chat_prompt.h"
#include "text/utf8.h"

namespace m4cxr {

namespace {

// Template strings of upstream templates.py (docs/upstream-tasks.md §3-§5), verbatim.
constexpr std::string_view kImagePrompt = "radiology image: <image>";
constexpr std::string_view kFindingsQuestion =
    "Which of the following findings are present in the radiology image? Findings: ";
constexpr std::string_view kFindingsQuestionPlural =
    "Which of the following findings are present in the radiology images? Findings: ";
constexpr std::string_view kReportQuestion =
    "Provide a description of the findings in the radiology image.";
constexpr std::string_view kReportQuestionPlural =
    "Provide a description of the findings in the radiology images.";
constexpr std::string_view kCotReportQuestion =
    "Based on the previous conversation, provide a description of the findings in the radiology "
    "image.";
constexpr std::string_view kCotReportQuestionPlural =
    "Based on the previous conversation, provide a description of the findings in the radiology "
    "images.";
constexpr std::string_view kFollowupIntro = ", The radiology studies are given in chronological order. ";
constexpr std::string_view kFollowupReportQuestion =
    "Provide a description of the findings in the current follow-up radiology images.";
constexpr std::string_view kFollowupFindingsQuestion =
    "Which of the following findings are present in the current follow-up radiology images? "
    "Findings: ";
constexpr std::string_view kFollowupCotReportQuestion =
    "Based on the previous conversation, provide a description of the findings in the current "
    "follow-up radiology images.";
constexpr std::string_view kRadialogReportInstruction =
    "write the finding section of a chest x-ray radiology report for this X-ray image";

constexpr std::string_view kForbidden[] = {"<image>", "[INST]", "[/INST]", "<s>", "</s>", "<unk>"};

[[noreturn]] void bad(std::string_view where, const std::string& why) {
  fail(Status::invalid_argument, std::string(where) + ": " + why);
}

// User-supplied text must be printable prompt content, not structure.
void check_text(std::string_view where, std::string_view what, std::string_view text) {
  const std::string name = std::string(what);
  if (pytext::strip(text).empty()) bad(where, name + " is empty");
  if (text.size() > kMaxUserTextBytes)
    bad(where, name + " is " + std::to_string(text.size()) + " bytes (limit " +
                   std::to_string(kMaxUserTextBytes) + ")");
  if (!utf8::is_valid(text)) bad(where, name + " is not valid UTF-8");
  for (std::string_view marker : kForbidden)
    if (text.find(marker) != std::string_view::npos)
      bad(where, name + " contains \"" + std::string(marker) +
                     "\", which the prompt encoder would treat as structure");
}

void check_box(std::string_view where, const ModelBox& b) {
  const bool in_range = b.x1 >= 0 && b.y1 >= 0 && b.x2 <= 100 && b.y2 <= 100;
  if (!in_range || b.x1 > b.x2 || b.y1 > b.y2)
    bad(where, "box " + format_box(b) +
                   " is not a 0..100 box with x1 <= x2 and y1 <= y2");
}

void check_boxes(std::string_view where, const std::vector<ModelBox>& boxes) {
  if (boxes.empty()) bad(where, "no boxes given");
  if (boxes.size() > kMaxBoxes)
    bad(where, std::to_string(boxes.size()) + " boxes (limit " + std::to_string(kMaxBoxes) + ")");
  for (const ModelBox& b : boxes) check_box(where, b);
}

void check_count(std::string_view where, std::string_view what, int n, int lo, int hi) {
  if (n < lo || n > hi)
    bad(where, std::string(what) + " " + std::to_string(n) + " is outside [" +
                   std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

// Catalogue names are lower case in every training prompt.
std::string checked_name(std::string_view where, std::string_view what, std::string_view name) {
  check_text(where, what, name);
  return pytext::lower(name);
}

// Upstream: name.lower(); "lung" (an organ) and "no finding" never appear in the
// candidate list; ", "-joined in the given order.
std::vector<std::string> label_list(std::string_view where, const std::vector<std::string>& labels) {
  if (labels.size() > kMaxLabels)
    bad(where, std::to_string(labels.size()) + " labels (limit " + std::to_string(kMaxLabels) + ")");
  std::vector<std::string> out;
  for (const std::string& label : labels) {
    std::string low = checked_name(where, "label", label);
    if (low == "no finding" || low == "lung") continue;
    out.push_back(std::move(low));
  }
  if (out.empty()) bad(where, "no labels left (\"no finding\" and \"lung\" are dropped)");
  return out;
}

std::string joined_labels(std::string_view where, const std::vector<std::string>& labels) {
  std::string out;
  for (const std::string& l : label_list(where, labels)) {
    if (!out.empty()) out.append(", ");
    out.append(l);
  }
  return out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out.append(", ");
    out.append(s);
  }
  return out;
}

TaskPrompt one_turn(std::string_view image_prompt, std::string question, int n_images) {
  return {std::string(image_prompt), {std::move(question)}, true, n_images};
}

// A per-item question of an n-turn single-image task.
TaskPrompt item_turn(std::string question, Turn turn) {
  if (turn == Turn::later) return {"", {std::move(question)}, false, 0};
  return one_turn(kImagePrompt, std::move(question), 1);
}

std::string multi_image_prompt(int n) { return "radiology images: " + image_markers(n); }

TaskPrompt cot_multi(std::string_view where, int n_images) {
  check_count(where, "n_images", n_images, 1, kMaxStudyImages);
  return {multi_image_prompt(n_images),
          {std::string(kFindingsQuestionPlural) + join(cot_findings()),
           std::string(kCotReportQuestionPlural)},
          true,
          n_images};
}

// R5/R6 share the image prompt "prior radiology images: {P}, prior radiology report: {R}
// follow-up images: {C}," and the question start "The radiology studies ... order. ".
std::pair<std::string, std::string> followup_parts(std::string_view where, int n_prior,
                                                   int n_current, std::string_view prior_report,
                                                   bool clean_prior) {
  check_count(where, "n_prior", n_prior, 1, kMaxFollowupImages - 1);
  check_count(where, "n_current", n_current, 1, kMaxFollowupImages - 1);
  check_count(where, "n_prior + n_current", n_prior + n_current, 2, kMaxFollowupImages);
  check_text(where, "prior_report", prior_report);
  std::string prior = clean_prior ? clean_report_mimic_cxr(prior_report) : std::string(prior_report);
  check_text(where, "cleaned prior_report", prior);
  // Every image marker goes in the image prompt (up to the comma glued to the last one),
  // so the question holds none; joined with one space this is upstream's text.
  std::string image_prompt = "prior radiology images: " + image_markers(n_prior) +
                             ", prior radiology report: " + prior +
                             " follow-up images: " + image_markers(n_current) + ",";
  std::string question_start(kFollowupIntro.substr(2));  // after ", "
  return {std::move(image_prompt), std::move(question_start)};
}

}  // namespace

std::string format_box(const ModelBox& b) {
  return "[" + std::to_string(b.x1) + "," + std::to_string(b.y1) + "," + std::to_string(b.x2) +
         "," + std::to_string(b.y2) + "]";
}

std::string format_boxes(const std::vector<ModelBox>& boxes) {
  std::string out;
  for (const ModelBox& b : boxes) {
    if (!out.empty()) out.append(", ");
    out.append(format_box(b));
  }
  return out;
}

std::string image_markers(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    if (i > 0) out.push_back(' ');
    out.append(kImageMarker);
  }
  return out;
}

std::vector<std::string> TaskPrompt::user_turns() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < questions.size(); ++i) {
    if (i > 0) out.push_back(questions[i]);
    else if (questions[0].empty()) out.push_back(image_prompt);  // stage-1 "<image>"
    else out.push_back(first_user_content(image_prompt, questions[0], system_message));
  }
  return out;
}

TaskPrompt report_only() { return {std::string(kImageMarker), {""}, false, 1}; }

TaskPrompt report_single_turn(int n_images) {
  check_count("report_single_turn", "n_images", n_images, 1, kMaxStudyImages);
  if (n_images == 1) return one_turn(kImagePrompt, std::string(kReportQuestion), 1);
  return one_turn(multi_image_prompt(n_images), std::string(kReportQuestionPlural), n_images);
}

TaskPrompt report_cot(int n_images) {
  check_count("report_cot", "n_images", n_images, 1, kMaxStudyImages);
  if (n_images > 1) return cot_multi("report_cot", n_images);
  return {std::string(kImagePrompt),
          {std::string(kFindingsQuestion) + join(cot_findings()), std::string(kCotReportQuestion)},
          true,
          1};
}

TaskPrompt report_cot_multi(int n_images) { return cot_multi("report_cot_multi", n_images); }

TaskPrompt report_followup_single_turn(int n_prior, int n_current, std::string_view prior_report,
                                       bool clean_prior) {
  auto [image_prompt, question] = followup_parts("report_followup_single_turn", n_prior, n_current,
                                                 prior_report, clean_prior);
  question.append(kFollowupReportQuestion);
  return one_turn(image_prompt, std::move(question), n_prior + n_current);
}

TaskPrompt report_followup_cot(int n_prior, int n_current, std::string_view prior_report,
                               bool clean_prior) {
  auto [image_prompt, question] =
      followup_parts("report_followup_cot", n_prior, n_current, prior_report, clean_prior);
  question.append(kFollowupFindingsQuestion).append(join(cot_findings()));
  return {std::move(image_prompt), {std::move(question), std::string(kFollowupCotReportQuestion)},
          true, n_prior + n_current};
}

TaskPrompt classify(const std::vector<std::string>& labels) {
  const std::string f = joined_labels("classify", labels.empty() ? cot_findings() : labels);
  return one_turn(kImagePrompt, std::string(kFindingsQuestion) + f, 1);
}

TaskPrompt single_disease(std::string_view finding, Turn turn) {
  const std::string name = checked_name("single_disease", "finding", finding);
  if (name == "no finding") return item_turn("Are there any findings in the radiology image?", turn);
  return item_turn("Is " + name + " present in the radiology image?", turn);
}

TaskPrompt ground_finding(std::string_view finding, Turn turn) {
  const std::string name = checked_name("ground_finding", "finding", finding);
  return item_turn("Is " + name +
                       " present in the radiology image? If so, provide the bounding box "
                       "coordinates of the region.",
                   turn);
}

TaskPrompt grounded_finding(const ModelBox& box, Turn turn) {
  check_box("grounded_finding", box);
  return item_turn("Provide a finding name for this region. " + format_box(box), turn);
}

TaskPrompt detect_abnormalities() {
  return one_turn(kImagePrompt,
                  "Provide the bounding box coordinates of abnormal regions in the radiology image.",
                  1);
}

TaskPrompt ground_multi_findings(const std::vector<std::string>& labels) {
  if (labels.empty()) bad("ground_multi_findings", "no labels given");
  return one_turn(kImagePrompt,
                  "Which of the following findings are present in the radiology image? Provide the "
                  "bounding box coordinates if present. Findings: " +
                      joined_labels("ground_multi_findings", labels),
                  1);
}

TaskPrompt ground_organ(std::string_view organ) {
  const std::string name = checked_name("ground_organ", "organ", organ);
  return one_turn(kImagePrompt,
                  "Provide the bounding box coordinates of " + name + " in the radiology image.", 1);
}

TaskPrompt grounded_organ(const std::vector<ModelBox>& boxes) {
  check_boxes("grounded_organ", boxes);
  return one_turn(kImagePrompt, "Provide an organ name for this region. " + format_boxes(boxes), 1);
}

TaskPrompt grounded_phrase(const std::vector<ModelBox>& boxes, Turn turn) {
  check_boxes("grounded_phrase", boxes);
  return item_turn("Provide a radiology report phrase for the region. " + format_boxes(boxes) + ".",
                   turn);
}

TaskPrompt ground_phrase(std::string_view phrase, Turn turn) {
  check_text("ground_phrase", "phrase", phrase);
  return item_turn(
      "Provide the bounding box coordinate of the region this phrase describes: " +
          std::string(phrase),
      turn);
}

TaskPrompt ground_region(std::string_view region, Turn turn) {
  const std::string name = checked_name("ground_region", "region", region);
  return item_turn("Provide the bounding box coordinate of the anatomical region. " + name, turn);
}

TaskPrompt grounded_region(const ModelBox& box, Turn turn) {
  check_box("grounded_region", box);
  return item_turn("Provide an anatomical region name for this region. " + format_box(box), turn);
}

TaskPrompt vqa(std::string_view question) {
  check_text("vqa", "question", question);
  return one_turn(kImagePrompt, "Answer the question. " + std::string(question), 1);
}

TaskPrompt difference_vqa(std::string_view question) {
  check_text("difference_vqa", "question", question);
  return one_turn("reference: <image>, main: <image>",
                  "Using the provided reference and main radiology images, answer the following "
                  "question. " +
                      std::string(question),
                  2);
}

TaskPrompt instruction(std::string_view text, Turn turn) {
  check_text("instruction", "text", text);
  // RaDialog loader: a report-writing request became the trained report question.
  if (turn == Turn::first && text.find(kRadialogReportInstruction) != std::string_view::npos)
    return item_turn(std::string(kReportQuestion), turn);
  return item_turn(std::string(text), turn);
}

std::vector<std::string> prompt_labels(const std::vector<std::string>& labels) {
  return labels.empty() ? cot_findings() : label_list("labels", labels);
}

}  // namespace m4cxr
