// C ABI: sessions, task arguments, the typed task calls (each a thin conversion into the
// task registry's named arguments), driving tasks (pull / callback).
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "api_internal.h"
#include "tasks/task_prompts.h"
#include "tasks/task_registry.h"

using namespace m4cxr;
using namespace m4cxr_capi;

namespace {

struct CallOptions {
  GenerationOptions generation;
  bool continue_conversation = false;
  std::string record;  // the options as JSON, for the replay record
};

CallOptions to_call_options(const m4cxr_generation_options* o) {
  m4cxr_generation_options d;
  m4cxr_generation_options_init(&d, sizeof d);
  if (o != nullptr) {
    read_struct(o, kGenerationOptionsV1Size, &d, "m4cxr_generation_options");
    if (o->struct_size < kGenerationOptionsLogprobsSize) d.logprobs = d.top_logprobs = d.constrained = 0;  // older layout
  }
  if (d.max_new_tokens < 1) fail(Status::invalid_argument, "max_new_tokens must be at least 1");
  if (d.max_new_tokens > 32768) fail(Status::invalid_argument, "max_new_tokens is absurdly large");
  CallOptions c;
  GenerationOptions& g = c.generation;
  g.max_new_tokens = d.max_new_tokens;
  g.sampling.greedy = d.do_sample == 0;
  g.sampling.temperature = d.temperature;
  g.sampling.top_k = d.top_k;
  g.sampling.top_p = d.top_p;
  g.sampling.seed = d.seed;
  Sampler check(g.sampling);  // validates the sampling values now, not mid-task
  (void)check;
  c.continue_conversation = d.continue_conversation != 0;
  if (d.logprobs != 0) {
    if (d.top_logprobs < 0 || d.top_logprobs > kMaxTopLogprobs)
      fail(Status::invalid_argument,
           "top_logprobs is " + std::to_string(d.top_logprobs) + "; it must be 0.." + std::to_string(kMaxTopLogprobs));
    g.logprobs = d.top_logprobs;
  }
  g.constrained = d.constrained != 0;
  nlohmann::json record{{"max_new_tokens", d.max_new_tokens}, {"do_sample", d.do_sample != 0},
                        {"temperature", d.temperature},        {"top_k", d.top_k},
                        {"top_p", d.top_p},                    {"seed", d.seed},
                        {"continue_conversation", c.continue_conversation}};
  if (g.logprobs >= 0) {  // only when on: the record of a task without them is unchanged
    record["logprobs"] = true;
    record["top_logprobs"] = g.logprobs;
  }
  if (g.constrained) record["constrained"] = true;  // likewise
  c.record = record.dump();
  return c;
}

std::string name_arg(const char* name) {
  if (name == nullptr || *name == '\0') fail(Status::invalid_argument, "argument name is NULL or empty");
  return name;
}

// Adds to the argument `name`, refusing a second kind of value under one name.
ArgValue& value_of(TaskArgsObject& a, const std::string& name, ArgValue::Kind kind) {
  auto [it, added] = a.args.try_emplace(name);
  if (added) it->second.kind = kind;
  if (it->second.kind != kind) fail(Status::invalid_argument, "argument " + name + " already holds another kind of value");
  return it->second;
}

void add_image(TaskArgsObject& a, const std::string& name, const m4cxr_image* h, const char* what) {
  if (h == nullptr) fail(Status::invalid_argument, std::string(what) + " is NULL");
  auto im = get<ImageObject>(h);
  if (!im) throw HandleError(std::string(what) + " is freed or not an image handle");
  ArgValue& v = value_of(a, name, ArgValue::Kind::images);
  v.images.push_back({static_cast<int>(a.images.size()), im->image->width, im->image->height});
  a.images.push_back(im->image);
}

void add_images(TaskArgsObject& a, const std::string& name, const m4cxr_image* const* h, size_t n, const char* what) {
  if (n > 0 && h == nullptr) fail(Status::invalid_argument, std::string(what) + " array is NULL");
  value_of(a, name, ArgValue::Kind::images);  // present even when empty
  for (size_t i = 0; i < n; ++i) add_image(a, name, h[i], what);
}

void add_text(TaskArgsObject& a, const std::string& name, const char* s, const char* what) {
  if (s == nullptr) fail(Status::invalid_argument, std::string(what) + " is NULL");
  value_of(a, name, ArgValue::Kind::texts).texts.emplace_back(s);
}

void add_texts(TaskArgsObject& a, const std::string& name, const char* const* s, size_t n, const char* what) {
  if (n > 0 && s == nullptr) fail(Status::invalid_argument, std::string(what) + " array is NULL");
  value_of(a, name, ArgValue::Kind::texts);
  for (size_t i = 0; i < n; ++i) add_text(a, name, s[i], what);
}

void add_box(TaskArgsObject& a, const std::string& name, const double* b) {
  if (b == nullptr) fail(Status::invalid_argument, "box is NULL");
  value_of(a, name, ArgValue::Kind::boxes).boxes.push_back(PixelBox{b[0], b[1], b[2], b[3]});
}

// A task whose handle was freed before it finished, or that was cancelled and not driven
// to its end, leaves the conversation mid-turn: stop and drain it so the session is
// consistent and usable (a cancelled task then reads as finished, its result marked
// cancelled). Session claimed by the caller.
void settle_abandoned_task(SessionObject& s) {
  if (s.task == 0 || s.task_finished) return;
  auto t = get_handle<TaskObject>(s.task);
  if (t && !s.chat.cancel_requested()) return;  // a live task that may still run
  if (t) {
    Claim claim(t->busy);
    if (!claim.ok()) return;  // being driven right now: it finishes by itself
  }
  s.chat.cancel();
  std::string piece;
  int turn;
  try {
    while (s.chat.next(&piece, &turn)) {
    }
  } catch (...) {
  }
  if (t) {
    t->outcome = s.chat.outcome();
    t->outcome.cancelled = true;
    t->finished = true;
  } else {
    s.task = 0;
  }
  s.task_finished = true;
}

// Common path of every task call: session checks, plan from the registry, task handle.
m4cxr_status start_task(m4cxr_session* session, const std::string& name, const TaskArgsObject& args,
                        const m4cxr_generation_options* options, m4cxr_task** out) {
  if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
  *out = nullptr;
  auto s = require<SessionObject>(session);
  Claim claim(s->busy);
  if (!claim.ok()) return set_error(M4CXR_ERR_BUSY, "the session is in use by another thread");
  settle_abandoned_task(*s);
  if (s->task != 0 && !s->task_finished)
    return set_error(M4CXR_ERR_BUSY, "the session has an unfinished task; run it to the end, cancel it or free it first");
  CallOptions call = to_call_options(options);
  const TaskDecl* decl = find_task(name);
  if (decl == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "unknown task \"" + name + "\"");
  const bool fresh = decl->conversation == ConversationUse::fresh && !call.continue_conversation;
  TaskContext context;
  context.conversation_empty = fresh || s->chat.empty();
  TaskPlan plan = plan_task(name, args.args, context);
  s->chat.begin(make_task_spec(std::move(plan), args.images, call.generation), fresh);
  auto t = std::make_shared<TaskObject>();
  t->session = handle_value<SessionObject>(session);
  t->options_json = std::move(call.record);
  m4cxr_task* h = new_handle<m4cxr_task>(t);
  t->self = handle_value<TaskObject>(h);
  s->task = t->self;
  s->task_finished = false;
  *out = h;
  return M4CXR_OK;
}

template <typename Fill>
m4cxr_status typed_task(m4cxr_session* s, const char* name, const m4cxr_generation_options* options, m4cxr_task** out,
                        Fill&& fill) {
  return guarded([&]() -> m4cxr_status {
    if (out != nullptr) *out = nullptr;
    TaskArgsObject a;
    fill(a);
    return start_task(s, name, a, options, out);
  });
}

// The task ended (done, stopped or failed): record it on the task and the session.
void finish(TaskObject& t, SessionObject& s) {
  t.finished = true;
  t.outcome = s.chat.outcome();
  s.task_finished = true;
}

}  // namespace

