#include "tasks/task_registry.h"

#include <set>

#include "common/error.h"

namespace m4cxr {

#include "task_table_generated.inc"

namespace {

[[noreturn]] void bad_arg(std::string_view task, std::string_view arg, const std::string& why) {
  fail(Status::invalid_argument, std::string(task) + ": " + std::string(arg) + " " + why);
}

ArgValue::Kind kind_for(ArgType t) {
  switch (t) {
    case ArgType::image:
    case ArgType::images: return ArgValue::Kind::images;
    case ArgType::boxes: return ArgValue::Kind::boxes;
    case ArgType::flag: return ArgValue::Kind::flag;
    case ArgType::text:
    case ArgType::texts:
    case ArgType::choice: return ArgValue::Kind::texts;
  }
  return ArgValue::Kind::texts;
}

const char* kind_name(ArgValue::Kind k) {
  switch (k) {
    case ArgValue::Kind::images: return "image(s)";
    case ArgValue::Kind::texts: return "text(s)";
    case ArgValue::Kind::boxes: return "box(es)";
    case ArgValue::Kind::flag: return "a flag";
  }
  return "?";
}

size_t count_of(const ArgValue& v) {
  switch (v.kind) {
    case ArgValue::Kind::images: return v.images.size();
    case ArgValue::Kind::texts: return v.texts.size();
    case ArgValue::Kind::boxes: return v.boxes.size();
    case ArgValue::Kind::flag: return 1;
  }
  return 0;
}

ArgValue default_of(const ArgDecl& d) {
  ArgValue v;
  v.kind = kind_for(d.type);
  if (d.default_text != nullptr) v.texts.push_back(d.default_text);
  v.flag = d.default_flag;
  return v;
}

void check_value(const TaskDecl& t, const ArgDecl& d, const ArgValue& v) {
  if (v.kind != kind_for(d.type))
    bad_arg(t.name, d.name, std::string("takes ") + kind_name(kind_for(d.type)) + ", got " + kind_name(v.kind));
  const size_t n = count_of(v);
  if (n < static_cast<size_t>(d.min) || n > static_cast<size_t>(d.max))
    bad_arg(t.name, d.name, "takes " + (d.min == d.max ? std::to_string(d.min)
                                                       : std::to_string(d.min) + " to " + std::to_string(d.max)) +
                                " value(s), got " + std::to_string(n));
  if (d.type == ArgType::choice) {
    for (const char* c : d.choices)
      if (v.texts[0] == c) return;
    std::string all;
    for (const char* c : d.choices) all += (all.empty() ? "" : ", ") + std::string(c);
    bad_arg(t.name, d.name, "must be one of " + all + ", got \"" + v.texts[0] + "\"");
  }
}

}  // namespace

const std::vector<TaskDecl>& task_decls() { return generated_task_decls(); }

const TaskDecl* find_task(std::string_view name) {
  for (const TaskDecl& t : task_decls())
    if (name == t.name) return &t;
  return nullptr;
}

std::string_view task_table_json() { return kTaskTableJson; }

TaskPlan plan_task(std::string_view task, TaskArgs args, const TaskContext& context) {
  const TaskDecl* t = find_task(task);
  if (t == nullptr) fail(Status::invalid_argument, "unknown task \"" + std::string(task) + "\"");
  std::set<std::string_view> known;
  for (const ArgDecl& d : t->args) {
    known.insert(d.name);
    auto it = args.find(d.name);
    if (it == args.end()) {
      if (!d.optional) bad_arg(t->name, d.name, "is required");
      args.emplace(d.name, default_of(d));
      continue;
    }
    check_value(*t, d, it->second);
  }
  for (const auto& [name, value] : args)
    if (known.count(name) == 0) bad_arg(t->name, name, "is not an argument of this task");
  TaskPlan plan;
  try {
    plan = t->plan(args, context);
  } catch (const Error& e) {
    // The prompt builders name themselves ("ground_multi_findings: ..."); users know the task.
    std::string message = e.what();
    const size_t colon = message.find(": ");
    if (colon != std::string::npos && colon > 0 &&
        message.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == colon)
      message = std::string(t->name) + message.substr(colon);
    throw Error(e.status(), message);
  }
  plan.task = t->name;
  plan.output = t->output;
  plan.conversation = t->conversation;
  plan.answer_formats.resize(plan.questions.size());  // free text where a plan sets none
  return plan;
}

}  // namespace m4cxr
