// C ABI: sessions, the typed task calls, driving tasks (pull / callback), results.
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "api_internal.h"
#include "tasks/label_sets.h"
#include "tasks/task_prompts.h"
#include "text/chat_prompt.h"

using namespace m4cxr;
using namespace m4cxr_capi;

namespace {

// Splits a built first turn "SYS image-prompt question" into its image prompt (up to the
// last <image> marker and the punctuation glued to it) and the bare question, so a task
// can also continue an existing conversation (no system message, images maybe known).
void split_first_turn(const std::string& full, std::string* image_prompt, std::string* question) {
  std::string rest = full;
  const std::string sys = std::string(kSystemMessage) + " ";
  if (rest.compare(0, sys.size(), sys) == 0) rest.erase(0, sys.size());
  const size_t last = rest.rfind(kImageMarker);
  if (last == std::string::npos) {
    image_prompt->clear();
    *question = rest;
    return;
  }
  size_t end = last + std::strlen(kImageMarker);
  while (end < rest.size() && rest[end] != ' ') ++end;
  *image_prompt = rest.substr(0, end);
  *question = end < rest.size() ? rest.substr(end + 1) : std::string();
  if (first_user_content(*image_prompt, *question, true) != full)
    fail(Status::internal, "task prompt does not split into image prompt and question");
}

GenerationOptions to_generation(const m4cxr_generation_options* o, nlohmann::json* record) {
  m4cxr_generation_options d;
  m4cxr_generation_options_default(&d);
  if (o != nullptr) {
    if (o->struct_size != sizeof d)
      fail(Status::invalid_argument, "m4cxr_generation_options.struct_size is wrong (call m4cxr_generation_options_default)");
    d = *o;
  }
  if (d.max_new_tokens < 1) fail(Status::invalid_argument, "max_new_tokens must be at least 1");
  if (d.max_new_tokens > 32768) fail(Status::invalid_argument, "max_new_tokens is absurdly large");
  GenerationOptions g;
  g.max_new_tokens = d.max_new_tokens;
  g.sampling.greedy = d.do_sample == 0;
  g.sampling.temperature = d.temperature;
  g.sampling.top_k = d.top_k;
  g.sampling.top_p = d.top_p;
  g.sampling.seed = d.seed;
  Sampler check(g.sampling);  // validates the sampling values now, not mid-task
  (void)check;
  *record = {{"max_new_tokens", d.max_new_tokens}, {"do_sample", d.do_sample != 0}, {"temperature", d.temperature},
             {"top_k", d.top_k}, {"top_p", d.top_p}, {"seed", d.seed}};
  return g;
}

std::shared_ptr<const PreparedImage> image_of(const m4cxr_image* im, const char* what) {
  if (!is_live(im, HandleKind::image))
    fail(Status::invalid_argument, std::string(what) + " is NULL, freed or not an image handle");
  return im->image;
}

std::vector<std::shared_ptr<const PreparedImage>> images_of(const m4cxr_image* const* images, size_t n,
                                                            const char* what) {
  if (n > 0 && images == nullptr) fail(Status::invalid_argument, std::string(what) + " array is NULL");
  std::vector<std::shared_ptr<const PreparedImage>> v;
  for (size_t i = 0; i < n; ++i) v.push_back(image_of(images[i], what));
  return v;
}

std::string text_arg(const char* s, const char* what) {
  if (s == nullptr) fail(Status::invalid_argument, std::string(what) + " is NULL");
  return s;
}

std::vector<std::string> strings_arg(const char* const* s, size_t n, const char* what) {
  if (n > 0 && s == nullptr) fail(Status::invalid_argument, std::string(what) + " array is NULL");
  std::vector<std::string> v;
  for (size_t i = 0; i < n; ++i) v.push_back(text_arg(s[i], what));
  return v;
}

// Common tail of every typed call: session checks, spec from the built prompt, task.
m4cxr_status start_task(m4cxr_session* s, m4cxr_task** out, const std::function<TaskSpec(GenerationOptions)>& build,
                        const m4cxr_generation_options* options) {
  if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
  *out = nullptr;
  M4CXR_CHECK_HANDLE(s, HandleKind::session, "session");
  Claim claim(s->busy);
  if (!claim.ok()) return set_error(M4CXR_ERR_BUSY, "the session is in use by another thread");
  if (s->task != nullptr && !s->task->finished)
    return set_error(M4CXR_ERR_BUSY, "the session has an unfinished task; run, cancel or free it first");
  nlohmann::json record;
  GenerationOptions g = to_generation(options, &record);
  TaskSpec spec = build(g);
  spec.generation = g;
  s->chat.begin(std::move(spec));
  auto t = std::make_unique<m4cxr_task>();
  t->session = s;
  t->options_json = record.dump();
  register_handle(t.get(), HandleKind::task);
  s->task = t.get();
  *out = t.release();
  return M4CXR_OK;
}

TaskSpec spec_from(const std::string& name, const TaskPrompt& p, std::vector<std::shared_ptr<const PreparedImage>> images,
                   OutputKind kind, std::vector<std::string> labels = {}) {
  if (static_cast<size_t>(p.n_images) != images.size())
    fail(Status::invalid_argument, name + " needs " + std::to_string(p.n_images) + " image(s), got " +
                                       std::to_string(images.size()));
  TaskSpec s;
  s.name = name;
  split_first_turn(p.user_turns.at(0), &s.image_prompt, &s.questions.emplace_back());
  for (size_t i = 1; i < p.user_turns.size(); ++i) s.questions.push_back(p.user_turns[i]);
  s.images = std::move(images);
  s.output = kind;
  s.labels = std::move(labels);
  return s;
}

ModelBox box_arg(const PreparedImage& im, const double* b) {
  for (int i = 0; i < 4; ++i)
    if (!std::isfinite(b[i])) fail(Status::invalid_argument, "box coordinates must be finite");
  if (b[0] > b[2] || b[1] > b[3]) fail(Status::invalid_argument, "box must have x1 <= x2 and y1 <= y2");
  return normalize_box(PixelBox{b[0], b[1], b[2], b[3]}, im.width, im.height);
}

}  // namespace

