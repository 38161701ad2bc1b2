// C ABI: results (text, findings, boxes, stats) and their JSON form with a replay record.
#include <cstddef>
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
                          {"image_index", 0},
                          {"probability", b.probability}});
  if (!o.label_scores.empty()) {
    nlohmann::ordered_json scores = nlohmann::ordered_json::object(), written = nlohmann::ordered_json::object();
    for (const auto& ls : o.label_scores) {
      scores[ls.label] = ls.score;
      written[ls.label] = ls.written;
    }
    j["label_scores"] = std::move(scores);
    j["label_written"] = std::move(written);
  }
  j["turns"] = nlohmann::json::array();
  for (const auto& tr : o.turns) {
    nlohmann::ordered_json turn{{"user", tr.user},
                                {"text", tr.text},
                                {"prompt_ids", tr.prompt_ids},
                                {"generated_ids", tr.ids},
                                {"prompt_tokens", tr.stats.prompt_tokens},
                                {"prefilled_tokens", tr.stats.prefilled_tokens},
                                {"generated_tokens", tr.stats.generated_tokens},
                                {"stopped_by_eos", tr.stats.stopped_by_eos}};
    if (o.logprobs >= 0) {  // only when asked for: JSON without logprobs is unchanged
      auto tokens = nlohmann::ordered_json::array();
      for (const auto& g : tr.tokens) {
        auto top = nlohmann::ordered_json::array();
        for (const auto& a : g.top) top.push_back({{"id", a.id}, {"text", a.piece}, {"logprob", a.logprob}});
        tokens.push_back({{"id", g.id}, {"text", g.piece}, {"logprob", g.logprob}, {"top", std::move(top)}});
      }
      turn["tokens"] = std::move(tokens);
    }
    j["turns"].push_back(std::move(turn));
  }
  j["stats"] = {{"prompt_tokens", o.prompt_tokens}, {"prefilled_tokens", o.prefilled_tokens},
                {"generated_tokens", o.generated_tokens}, {"image_encode_ms", o.image_encode_ms},
                {"prefill_ms", o.prefill_ms}, {"decode_ms", o.decode_ms},
                {"stopped_by_eos", o.stopped_by_eos}, {"cancelled", o.cancelled}};
  const auto& c = model.config();
  j["replay"] = {{"m4cxr_version", m4cxr_version_string()},
                 {"model_dir", model.directory()},
                 {"checkpoint_dtype", c.torch_dtype},
                 {"runtime_dtype", model.runtime().int8_weights          ? "int8"
                                   : model.runtime().dtype == at::kFloat ? "float32"
                                                                         : "bfloat16"},
                 {"weight_bytes", model.weight_bytes()},
                 {"lora_pairs_merged", model.load_report().lora_pairs_merged},
                 {"image_hashes", o.image_hashes},
                 {"options", nlohmann::json::parse(t.options_json)}};
  // Images read from DICOM: their identifiers, and in the replay record also how the
  // pixels were converted; one entry per image (null for others). Absent otherwise.
  bool any_dicom = false;
  for (const auto& s : o.image_sources) any_dicom = any_dicom || !s.empty();
  if (any_dicom) {
    auto ids = nlohmann::ordered_json::array(), full = nlohmann::ordered_json::array();
    for (const auto& s : o.image_sources) {
      if (s.empty()) {
        ids.push_back(nullptr);
        full.push_back(nullptr);
        continue;
      }
      auto source = nlohmann::ordered_json::parse(s);
      ids.push_back(source["identity"]);
      // Identifiers and the conversion only: patient names and the like stay out of results.
      full.push_back({{"identity", source["identity"]}, {"conversion", source["conversion"]}});
    }
    j["dicom"] = std::move(ids);
    j["replay"]["dicom"] = std::move(full);
  }
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
    full.probability = b.probability;
    write_struct(box, full, offsetof(m4cxr_box, probability), "m4cxr_box");
    return M4CXR_OK;
  });
}

size_t m4cxr_result_label_score_count(const m4cxr_result* r) {
  return guarded_value<size_t>(0, [&] { return result_of(r)->outcome.label_scores.size(); });
}

m4cxr_status m4cxr_result_get_label_score(const m4cxr_result* r, size_t i, m4cxr_label_score* score) {
  return guarded([&]() -> m4cxr_status {
    auto res = result_of(r);
    if (i >= res->outcome.label_scores.size()) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "label score index out of range");
    const LabelScore& ls = res->outcome.label_scores[i];
    m4cxr_label_score full{};
    full.struct_size = sizeof full;
    full.label = ls.label.c_str();
    full.score = ls.score;
    full.written = ls.written ? 1 : 0;
    write_struct(score, full, sizeof(m4cxr_label_score), "m4cxr_label_score");
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

size_t m4cxr_result_token_count(const m4cxr_result* r, size_t turn) {
  return guarded_value<size_t>(0, [&] {
    auto res = result_of(r);
    if (turn >= res->outcome.turns.size()) fail(Status::invalid_argument, "turn index out of range");
    return res->outcome.turns[turn].tokens.size();
  });
}

namespace {
const GeneratedToken& token_of(const ResultObject& res, size_t turn, size_t i) {
  if (turn >= res.outcome.turns.size()) fail(Status::invalid_argument, "turn index out of range");
  const auto& tokens = res.outcome.turns[turn].tokens;
  if (i >= tokens.size())
    fail(Status::invalid_argument, tokens.empty() && res.outcome.logprobs < 0
                                       ? "token index out of range (the task ran without logprobs)"
                                       : "token index out of range");
  return tokens[i];
}

void write_token(m4cxr_token_info* info, const TokenChoice& c, size_t top_count) {
  m4cxr_token_info full{};
  full.struct_size = sizeof full;
  full.id = c.id;
  full.text = c.piece.c_str();
  full.logprob = c.logprob;
  full.top_count = top_count;
  write_struct(info, full, sizeof(m4cxr_token_info), "m4cxr_token_info");
}
}  // namespace

m4cxr_status m4cxr_result_get_token(const m4cxr_result* r, size_t turn, size_t i, m4cxr_token_info* info) {
  return guarded([&]() -> m4cxr_status {
    auto res = result_of(r);
    const GeneratedToken& g = token_of(*res, turn, i);
    write_token(info, g, g.top.size());
    return M4CXR_OK;
  });
}

m4cxr_status m4cxr_result_get_token_alternative(const m4cxr_result* r, size_t turn, size_t i, size_t j,
                                                m4cxr_token_info* info) {
  return guarded([&]() -> m4cxr_status {
    auto res = result_of(r);
    const GeneratedToken& g = token_of(*res, turn, i);
    if (j >= g.top.size()) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "alternative index out of range");
    write_token(info, g.top[j], 0);
    return M4CXR_OK;
  });
}

const char* m4cxr_result_json(const m4cxr_result* r) {
  return guarded_value<const char*>(nullptr, [&] { return result_of(r)->json.c_str(); });
}

}  // extern "C"
