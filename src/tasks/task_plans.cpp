// One plan function per task of src/tasks/task_table.json (declared by the generated
// table): arguments, already checked against the declaration by plan_task(), in; the
// task's prompt parts, image order and label set out. Prompt wording comes from
// task_prompts.h, labels from label_sets.h.
#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/log.h"
#include "tasks/label_sets.h"
#include "tasks/task_prompts.h"
#include "tasks/task_registry.h"

namespace m4cxr {

namespace {

const ArgValue& arg(const TaskArgs& args, std::string_view name) {
  auto it = args.find(name);
  if (it == args.end()) fail(Status::internal, "task argument " + std::string(name) + " missing after checking");
  return it->second;
}
const std::vector<ImageArg>& images(const TaskArgs& a, std::string_view n) { return arg(a, n).images; }
const ImageArg& image(const TaskArgs& a, std::string_view n) { return arg(a, n).images.at(0); }
const std::string& text(const TaskArgs& a, std::string_view n) { return arg(a, n).texts.at(0); }
const std::vector<std::string>& texts(const TaskArgs& a, std::string_view n) { return arg(a, n).texts; }

// Pixel boxes of `image` to the model's 0-100 frame (upstream normalize_bbox).
std::vector<ModelBox> model_boxes(const TaskArgs& a, std::string_view n, const ImageArg& im) {
  std::vector<ModelBox> out;
  for (const PixelBox& b : arg(a, n).boxes) {
    for (double v : {b.x1, b.y1, b.x2, b.y2})
      if (!std::isfinite(v)) fail(Status::invalid_argument, "box coordinates must be finite");
    if (b.x1 > b.x2 || b.y1 > b.y2) fail(Status::invalid_argument, "box must have x1 <= x2 and y1 <= y2");
    auto px = [](double v) { return std::to_string(static_cast<long long>(std::lround(v))); };
    const std::string box = "box (" + px(b.x1) + "," + px(b.y1) + "," + px(b.x2) + "," + px(b.y2) + ") px";
    const std::string size = std::to_string(im.width) + "x" + std::to_string(im.height);
    if (b.x1 < 0 || b.y1 < 0 || b.x2 > im.width || b.y2 > im.height)
      fail(Status::invalid_argument, box + " reaches outside the " + size + " image");
    // The model sees the centre square only; a box partly outside it is clipped to it (as
    // upstream's normalize_bbox does), one wholly outside it is refused.
    const PixelBox seen = model_box_to_pixels({0, 0, 100, 100}, im.width, im.height);
    if (b.x2 <= seen.x1 || b.x1 >= seen.x2 || b.y2 <= seen.y1 || b.y1 >= seen.y2)
      fail(Status::invalid_argument, box + " lies outside the part of the " + size + " image the model sees (" +
                                         px(seen.x1) + "," + px(seen.y1) + "," + px(seen.x2) + "," + px(seen.y2) + ")");
    if (b.x1 < seen.x1 || b.y1 < seen.y1 || b.x2 > seen.x2 || b.y2 > seen.y2)
      log(LogLevel::warn, box, " is partly outside the part of the ", size, " image the model sees (", px(seen.x1), ",",
          px(seen.y1), ",", px(seen.x2), ",", px(seen.y2), "): clipped to it");
    const ModelBox m = normalize_box(b, im.width, im.height);
    out.push_back(m);
  }
  return out;
}

TaskPlan from_prompt(TaskPrompt p, std::vector<ImageArg> imgs, std::vector<std::string> labels = {}) {
  if (static_cast<size_t>(p.n_images) != imgs.size())
    fail(Status::internal, "the prompt expects " + std::to_string(p.n_images) + " image(s), the task gives " +
                               std::to_string(imgs.size()));
  TaskPlan plan;
  plan.image_prompt = std::move(p.image_prompt);
  plan.questions = std::move(p.questions);
  plan.images = std::move(imgs);
  plan.labels = std::move(labels);
  return plan;
}

using Format = std::shared_ptr<const AnswerFormat>;
Format boxes(AnswerFormat::BoxAnswer kind) { return std::make_shared<const AnswerFormat>(AnswerFormat::box_answer(kind)); }
Format label_list(const std::vector<std::string>& labels) {
  return std::make_shared<const AnswerFormat>(AnswerFormat::label_list(labels));
}

// Names a box can get in G2 (the boxed findings of every grounding dataset, each once).
const std::vector<std::string>& boxed_finding_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all;
    for (LabelSet set : {LabelSet::vindr_cxr, LabelSet::nih_boxed, LabelSet::chestx_det10, LabelSet::siim,
                         LabelSet::rsna, LabelSet::jsrt})
      for (const std::string& n : label_set(set))
        if (std::find(all.begin(), all.end(), n) == all.end()) all.push_back(n);
    return all;
  }();
  return names;
}

TaskPlan with_formats(TaskPlan plan, std::vector<Format> formats) {
  if (formats.size() != plan.questions.size())
    fail(Status::internal, "answer formats for " + std::to_string(formats.size()) + " of " +
                               std::to_string(plan.questions.size()) + " turns");
  plan.answer_formats = std::move(formats);
  return plan;
}

}  // namespace

