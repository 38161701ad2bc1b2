// The task registry: every M4CXR task as declared in src/tasks/task_table.json (the one
// description of the tasks; this header's table is generated from it at build time), and
// plan_task(), which checks a call's arguments against the declaration and turns them
// into a TaskPlan: the structured value the engine runs (image prompt, one question per
// user turn, image order, output kind, label set). The C ABI only converts arguments.
//
// Plain values in, plain values out; everything here is reentrant (thread-safe). Errors
// are m4cxr::Error(Status::invalid_argument) naming the task and the argument.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "image/box_geometry.h"
#include "tasks/answer_format.h"

namespace m4cxr {

enum class ArgType { image, images, text, texts, boxes, choice, flag };

enum class OutputKind {
  text,         // free text (VQA, identify-region)
  report_cot,   // turn 0 findings, turn 1 report
  findings,     // classification
  boxes,        // every [x1,y1,x2,y2] in the answer
  named_boxes,  // "name [..], [..], name2 [..]." (multi-finding grounding)
};

// fresh: the task starts a new conversation unless the caller asks to continue one;
// continues: the task is a turn of the session's conversation (chat).
enum class ConversationUse { fresh, continues };

struct ArgDecl {
  const char* name;
  ArgType type;
  int min = 1, max = 1;        // element count for images / texts / boxes
  bool optional = false;       // has a default
  const char* default_text = nullptr;  // text default (nullptr: none)
  bool default_flag = false;
  std::vector<const char*> choices;    // choice arguments
  const char* doc = "";
};

// An image passed to a task: its index in the caller's list of images and its size
// (boxes are converted with it).
struct ImageArg {
  int index = 0;
  int width = 0, height = 0;
};

// One argument's value as given. `kind` says which adder filled it (images, texts,
// boxes, flag); plan_task refuses a value of the wrong kind for the declared type.
struct ArgValue {
  enum class Kind { images, texts, boxes, flag } kind = Kind::texts;
  std::vector<ImageArg> images;
  std::vector<std::string> texts;
  std::vector<PixelBox> boxes;
  bool flag = false;
};
using TaskArgs = std::map<std::string, ArgValue, std::less<>>;

struct TaskContext {
  bool conversation_empty = true;  // the turn starts a conversation (system message)
};

struct TaskPlan {
  std::string task;
  std::string image_prompt;            // "radiology image: <image>"; "" when no images are shown
  std::vector<std::string> questions;  // one per user turn (turn 0 without the prefix)
  std::vector<ImageArg> images;        // in "<image>" marker order
  OutputKind output = OutputKind::text;
  std::vector<std::string> labels;     // candidate names (findings) or the label of boxes
  ConversationUse conversation = ConversationUse::fresh;
  // The fixed shape of each turn's answer (upstream's training targets), one per question;
  // nullptr for free text. What constrained decoding keeps the answer inside.
  std::vector<std::shared_ptr<const AnswerFormat>> answer_formats;
};

using PlanFn = TaskPlan (*)(const TaskArgs& args, const TaskContext& context);

struct TaskDecl {
  const char* name;
  OutputKind output;
  ConversationUse conversation;
  const char* doc;
  std::vector<ArgDecl> args;
  PlanFn plan;
};

// Every task, in table order. Process-wide, immutable.
const std::vector<TaskDecl>& task_decls();
// nullptr for an unknown name.
const TaskDecl* find_task(std::string_view name);
// src/tasks/task_table.json as built in (the source of the bindings and the CLI).
std::string_view task_table_json();
// Checks `args` against the task's declaration (unknown or missing arguments, kinds,
// counts, choices), fills defaults and builds the plan.
TaskPlan plan_task(std::string_view task, TaskArgs args, const TaskContext& context);

}  // namespace m4cxr