extern "C" {

void m4cxr_generation_options_default(m4cxr_generation_options* o) {
  if (o == nullptr) return;
  std::memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->max_new_tokens = 500;
  o->temperature = 1.0f;
  o->top_k = 50;
  o->top_p = 1.0f;
}

m4cxr_status m4cxr_session_create(m4cxr_model* model, m4cxr_session** out) {
  return guarded([&]() -> m4cxr_status {
    if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    M4CXR_CHECK_HANDLE(model, HandleKind::model, "model");
    auto s = std::make_unique<m4cxr_session>(model->model);
    register_handle(s.get(), HandleKind::session);
    *out = s.release();
    return M4CXR_OK;
  });
}

void m4cxr_session_free(m4cxr_session* s) {
  if (!is_live(s, HandleKind::session)) return;
  unregister_handle(s);  // a task still alive now sees an invalid session
  delete s;
}

m4cxr_status m4cxr_session_reset(m4cxr_session* s) {
  return guarded([&]() -> m4cxr_status {
    M4CXR_CHECK_HANDLE(s, HandleKind::session, "session");
    Claim claim(s->busy);
    if (!claim.ok()) return set_error(M4CXR_ERR_BUSY, "the session is in use by another thread");
    if (s->task != nullptr && !s->task->finished)
      return set_error(M4CXR_ERR_BUSY, "the session has an unfinished task");
    s->chat.reset();
    return M4CXR_OK;
  });
}

m4cxr_status m4cxr_session_cancel(m4cxr_session* s) {
  return guarded([&]() -> m4cxr_status {
    M4CXR_CHECK_HANDLE(s, HandleKind::session, "session");
    s->chat.cancel();
    return M4CXR_OK;
  });
}

m4cxr_status m4cxr_report(m4cxr_session* s, const m4cxr_image* const* images, size_t n,
                          const m4cxr_generation_options* options, m4cxr_task** out) {
  return guarded([&]() -> m4cxr_status {
    return start_task(s, out, [&](GenerationOptions) {
      auto imgs = images_of(images, n, "image");
      if (n == 0) fail(Status::invalid_argument, "report needs at least one image");
      return spec_from("report", report_cot(static_cast<int>(n)), imgs, OutputKind::report_cot, cot_findings());
    }, options);
  });
}

m4cxr_status m4cxr_report_followup(m4cxr_session* s, const m4cxr_image* const* prior, size_t n_prior,
                                   const char* prior_report, const m4cxr_image* const* current, size_t n_current,
                                   const m4cxr_generation_options* options, m4cxr_task** out) {
  return guarded([&]() -> m4cxr_status {
    return start_task(s, out, [&](GenerationOptions) {
      auto imgs = images_of(prior, n_prior, "prior image");
      auto cur = images_of(current, n_current, "current image");
      imgs.insert(imgs.end(), cur.begin(), cur.end());
      TaskPrompt p = report_followup_cot(static_cast<int>(n_prior), static_cast<int>(n_current),
                                         text_arg(prior_report, "prior_report"));
      return spec_from("report_followup", p, imgs, OutputKind::report_cot, cot_findings());
    }, options);
  });
}

m4cxr_status m4cxr_classify(m4cxr_session* s, const m4cxr_image* image, const char* const* labels, size_t n_labels,
                            const m4cxr_generation_options* options, m4cxr_task** out) {
  return guarded([&]() -> m4cxr_status {
    return start_task(s, out, [&](GenerationOptions) {
      auto given = strings_arg(labels, n_labels, "label");
      TaskPrompt p = classify(given);
      return spec_from("classify", p, {image_of(image, "image")}, OutputKind::findings,
                       given.empty() ? cot_findings() : prompt_labels(given));
    }, options);
  });
}

m4cxr_status m4cxr_ground_finding(m4cxr_session* s, const m4cxr_image* image, const char* finding,
                                  const m4cxr_generation_options* options, m4cxr_task** out) {
  return guarded([&]() -> m4cxr_status {
    return start_task(s, out, [&](GenerationOptions) {
      std::string f = text_arg(finding, "finding");
      return spec_from("ground_finding", ground_finding(f), {image_of(image, "image")}, OutputKind::boxes, {f});
    }, options);
  });
}

m4cxr_status m4cxr_ground_findings(m4cxr_session* s, const m4cxr_image* image, const char* const* findings,
                                   size_t n, const m4cxr_generation_options* options, m4cxr_task** out) {
  return guarded([&]() -> m4cxr_status {
    return start_task(s, out, [&](GenerationOptions) {
      auto f = strings_arg(findings, n, "finding");
      return spec_from("ground_findings", ground_multi_findings(f), {image_of(image, "image")}, OutputKind::named_boxes,
                       prompt_labels(f));
    }, options);
  });
}

m4cxr_status m4cxr_detect_abnormalities(m4cxr_session* s, const m4cxr_image* image,
                                        const m4cxr_generation_options* options, m4cxr_task** out) {
  return guarded([&]() -> m4cxr_status {
    return start_task(s, out, [&](GenerationOptions) {
      return spec_from("detect_abnormalities", detect_abnormalities(), {image_of(image, "image")}, OutputKind::boxes,
                       {"abnormality"});
    }, options);
  });
}

m4cxr_status m4cxr_ground_organ(m4cxr_session* s, const m4cxr_image* image, const char* organ,
                                const m4cxr_generation_options* options, m4cxr_task** out) {
  return guarded([&]() -> m4cxr_status {
    return start_task(s, out, [&](GenerationOptions) {
      std::string o = organ ? organ : "lung";
      return spec_from("ground_organ", ground_organ(o), {image_of(image, "image")}, OutputKind::boxes, {o});
    }, options);
  });
}

m4cxr_status m4cxr_ground_phrase(m4cxr_session* s, const m4cxr_image* image, const char* phrase,
                                 const m4cxr_generation_options* options, m4cxr_task** out) {
  return guarded([&]() -> m4cxr_status {
    return start_task(s, out, [&](GenerationOptions) {
      std::string p = text_arg(phrase, "phrase");
      return spec_from("ground_phrase", ground_phrase(p), {image_of(image, "image")}, OutputKind::boxes, {p});
    }, options);
  });
}

m4cxr_status m4cxr_ground_region(m4cxr_session* s, const m4cxr_image* image, const char* region,
                                 const m4cxr_generation_options* options, m4cxr_task** out) {
  return guarded([&]() -> m4cxr_status {
    return start_task(s, out, [&](GenerationOptions) {
      std::string r = text_arg(region, "region");
      return spec_from("ground_region", ground_region(r), {image_of(image, "image")}, OutputKind::boxes, {r});
    }, options);
  });
}

m4cxr_status m4cxr_identify_region(m4cxr_session* s, const m4cxr_image* image, m4cxr_box_question what,
                                   const double* boxes, size_t n_boxes, const m4cxr_generation_options* options,
                                   m4cxr_task** out) {
  return guarded([&]() -> m4cxr_status {
    return start_task(s, out, [&](GenerationOptions) {
      auto im = image_of(image, "image");
      if (boxes == nullptr || n_boxes == 0) fail(Status::invalid_argument, "at least one box is needed");
      std::vector<ModelBox> mb;
      for (size_t i = 0; i < n_boxes; ++i) mb.push_back(box_arg(*im, boxes + 4 * i));
      TaskPrompt p;
      switch (what) {
        case M4CXR_NAME_FINDING:
        case M4CXR_NAME_REGION:
          if (n_boxes != 1) fail(Status::invalid_argument, "this question takes exactly one box");
          p = what == M4CXR_NAME_FINDING ? grounded_finding(mb[0]) : grounded_region(mb[0]);
          break;
        case M4CXR_NAME_ORGAN: p = grounded_organ(mb); break;
        case M4CXR_NAME_PHRASE: p = grounded_phrase(mb); break;
        default: fail(Status::invalid_argument, "unknown box question");
      }
      return spec_from("identify_region", p, {im}, OutputKind::text);
    }, options);
  });
}

m4cxr_status m4cxr_vqa(m4cxr_session* s, const m4cxr_image* image, const char* question,
                       const m4cxr_generation_options* options, m4cxr_task** out) {
  return guarded([&]() -> m4cxr_status {
    return start_task(s, out, [&](GenerationOptions) {
      return spec_from("vqa", vqa(text_arg(question, "question")), {image_of(image, "image")}, OutputKind::text);
    }, options);
  });
}

m4cxr_status m4cxr_difference_vqa(m4cxr_session* s, const m4cxr_image* reference, const m4cxr_image* main_image,
                                  const char* question, const m4cxr_generation_options* options, m4cxr_task** out) {
  return guarded([&]() -> m4cxr_status {
    return start_task(s, out, [&](GenerationOptions) {
      return spec_from("difference_vqa", difference_vqa(text_arg(question, "question")),
                       {image_of(reference, "reference image"), image_of(main_image, "main image")}, OutputKind::text);
    }, options);
  });
}

m4cxr_status m4cxr_chat(m4cxr_session* s, const char* text, const m4cxr_image* const* images, size_t n,
                        const m4cxr_generation_options* options, m4cxr_task** out) {
  return guarded([&]() -> m4cxr_status {
    return start_task(s, out, [&](GenerationOptions) {
      std::string t = text_arg(text, "text");
      auto imgs = images_of(images, n, "image");
      const bool fresh = s->chat.empty();
      if (!fresh && !imgs.empty()) {
        // Later images come with their own marker, as demo.chat's "follow-up image: <image>".
        TaskPrompt p = instruction(t, Turn::later);
        TaskSpec spec;
        spec.name = "chat";
        spec.image_prompt = (imgs.size() == 1 ? "radiology image: " : "radiology images: ") + image_markers(static_cast<int>(imgs.size()));
        spec.questions = p.user_turns;
        spec.images = imgs;
        spec.output = OutputKind::boxes;
        return spec;
      }
      if (imgs.empty()) {
        TaskPrompt p = instruction(t, Turn::later);  // validated bare text
        TaskSpec spec;
        spec.name = "chat";
        spec.questions = p.user_turns;
        spec.output = OutputKind::boxes;
        return spec;
      }
      if (imgs.size() == 1) return spec_from("chat", instruction(t, Turn::first), imgs, OutputKind::boxes);
      TaskPrompt p = instruction(t, Turn::later);
      TaskSpec spec;
      spec.name = "chat";
      spec.image_prompt = "radiology images: " + image_markers(static_cast<int>(imgs.size()));
      spec.questions = p.user_turns;
      spec.images = imgs;
      spec.output = OutputKind::boxes;
      return spec;
    }, options);
  });
}

m4cxr_status m4cxr_task_next(m4cxr_task* t, const char** piece, size_t* length, int* turn) {
  return guarded([&]() -> m4cxr_status {
    M4CXR_CHECK_HANDLE(t, HandleKind::task, "task");
    if (piece == nullptr || length == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "piece/length is NULL");
    Claim claim(t->busy);
    if (!claim.ok()) return set_error(M4CXR_ERR_BUSY, "the task is driven by another thread");
    if (t->finished) return t->final_status == M4CXR_OK ? M4CXR_DONE : t->final_status;
    m4cxr_session* s = t->session;
    if (!is_live(s, HandleKind::session)) return set_error(M4CXR_ERR_INVALID_HANDLE, "the task's session was freed");
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
      t->finished = true;
      t->outcome = s->chat.outcome();
      if (e.status() == Status::cancelled) {
        // Cancelled before the first token (image encoding or prefill): a normal stop.
        t->outcome.cancelled = true;
        return M4CXR_DONE;
      }
      t->final_status = set_error(to_status(e.status()), e.what());
      return t->final_status;
    } catch (...) {
      t->finished = true;
      t->outcome = s->chat.outcome();
      t->final_status = guarded([]() -> m4cxr_status { throw; });
      return t->final_status;
    }
    t->finished = true;
    t->outcome = s->chat.outcome();
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

m4cxr_status m4cxr_task_cancel(m4cxr_task* t) {
  return guarded([&]() -> m4cxr_status {
    M4CXR_CHECK_HANDLE(t, HandleKind::task, "task");
    m4cxr_session* s = t->session;
    if (!is_live(s, HandleKind::session)) return set_error(M4CXR_ERR_INVALID_HANDLE, "the task's session was freed");
    s->chat.cancel();
    return M4CXR_OK;
  });
}

void m4cxr_task_free(m4cxr_task* t) {
  if (!is_live(t, HandleKind::task)) return;
  unregister_handle(t);
  m4cxr_session* s = t->session;
  if (is_live(s, HandleKind::session) && s->task == t) {
    if (!t->finished) {
      // Abandoned mid-way: stop and drain so the session is consistent and free again.
      s->chat.cancel();
      std::string piece;
      int turn;
      try {
        while (s->chat.next(&piece, &turn)) {
        }
      } catch (...) {
      }
    }
    s->task = nullptr;
  }
  delete t;
}

}  // extern "C"