TaskPlan plan_report(const TaskArgs& a, const TaskContext&) {
  const auto& imgs = images(a, "images");
  const int n = static_cast<int>(imgs.size());
  return with_formats(
      from_prompt(arg(a, "plural_wording").flag ? report_cot_multi(n) : report_cot(n), imgs, cot_findings()),
      {label_list(cot_findings()), nullptr});
}

TaskPlan plan_report_followup(const TaskArgs& a, const TaskContext&) {
  std::vector<ImageArg> imgs = images(a, "prior_images");
  const auto& cur = images(a, "current_images");
  imgs.insert(imgs.end(), cur.begin(), cur.end());
  TaskPrompt p = report_followup_cot(static_cast<int>(images(a, "prior_images").size()), static_cast<int>(cur.size()),
                                     text(a, "prior_report"));
  return with_formats(from_prompt(std::move(p), std::move(imgs), cot_findings()), {label_list(cot_findings()), nullptr});
}

TaskPlan plan_classify(const TaskArgs& a, const TaskContext&) {
  const auto& labels = texts(a, "labels");
  return with_formats(from_prompt(classify(labels), {image(a, "image")}, prompt_labels(labels)),
                      {label_list(prompt_labels(labels))});
}

TaskPlan plan_ground_finding(const TaskArgs& a, const TaskContext&) {
  return with_formats(from_prompt(ground_finding(text(a, "finding")), {image(a, "image")}, {text(a, "finding")}),
                      {boxes(AnswerFormat::BoxAnswer::yes_boxes_or_not_present)});
}

TaskPlan plan_ground_findings(const TaskArgs& a, const TaskContext&) {
  const auto& f = texts(a, "findings");
  return with_formats(from_prompt(ground_multi_findings(f), {image(a, "image")}, prompt_labels(f)),
                      {std::make_shared<const AnswerFormat>(AnswerFormat::named_boxes(prompt_labels(f)))});
}

TaskPlan plan_detect_abnormalities(const TaskArgs& a, const TaskContext&) {
  return with_formats(from_prompt(detect_abnormalities(), {image(a, "image")}, {"abnormality"}),
                      {boxes(AnswerFormat::BoxAnswer::boxes_period)});
}

TaskPlan plan_ground_organ(const TaskArgs& a, const TaskContext&) {
  return with_formats(from_prompt(ground_organ(text(a, "organ")), {image(a, "image")}, {text(a, "organ")}),
                      {boxes(AnswerFormat::BoxAnswer::boxes)});
}

TaskPlan plan_ground_phrase(const TaskArgs& a, const TaskContext&) {
  return with_formats(from_prompt(ground_phrase(text(a, "phrase")), {image(a, "image")}, {text(a, "phrase")}),
                      {boxes(AnswerFormat::BoxAnswer::boxes_period)});
}

TaskPlan plan_ground_region(const TaskArgs& a, const TaskContext&) {
  return with_formats(from_prompt(ground_region(text(a, "region")), {image(a, "image")}, {text(a, "region")}),
                      {boxes(AnswerFormat::BoxAnswer::one_box_period)});
}

TaskPlan plan_identify_region(const TaskArgs& a, const TaskContext&) {
  const ImageArg& im = image(a, "image");
  const std::vector<ModelBox> boxes = model_boxes(a, "boxes", im);
  const std::string& what = text(a, "what");
  const bool one_box = what == "finding" || what == "region";
  if (one_box && boxes.size() != 1)
    fail(Status::invalid_argument, "identify_region: naming a " + what + " takes exactly one box");
  TaskPrompt p = what == "finding" ? grounded_finding(boxes[0])
                 : what == "region" ? grounded_region(boxes[0])
                 : what == "organ"  ? grounded_organ(boxes)
                                    : grounded_phrase(boxes);
  // The name of a finding, organ or region is one of its set; a phrase is free text.
  const Format format =
      what == "finding" ? std::make_shared<const AnswerFormat>(AnswerFormat::one_label(boxed_finding_names()))
      : what == "region" ? std::make_shared<const AnswerFormat>(AnswerFormat::one_label(label_set(LabelSet::imagenome_regions)))
      : what == "organ"  ? std::make_shared<const AnswerFormat>(AnswerFormat::one_label(label_set(LabelSet::organs)))
                         : nullptr;
  return with_formats(from_prompt(std::move(p), {im}), {format});
}

TaskPlan plan_vqa(const TaskArgs& a, const TaskContext&) {
  return from_prompt(vqa(text(a, "question")), {image(a, "image")});
}

TaskPlan plan_difference_vqa(const TaskArgs& a, const TaskContext&) {
  return from_prompt(difference_vqa(text(a, "question")), {image(a, "reference"), image(a, "main")});
}

// demo.chat: the first turn shows its image(s) after the system message; a later turn
// with images shows them with their own prefix ("follow-up image: <image>" upstream).
TaskPlan plan_chat(const TaskArgs& a, const TaskContext& context) {
  const auto& imgs = images(a, "images");
  const std::string& t = text(a, "text");
  if (context.conversation_empty && imgs.size() == 1) return from_prompt(instruction(t, Turn::first), imgs);
  TaskPlan plan = from_prompt(instruction(t, Turn::later), {});
  plan.images = imgs;
  if (!imgs.empty())
    plan.image_prompt = (imgs.size() == 1 ? "radiology image: " : "radiology images: ") +
                        image_markers(static_cast<int>(imgs.size()));
  return plan;
}

}  // namespace m4cxr