extern "C" {

m4cxr_status m4cxr_generation_options_init(m4cxr_generation_options* o, size_t struct_size) {
  return guarded([&]() -> m4cxr_status {
    m4cxr_generation_options d;
    std::memset(static_cast<void*>(&d), 0, sizeof d);
    d.max_new_tokens = 500;
    d.temperature = 1.0f;
    d.top_k = 50;
    d.top_p = 1.0f;
    return init_struct(o, struct_size, kGenerationOptionsV1Size, d);
  });
}

// For programs built against 0.1, whose struct ends before continue_conversation.
#undef m4cxr_generation_options_default
M4CXR_API void m4cxr_generation_options_default(m4cxr_generation_options* o) {
  m4cxr_generation_options_init(o, kGenerationOptionsV1Size);
}

m4cxr_status m4cxr_session_create(m4cxr_model* model, m4cxr_session** out) {
  return guarded([&]() -> m4cxr_status {
    if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    auto m = require<ModelObject>(model);
    auto s = std::make_shared<SessionObject>(m->model);
    s->chat.set_image_cache_capacity(static_cast<size_t>(m->max_cached_images));
    *out = new_handle<m4cxr_session>(std::move(s));
    return M4CXR_OK;
  });
}

void m4cxr_session_free(m4cxr_session* session) {
  try {
    auto s = std::static_pointer_cast<SessionObject>(unregister(handle_value<SessionObject>(session), HandleKind::session));
    if (s) s->chat.cancel();  // a step running on another thread ends soon; it holds the last reference
  } catch (...) {
  }
}

m4cxr_status m4cxr_session_reset(m4cxr_session* session) {
  return guarded([&]() -> m4cxr_status {
    auto s = require<SessionObject>(session);
    Claim claim(s->busy);
    if (!claim.ok()) return set_error(M4CXR_ERR_BUSY, "the session is in use by another thread");
    settle_abandoned_task(*s);
    if (s->task != 0 && !s->task_finished)
      return set_error(M4CXR_ERR_BUSY, "the session has an unfinished task; run it to the end, cancel it or free it first");
    s->chat.reset();
    return M4CXR_OK;
  });
}

m4cxr_status m4cxr_session_clear_image_cache(m4cxr_session* session) {
  return guarded([&]() -> m4cxr_status {
    auto s = require<SessionObject>(session);
    Claim claim(s->busy);
    if (!claim.ok()) return set_error(M4CXR_ERR_BUSY, "the session is in use by another thread");
    s->chat.clear_image_cache();
    return M4CXR_OK;
  });
}

m4cxr_status m4cxr_session_cancel(m4cxr_session* session) {
  return guarded([&]() -> m4cxr_status {
    require<SessionObject>(session)->chat.cancel();
    return M4CXR_OK;
  });
}

m4cxr_status m4cxr_session_append_turn(m4cxr_session* session, const char* user_text, const char* answer,
                                       const m4cxr_image* const* images, size_t n) {
  return guarded([&]() -> m4cxr_status {
    auto s = require<SessionObject>(session);
    if (user_text == nullptr || *user_text == '\0') return set_error(M4CXR_ERR_INVALID_ARGUMENT, "user_text is empty");
    if (answer == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "answer is NULL");
    TaskArgsObject a;
    add_images(a, "images", images, n, "image");
    Claim claim(s->busy);
    if (!claim.ok()) return set_error(M4CXR_ERR_BUSY, "the session is in use by another thread");
    settle_abandoned_task(*s);
    if (s->task != 0 && !s->task_finished) return set_error(M4CXR_ERR_BUSY, "the session has an unfinished task");
    s->chat.append_turn(user_text, answer, a.images);
    return M4CXR_OK;
  });
}

// ---------------------------------------------------------------- any task by name
const char* m4cxr_task_table_json(void) { return task_table_json().data(); }

m4cxr_status m4cxr_task_args_create(m4cxr_task_args** out) {
  return guarded([&]() -> m4cxr_status {
    if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = new_handle<m4cxr_task_args>(std::make_shared<TaskArgsObject>());
    return M4CXR_OK;
  });
}

void m4cxr_task_args_free(m4cxr_task_args* args) {
  try {
    unregister(handle_value<TaskArgsObject>(args), HandleKind::task_args);
  } catch (...) {
  }
}

m4cxr_status m4cxr_task_args_add_image(m4cxr_task_args* args, const char* name, const m4cxr_image* image) {
  return guarded([&]() -> m4cxr_status {
    auto a = require<TaskArgsObject>(args);
    std::string n = name_arg(name);
    add_image(*a, n, image, n.c_str());
    return M4CXR_OK;
  });
}

m4cxr_status m4cxr_task_args_add_text(m4cxr_task_args* args, const char* name, const char* text) {
  return guarded([&]() -> m4cxr_status {
    auto a = require<TaskArgsObject>(args);
    std::string n = name_arg(name);
    add_text(*a, n, text, n.c_str());
    return M4CXR_OK;
  });
}

m4cxr_status m4cxr_task_args_add_box(m4cxr_task_args* args, const char* name, const double* box) {
  return guarded([&]() -> m4cxr_status {
    auto a = require<TaskArgsObject>(args);
    add_box(*a, name_arg(name), box);
    return M4CXR_OK;
  });
}

m4cxr_status m4cxr_task_args_set_flag(m4cxr_task_args* args, const char* name, int value) {
  return guarded([&]() -> m4cxr_status {
    auto a = require<TaskArgsObject>(args);
    value_of(*a, name_arg(name), ArgValue::Kind::flag).flag = value != 0;
    return M4CXR_OK;
  });
}

m4cxr_status m4cxr_task_start(m4cxr_session* s, const char* task_name, const m4cxr_task_args* args,
                              const m4cxr_generation_options* options, m4cxr_task** out) {
  return guarded([&]() -> m4cxr_status {
    if (out != nullptr) *out = nullptr;
    if (task_name == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "task_name is NULL");
    std::shared_ptr<TaskArgsObject> a;
    if (args != nullptr) a = require<TaskArgsObject>(args, "task args");
    const TaskArgsObject empty;
    return start_task(s, task_name, a ? *a : empty, options, out);
  });
}

// ---------------------------------------------------------------- typed calls
m4cxr_status m4cxr_report(m4cxr_session* s, const m4cxr_image* const* images, size_t n,
                          const m4cxr_generation_options* options, m4cxr_task** out) {
  return typed_task(s, "report", options, out, [&](TaskArgsObject& a) { add_images(a, "images", images, n, "image"); });
}

m4cxr_status m4cxr_report_followup(m4cxr_session* s, const m4cxr_image* const* prior, size_t n_prior,
                                   const char* prior_report, const m4cxr_image* const* current, size_t n_current,
                                   const m4cxr_generation_options* options, m4cxr_task** out) {
  return typed_task(s, "report_followup", options, out, [&](TaskArgsObject& a) {
    add_images(a, "prior_images", prior, n_prior, "prior image");
    add_text(a, "prior_report", prior_report, "prior_report");
    add_images(a, "current_images", current, n_current, "current image");
  });
}

m4cxr_status m4cxr_classify(m4cxr_session* s, const m4cxr_image* image, const char* const* labels, size_t n_labels,
                            const m4cxr_generation_options* options, m4cxr_task** out) {
  return typed_task(s, "classify", options, out, [&](TaskArgsObject& a) {
    add_image(a, "image", image, "image");
    if (labels != nullptr || n_labels > 0) add_texts(a, "labels", labels, n_labels, "label");
  });
}

m4cxr_status m4cxr_ground_finding(m4cxr_session* s, const m4cxr_image* image, const char* finding,
                                  const m4cxr_generation_options* options, m4cxr_task** out) {
  return typed_task(s, "ground_finding", options, out, [&](TaskArgsObject& a) {
    add_image(a, "image", image, "image");
    add_text(a, "finding", finding, "finding");
  });
}

m4cxr_status m4cxr_ground_findings(m4cxr_session* s, const m4cxr_image* image, const char* const* findings, size_t n,
                                   const m4cxr_generation_options* options, m4cxr_task** out) {
  return typed_task(s, "ground_findings", options, out, [&](TaskArgsObject& a) {
    add_image(a, "image", image, "image");
    add_texts(a, "findings", findings, n, "finding");
  });
}

m4cxr_status m4cxr_detect_abnormalities(m4cxr_session* s, const m4cxr_image* image,
                                        const m4cxr_generation_options* options, m4cxr_task** out) {
  return typed_task(s, "detect_abnormalities", options, out,
                    [&](TaskArgsObject& a) { add_image(a, "image", image, "image"); });
}

m4cxr_status m4cxr_ground_organ(m4cxr_session* s, const m4cxr_image* image, const char* organ,
                                const m4cxr_generation_options* options, m4cxr_task** out) {
  return typed_task(s, "ground_organ", options, out, [&](TaskArgsObject& a) {
    add_image(a, "image", image, "image");
    if (organ != nullptr) add_text(a, "organ", organ, "organ");
  });
}

m4cxr_status m4cxr_ground_phrase(m4cxr_session* s, const m4cxr_image* image, const char* phrase,
                                 const m4cxr_generation_options* options, m4cxr_task** out) {
  return typed_task(s, "ground_phrase", options, out, [&](TaskArgsObject& a) {
    add_image(a, "image", image, "image");
    add_text(a, "phrase", phrase, "phrase");
  });
}

m4cxr_status m4cxr_ground_region(m4cxr_session* s, const m4cxr_image* image, const char* region,
                                 const m4cxr_generation_options* options, m4cxr_task** out) {
  return typed_task(s, "ground_region", options, out, [&](TaskArgsObject& a) {
    add_image(a, "image", image, "image");
    add_text(a, "region", region, "region");
  });
}

m4cxr_status m4cxr_identify_region(m4cxr_session* s, const m4cxr_image* image, m4cxr_box_question what,
                                   const double* boxes, size_t n_boxes, const m4cxr_generation_options* options,
                                   m4cxr_task** out) {
  return typed_task(s, "identify_region", options, out, [&](TaskArgsObject& a) {
    add_image(a, "image", image, "image");
    static const char* const kWhat[] = {"finding", "organ", "region", "phrase"};
    const int question = enum_value(what);
    if (question < 0 || question > 3) fail(Status::invalid_argument, "unknown box question");
    add_text(a, "what", kWhat[question], "what");
    if (boxes == nullptr || n_boxes == 0) fail(Status::invalid_argument, "at least one box is needed");
    value_of(a, "boxes", ArgValue::Kind::boxes);
    for (size_t i = 0; i < n_boxes && i <= kMaxBoxes; ++i)  // one past the limit: plan_task reports it
      add_box(a, "boxes", boxes + 4 * i);
  });
}

m4cxr_status m4cxr_vqa(m4cxr_session* s, const m4cxr_image* image, const char* question,
                       const m4cxr_generation_options* options, m4cxr_task** out) {
  return typed_task(s, "vqa", options, out, [&](TaskArgsObject& a) {
    add_image(a, "image", image, "image");
    add_text(a, "question", question, "question");
  });
}

m4cxr_status m4cxr_difference_vqa(m4cxr_session* s, const m4cxr_image* reference, const m4cxr_image* main_image,
                                  const char* question, const m4cxr_generation_options* options, m4cxr_task** out) {
  return typed_task(s, "difference_vqa", options, out, [&](TaskArgsObject& a) {
    add_image(a, "reference", reference, "reference image");
    add_image(a, "main", main_image, "main image");
    add_text(a, "question", question, "question");
  });
}

m4cxr_status m4cxr_chat(m4cxr_session* s, const char* text, const m4cxr_image* const* images, size_t n,
                        const m4cxr_generation_options* options, m4cxr_task** out) {
  return typed_task(s, "chat", options, out, [&](TaskArgsObject& a) {
    add_text(a, "text", text, "text");
    add_images(a, "images", images, n, "image");
  });
}

// ---------------------------------------------------------------- driving
m4cxr_status m4cxr_task_next(m4cxr_task* task, const char** piece, size_t* length, int* turn) {
  return guarded([&]() -> m4cxr_status {
    auto t = require<TaskObject>(task);
    if (piece == nullptr || length == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "piece/length is NULL");
    Claim claim(t->busy);
    if (!claim.ok()) return set_error(M4CXR_ERR_BUSY, "the task is driven by another thread");
    auto s = get_handle<SessionObject>(t->session);
    if (!s) return set_error(M4CXR_ERR_INVALID_HANDLE, "the task's session was freed");
    if (t->finished) return t->final_status == M4CXR_OK ? M4CXR_DONE : t->final_status;
    if (s->task != t->self)
      return set_error(M4CXR_ERR_INVALID_HANDLE, "the task is no longer its session's current task");
    Claim sclaim(s->busy);
    if (!sclaim.ok()) return set_error(M4CXR_ERR_BUSY, "the session is in use by another thread");
    int tr = 0;
    try {
      if (s->chat.next(&t->piece, &tr)) {
        *piece = t->piece.c_str();
        *length = t->piece.size();
        if (turn) *turn = tr;
        return M4CXR_OK;
      }
    } catch (const Error& e) {
      finish(*t, *s);
      if (e.status() == Status::cancelled) {
        // Cancelled before the first token (image encoding or prefill): a normal stop.
        t->outcome.cancelled = true;
        return M4CXR_DONE;
      }
      t->final_status = set_error(to_status(e.status()), e.what());
      return t->final_status;
    } catch (...) {
      finish(*t, *s);
      t->final_status = guarded([]() -> m4cxr_status { throw; });
      return t->final_status;
    }
    finish(*t, *s);
    return M4CXR_DONE;
  });
}

m4cxr_status m4cxr_task_run(m4cxr_task* t, m4cxr_piece_fn on_piece, void* user_data) {
  while (true) {
    const char* p = nullptr;
    size_t n = 0;
    int turn = 0;
    m4cxr_status st = m4cxr_task_next(t, &p, &n, &turn);
    if (st == M4CXR_DONE) return M4CXR_OK;
    if (st != M4CXR_OK) return st;
    if (on_piece && on_piece(p, n, turn, user_data) != 0) {
      m4cxr_task_cancel(t);  // stop, keeping what was produced
    }
  }
}

m4cxr_status m4cxr_task_cancel(m4cxr_task* task) {
  return guarded([&]() -> m4cxr_status {
    auto t = require<TaskObject>(task);
    auto s = get_handle<SessionObject>(t->session);
    if (!s) return set_error(M4CXR_ERR_INVALID_HANDLE, "the task's session was freed");
    if (s->task == t->self && !t->finished) s->chat.cancel();
    return M4CXR_OK;
  });
}

void m4cxr_task_free(m4cxr_task* task) {
  try {
    auto t = std::static_pointer_cast<TaskObject>(unregister(handle_value<TaskObject>(task), HandleKind::task));
    if (!t) return;
    auto s = get_handle<SessionObject>(t->session);
    if (!s || s->task != t->self) return;
    if (t->finished) return;
    s->chat.cancel();  // abandoned mid-way: stop; drained here or by the session's next call
    Claim claim(s->busy);
    if (claim.ok()) settle_abandoned_task(*s);
  } catch (...) {
  }
}

}  // extern "C"
