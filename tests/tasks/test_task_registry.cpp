// The task registry generated from src/tasks/task_table.json: the built-in JSON and the
// C++ declarations agree, every task plans, plans carry the builders' prompts, and
// argument checking names the task and the argument.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "tasks/label_sets.h"
#include "tasks/task_prompts.h"
#include "tasks/task_registry.h"

using namespace m4cxr;

namespace {

const char* type_name(ArgType t) {
  switch (t) {
    case ArgType::image: return "image";
    case ArgType::images: return "images";
    case ArgType::text: return "text";
    case ArgType::texts: return "texts";
    case ArgType::boxes: return "boxes";
    case ArgType::choice: return "choice";
    case ArgType::flag: return "flag";
  }
  return "?";
}

ArgValue images(int n) {
  ArgValue v;
  v.kind = ArgValue::Kind::images;
  for (int i = 0; i < n; ++i) v.images.push_back({i, 150, 200});
  return v;
}
ArgValue texts(std::vector<std::string> t) {
  ArgValue v;
  v.kind = ArgValue::Kind::texts;
  v.texts = std::move(t);
  return v;
}

// The user messages a plan sends on an empty conversation (as the engine joins them).
std::vector<std::string> turns_of(const TaskPlan& p) {
  TaskPrompt tp{p.image_prompt, p.questions, true, static_cast<int>(p.images.size())};
  return tp.user_turns();
}

std::string error_of(std::string_view task, const TaskArgs& args) {
  try {
    plan_task(task, args, {});
  } catch (const Error& e) {
    CHECK(e.status() == Status::invalid_argument);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("the built-in table JSON and the generated declarations agree") {
  const auto table = nlohmann::json::parse(task_table_json());
  REQUIRE(table["tasks"].size() == task_decls().size());
  for (size_t i = 0; i < task_decls().size(); ++i) {
    const TaskDecl& d = task_decls()[i];
    const auto& t = table["tasks"][i];
    CAPTURE(d.name);
    CHECK(t["name"] == d.name);
    CHECK(t["doc"] == d.doc);
    CHECK(find_task(d.name) == &d);
    REQUIRE(t["args"].size() == d.args.size());
    for (size_t k = 0; k < d.args.size(); ++k) {
      CHECK(t["args"][k]["name"] == d.args[k].name);
      CHECK(t["args"][k]["type"] == type_name(d.args[k].type));
      CHECK(t["args"][k].contains("default") == d.args[k].optional);
    }
  }
  CHECK(find_task("no_such_task") == nullptr);
}

TEST_CASE("plans carry exactly the prompt builders' messages") {
  TaskArgs report{{"images", images(1)}};
  CHECK(turns_of(plan_task("report", report, {})) == report_cot(1).user_turns());
  report["plural_wording"].kind = ArgValue::Kind::flag;
  report["plural_wording"].flag = true;
  CHECK(turns_of(plan_task("report", report, {})) == report_cot_multi(1).user_turns());
  CHECK(turns_of(plan_task("report", {{"images", images(3)}}, {})) == report_cot(3).user_turns());

  const TaskPlan organ = plan_task("ground_organ", {{"image", images(1)}}, {});
  CHECK(turns_of(organ) == ground_organ("lung").user_turns());  // the table's default
  CHECK(organ.labels == std::vector<std::string>{"lung"});
  CHECK(organ.output == OutputKind::boxes);

  const TaskPlan cls = plan_task("classify", {{"image", images(1)}}, {});
  CHECK(cls.labels == cot_findings());
  CHECK(cls.output == OutputKind::findings);

  TaskArgs follow{{"prior_images", images(2)}, {"prior_report", texts({"Clear lungs."})}, {"current_images", images(1)}};
  follow["current_images"].images[0].index = 7;
  const TaskPlan f = plan_task("report_followup", follow, {});
  CHECK(turns_of(f) == report_followup_cot(2, 1, "Clear lungs.").user_turns());
  REQUIRE(f.images.size() == 3);
  CHECK(f.images[2].index == 7);  // prior first, then current

  TaskArgs identify{{"image", images(1)}, {"what", texts({"region"})}};
  identify["boxes"].kind = ArgValue::Kind::boxes;
  identify["boxes"].boxes.push_back({30, 40, 120, 160});  // pixels of a 150x200 image: center crop
  CHECK(turns_of(plan_task("identify_region", identify, {})) == grounded_region({20, 10, 80, 90}).user_turns());

  TaskArgs diff{{"reference", images(1)}, {"main", images(1)}, {"question", texts({"what changed?"})}};
  diff["main"].images[0].index = 1;
  const TaskPlan d = plan_task("difference_vqa", diff, {});
  CHECK(d.images[0].index == 0);
  CHECK(d.images[1].index == 1);

  // chat: the first turn shows the image after the system message; later turns prefix it.
  TaskArgs chat{{"text", texts({"What is the view?"})}, {"images", images(1)}};
  CHECK(turns_of(plan_task("chat", chat, {true})) == instruction("What is the view?").user_turns());
  const TaskPlan later = plan_task("chat", chat, {false});
  CHECK(later.image_prompt == "radiology image: <image>");
  CHECK(later.conversation == ConversationUse::continues);
  CHECK(plan_task("vqa", {{"image", images(1)}, {"question", texts({"Is there edema?"})}}, {}).conversation ==
        ConversationUse::fresh);
}

TEST_CASE("argument checking names the task and the argument") {
  CHECK(error_of("nope", {}) == "unknown task \"nope\"");
  CHECK(error_of("vqa", {{"image", images(1)}}) == "vqa: question is required");
  CHECK(error_of("vqa", {{"image", images(2)}, {"question", texts({"q"})}}) == "vqa: image takes 1 value(s), got 2");
  CHECK(error_of("vqa", {{"image", texts({"x.png"})}, {"question", texts({"q"})}}) ==
        "vqa: image takes image(s), got text(s)");
  CHECK(error_of("vqa", {{"image", images(1)}, {"question", texts({"q"})}, {"colour", texts({"red"})}}) ==
        "vqa: colour is not an argument of this task");
  CHECK(error_of("report", {{"images", images(6)}}) == "report: images takes 1 to 5 value(s), got 6");
  CHECK(error_of("identify_region", {{"image", images(1)}, {"what", texts({"colour"})}}).find(
            "must be one of finding, organ, region, phrase") != std::string::npos);
  // Boxes are checked in pixels: outside the image, or wholly outside the centre square
  // the model sees, they are refused with pixel numbers; partly outside, clipped.
  auto boxes_arg = [](PixelBox b) {
    TaskArgs a{{"image", images(1)}, {"what", texts({"organ"})}};
    a["boxes"].kind = ArgValue::Kind::boxes;
    a["boxes"].boxes.push_back(b);
    return a;
  };
  CHECK(error_of("identify_region", boxes_arg({0, 10, 150, 977})) == "box (0,10,150,977) px reaches outside the 150x200 image");
  CHECK(error_of("identify_region", boxes_arg({0, 180, 150, 200})) ==
        "box (0,180,150,200) px lies outside the part of the 150x200 image the model sees (0,25,150,175)");
  CHECK(turns_of(plan_task("identify_region", boxes_arg({0, 10, 150, 190}), {})) ==
        grounded_organ({{0, 0, 100, 100}}).user_turns());
  // Messages name the task, never an internal prompt builder.
  CHECK(error_of("ground_findings", {{"image", images(1)}, {"findings", texts({"No Finding"})}}) ==
        "ground_findings: no labels left (\"no finding\" and \"lung\" are dropped)");
  CHECK(error_of("report_followup", {{"prior_images", images(5)}, {"prior_report", texts({"x"})}, {"current_images", images(6)}})
            .rfind("report_followup: ", 0) == 0);
  // The prompt builders' own checks still apply (structural markers, empty text).
  CHECK(error_of("vqa", {{"image", images(1)}, {"question", texts({"<image>"})}}).find("<image>") != std::string::npos);
}
