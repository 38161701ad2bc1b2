// C ABI: results (text, findings, boxes, stats) and their JSON form with a replay record.
#include <cstring>
#include <nlohmann/json.hpp>

#include "api_internal.h"

using namespace m4cxr;
using namespace m4cxr_capi;

namespace {

std::string result_json(const TaskObject& t, const Model& model) {
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
                          {"image_index", 0}});
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

// The result behind r, or nullptr with m4cxr_last_error set.
std::shared_ptr<ResultObject> result_of(const m4cxr_result* r) { return require<ResultObject>(r); }

}  // namespace

extern "C" {

m4cxr_status m4cxr_task_result(m4cxr_task* task, m4cxr_result** out) {
  return guarded([&]() -> m4cxr_status {
    if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    auto t = require<TaskObject>(task);
    Claim claim(t->busy);
    if (!claim.ok()) return set_error(M4CXR_ERR_BUSY, "the task is driven by another thread");
    if (!t->finished) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "the task has not finished; drive it to M4CXR_DONE first");
    auto s = get_handle<SessionObject>(t->session);
    if (!s) return set_error(M4CXR_ERR_INVALID_HANDLE, "the task's session was freed");
    auto r = std::make_shared<ResultObject>();
    r->outcome = t->outcome;
    r->json = result_json(*t, s->chat.model());
    *out = new_handle<m4cxr_result>(std::move(r));
    return M4CXR_OK;
  });
}

void m4cxr_result_free(m4cxr_result* r) {
  try {
    unregister(handle_value<ResultObject>(r), HandleKind::result);
  } catch (...) {
  }
}

const char* m4cxr_result_text(const m4cxr_result* r) {
  return guarded_value<const char*>(nullptr, [&] { return result_of(r)->outcome.text.c_str(); });
}

size_t m4cxr_result_turn_count(const m4cxr_result* r) {
  return guarded_value<size_t>(0, [&] { return result_of(r)->outcome.turns.size(); });
}

const char* m4cxr_result_turn_text(const m4cxr_result* r, size_t i) {
  return guarded_value<const char*>(nullptr, [&]() -> const char* {
    auto res = result_of(r);
    if (i >= res->outcome.turns.size()) fail(Status::invalid_argument, "turn index out of range");
    return res->outcome.turns[i].text.c_str();
  });
}

size_t m4cxr_result_finding_count(const m4cxr_result* r) {
  return guarded_value<size_t>(0, [&] { return result_of(r)->outcome.findings.size(); });
}

const char* m4cxr_result_finding(const m4cxr_result* r, size_t i) {
  return guarded_value<const char*>(nullptr, [&]() -> const char* {
    auto res = result_of(r);
    if (i >= res->outcome.findings.size()) fail(Status::invalid_argument, "finding index out of range");
    return res->outcome.findings[i].c_str();
  });
}

size_t m4cxr_result_box_count(const m4cxr_result* r) {
  return guarded_value<size_t>(0, [&] { return result_of(r)->outcome.boxes.size(); });
}

m4cxr_status m4cxr_result_get_box(const m4cxr_result* r, size_t i, m4cxr_box* box) {
  return guarded([&]() -> m4cxr_status {
    auto res = result_of(r);
    if (i >= res->outcome.boxes.size()) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "box index out of range");
    const TaskBox& b = res->outcome.boxes[i];
    m4cxr_box full{};
    full.struct_size = sizeof full;
    full.label = b.label.c_str();
    full.model[0] = b.model.x1, full.model[1] = b.model.y1, full.model[2] = b.model.x2, full.model[3] = b.model.y2;
    full.pixels[0] = b.pixels.x1, full.pixels[1] = b.pixels.y1, full.pixels[2] = b.pixels.x2, full.pixels[3] = b.pixels.y2;
    full.image_index = 0;
    write_struct(box, full, sizeof(m4cxr_box), "m4cxr_box");
    return M4CXR_OK;
  });
}

m4cxr_status m4cxr_result_get_stats(const m4cxr_result* r, m4cxr_stats* st) {
  return guarded([&]() -> m4cxr_status {
    const TaskOutcome& o = result_of(r)->outcome;
    m4cxr_stats full{};
    full.struct_size = sizeof full;
    full.prompt_tokens = o.prompt_tokens;
    full.prefilled_tokens = o.prefilled_tokens;
    full.generated_tokens = o.generated_tokens;
    full.image_encode_ms = o.image_encode_ms;
    full.prefill_ms = o.prefill_ms;
    full.decode_ms = o.decode_ms;
    full.stopped_by_eos = o.stopped_by_eos;
    full.cancelled = o.cancelled;
    write_struct(st, full, sizeof(m4cxr_stats), "m4cxr_stats");
    return M4CXR_OK;
  });
}

const char* m4cxr_result_json(const m4cxr_result* r) {
  return guarded_value<const char*>(nullptr, [&] { return result_of(r)->json.c_str(); });
}

}  // extern "C"
