// C ABI: results (text, findings, boxes, stats) and their JSON form with a replay record.
#include <cstring>
#include <nlohmann/json.hpp>

#include "api_internal.h"

using namespace m4cxr;
using namespace m4cxr_capi;

namespace {

std::string result_json(const m4cxr_task& t, const Model& model) {
  const TaskOutcome& o = t.outcome;
  nlohmann::ordered_json j;
  j["task"] = o.task;
  j["text"] = o.text;
  j["findings"] = o.findings;
  j["boxes"] = nlohmann::json::array();
  for (const auto& b : o.boxes)
    j["boxes"].push_back({{"label", b.label},
                          {"model", {b.model.x1, b.model.y1, b.model.x2, b.model.y2}},
                          {"pixels", {b.pixels.x1, b.pixels.y1, b.pixels.x2, b.pixels.y2}},
                          {"image_index", b.image_index}});
  j["turns"] = nlohmann::json::array();
  for (const auto& tr : o.turns)
    j["turns"].push_back({{"user", tr.user},
                          {"text", tr.text},
                          {"prompt_ids", tr.prompt_ids},
                          {"generated_ids", tr.ids},
                          {"prompt_tokens", tr.stats.prompt_tokens},
                          {"prefilled_tokens", tr.stats.prefilled_tokens},
                          {"generated_tokens", tr.stats.generated_tokens},
                          {"stopped_by_eos", tr.stats.stopped_by_eos}});
  j["stats"] = {{"prompt_tokens", o.prompt_tokens}, {"prefilled_tokens", o.prefilled_tokens},
                {"generated_tokens", o.generated_tokens}, {"image_encode_ms", o.image_encode_ms},
                {"prefill_ms", o.prefill_ms}, {"decode_ms", o.decode_ms},
                {"stopped_by_eos", o.stopped_by_eos}, {"cancelled", o.cancelled}};
  const auto& c = model.config();
  j["replay"] = {{"m4cxr_version", m4cxr_version_string()},
                 {"model_dir", model.directory()},
                 {"checkpoint_dtype", c.torch_dtype},
                 {"runtime_dtype", model.runtime().dtype == at::kFloat ? "float32" : "bfloat16"},
                 {"weight_bytes", model.weight_bytes()},
                 {"lora_pairs_merged", model.load_report().lora_pairs_merged},
                 {"image_hashes", o.image_hashes},
                 {"options", nlohmann::json::parse(t.options_json)}};
  return j.dump(2);
}

}  // namespace

extern "C" {

m4cxr_status m4cxr_task_result(m4cxr_task* t, m4cxr_result** out) {
  return guarded([&]() -> m4cxr_status {
    if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    M4CXR_CHECK_HANDLE(t, HandleKind::task, "task");
    Claim claim(t->busy);
    if (!claim.ok()) return set_error(M4CXR_ERR_BUSY, "the task is driven by another thread");
    if (!t->finished) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "the task has not finished; drive it to M4CXR_DONE first");
    if (!is_live(t->session, HandleKind::session))
      return set_error(M4CXR_ERR_INVALID_HANDLE, "the task's session was freed");
    auto r = std::make_unique<m4cxr_result>();
    r->outcome = t->outcome;
    r->json = result_json(*t, t->session->chat.model());
    register_handle(r.get(), HandleKind::result);
    *out = r.release();
    return M4CXR_OK;
  });
}

void m4cxr_result_free(m4cxr_result* r) {
  if (!is_live(r, HandleKind::result)) return;
  unregister_handle(r);
  delete r;
}

const char* m4cxr_result_text(const m4cxr_result* r) {
  if (!is_live(r, HandleKind::result)) return nullptr;
  return r->outcome.text.c_str();
}

size_t m4cxr_result_turn_count(const m4cxr_result* r) {
  return is_live(r, HandleKind::result) ? r->outcome.turns.size() : 0;
}

const char* m4cxr_result_turn_text(const m4cxr_result* r, size_t i) {
  if (!is_live(r, HandleKind::result) || i >= r->outcome.turns.size()) return nullptr;
  return r->outcome.turns[i].text.c_str();
}

size_t m4cxr_result_finding_count(const m4cxr_result* r) {
  return is_live(r, HandleKind::result) ? r->outcome.findings.size() : 0;
}

const char* m4cxr_result_finding(const m4cxr_result* r, size_t i) {
  if (!is_live(r, HandleKind::result) || i >= r->outcome.findings.size()) return nullptr;
  return r->outcome.findings[i].c_str();
}

size_t m4cxr_result_box_count(const m4cxr_result* r) {
  return is_live(r, HandleKind::result) ? r->outcome.boxes.size() : 0;
}

m4cxr_status m4cxr_result_get_box(const m4cxr_result* r, size_t i, m4cxr_box* box) {
  return guarded([&]() -> m4cxr_status {
    M4CXR_CHECK_HANDLE(r, HandleKind::result, "result");
    if (box == nullptr || box->struct_size != sizeof *box)
      return set_error(M4CXR_ERR_INVALID_ARGUMENT, "box is NULL or its struct_size is not sizeof(m4cxr_box)");
    if (i >= r->outcome.boxes.size()) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "box index out of range");
    const TaskBox& b = r->outcome.boxes[i];
    box->label = b.label.c_str();
    box->model[0] = b.model.x1, box->model[1] = b.model.y1, box->model[2] = b.model.x2, box->model[3] = b.model.y2;
    box->pixels[0] = b.pixels.x1, box->pixels[1] = b.pixels.y1, box->pixels[2] = b.pixels.x2, box->pixels[3] = b.pixels.y2;
    box->image_index = b.image_index;
    return M4CXR_OK;
  });
}

m4cxr_status m4cxr_result_get_stats(const m4cxr_result* r, m4cxr_stats* st) {
  return guarded([&]() -> m4cxr_status {
    M4CXR_CHECK_HANDLE(r, HandleKind::result, "result");
    if (st == nullptr || st->struct_size != sizeof *st)
      return set_error(M4CXR_ERR_INVALID_ARGUMENT, "stats is NULL or its struct_size is not sizeof(m4cxr_stats)");
    const TaskOutcome& o = r->outcome;
    st->prompt_tokens = o.prompt_tokens;
    st->prefilled_tokens = o.prefilled_tokens;
    st->generated_tokens = o.generated_tokens;
    st->image_encode_ms = o.image_encode_ms;
    st->prefill_ms = o.prefill_ms;
    st->decode_ms = o.decode_ms;
    st->stopped_by_eos = o.stopped_by_eos;
    st->cancelled = o.cancelled;
    return M4CXR_OK;
  });
}

const char* m4cxr_result_json(const m4cxr_result* r) {
  if (!is_live(r, HandleKind::result)) return nullptr;
  return r->json.c_str();
}

}  // extern "C"
