#include "engine/conversation.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>

#include "common/error.h"
#include "engine/multimodal_splice.h"

namespace m4cxr {

namespace {
double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

Conversation::Conversation(std::shared_ptr<const Model> model)
    : model_(std::move(model)), cache_(model_->language_model().make_cache(model_->runtime())) {}

void Conversation::set_images(const at::Tensor& visual_tokens) {
  if (visual_tokens.defined() && (visual_tokens.dim() != 3 || visual_tokens.size(1) != model_->num_visual_tokens() ||
                                  visual_tokens.size(2) != model_->config().text.hidden_size))
    fail(Status::invalid_argument, "visual tokens must be [N, " + std::to_string(model_->num_visual_tokens()) + ", " +
                                       std::to_string(model_->config().text.hidden_size) + "]");
  // Images already spliced into the cache must stay the same: keep the cached prefix only
  // as far as it refers to unchanged images.
  if (images_.defined() && visual_tokens.defined()) {
    const int64_t same = std::min(images_.size(0), visual_tokens.size(0));
    int64_t keep_images = 0;
    while (keep_images < same && at::equal(images_[keep_images], visual_tokens[keep_images])) ++keep_images;
    const int64_t Q = model_->num_visual_tokens();
    int64_t ph = 0;
    for (size_t i = 0; i < cached_.size(); ++i) {
      if (cached_[i] == -1 && ph++ >= keep_images * Q) {
        cached_.resize(i);
        cache_.truncate(static_cast<int64_t>(i));
        break;
      }
    }
  } else if (!visual_tokens.defined()) {
    auto it = std::find(cached_.begin(), cached_.end(), -1);
    if (it != cached_.end()) {
      const auto n = it - cached_.begin();
      cached_.resize(static_cast<size_t>(n));
      cache_.truncate(n);
    }
  }
  images_ = visual_tokens;
}

void Conversation::reset() {
  cached_.clear();
  cache_.clear();
  images_ = at::Tensor();
}

at::Tensor Conversation::prefill(const std::vector<int32_t>& ids, GenerationStats* stats, bool all_logits,
                                 const CancelCheck& cancel) {
  c10::InferenceMode guard;
  if (ids.empty()) fail(Status::invalid_argument, "empty prompt");
  const auto t0 = std::chrono::steady_clock::now();
  const int vocab = model_->config().text.vocab_size;
  count_placeholders(ids, vocab);  // validates every id before any state changes
  // Upstream turns each maximal run of placeholders into one image: a run must be
  // exactly one image's worth of visual tokens.
  const int64_t Q = model_->num_visual_tokens();
  for (size_t i = 0; i < ids.size();) {
    if (ids[i] != -1) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < ids.size() && ids[j] == -1) ++j;
    if (static_cast<int64_t>(j - i) != Q)
      fail(Status::invalid_argument, "image placeholder run of " + std::to_string(j - i) + " ids at position " +
                                         std::to_string(i) + "; each image takes exactly " + std::to_string(Q));
    i = j;
  }
  size_t common = 0;
  while (common < cached_.size() && common < ids.size() && cached_[common] == ids[common]) ++common;
  if (common == ids.size()) --common;  // always run at least the last token to get its logits
  const int64_t ph_before = std::count(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(common), -1);
  std::vector<int32_t> fresh(ids.begin() + static_cast<std::ptrdiff_t>(common), ids.end());
  cache_.truncate(static_cast<int64_t>(common));
  cached_.resize(common);
  at::Tensor emb = splice_embeddings(model_->language_model(), fresh, images_, ph_before);
  at::Tensor logits;
  try {
    logits = model_->language_model().forward(emb, cache_, all_logits, nullptr, cancel);
  } catch (...) {
    cache_.truncate(static_cast<int64_t>(common));  // a cancelled/failed prefill leaves the cache as it was
    throw;
  }
  cached_.insert(cached_.end(), fresh.begin(), fresh.end());
  if (stats) {
    stats->prompt_tokens = static_cast<int64_t>(ids.size());
    stats->prefilled_tokens = static_cast<int64_t>(fresh.size());
    stats->prefill_ms = ms_since(t0);
  }
  return logits;
}

std::vector<int32_t> Conversation::generate(const std::vector<int32_t>& prompt_ids, const GenerationOptions& options,
                                            const TokenCallback& on_token, GenerationStats* stats,
                                            const CancelCheck& cancel) {
  c10::InferenceMode guard;
  if (options.max_new_tokens < 1) fail(Status::invalid_argument, "max_new_tokens must be at least 1");
  Sampler sampler(options.sampling);
  GenerationStats local;
  GenerationStats& st = stats ? *stats : local;
  st = GenerationStats{};
  at::Tensor logits = prefill(prompt_ids, &st, false, cancel);
  const auto t0 = std::chrono::steady_clock::now();
  const int32_t eos = model_->config().text.eos_token_id;
  std::vector<int32_t> out;
  const auto& lm = model_->language_model();
  while (true) {
    const int32_t id = sampler.next(logits);
    out.push_back(id);
    const bool keep_going = on_token ? on_token(id) : true;
    if (options.stop_on_eos && id == eos) {
      st.stopped_by_eos = true;
      break;
    }
    if (!keep_going || static_cast<int>(out.size()) >= options.max_new_tokens) break;
    at::Tensor emb = lm.embed(at::tensor({static_cast<int64_t>(id)}, at::kLong));
    try {
      logits = lm.forward(emb, cache_, false, nullptr, cancel);
    } catch (const Error& e) {
      if (e.status() != Status::cancelled) throw;
      st.cancelled = true;  // the cache was not advanced: it still ends before `id`
      break;
    }
    cached_.push_back(id);
  }
  st.generated_tokens = static_cast<int64_t>(out.size());
  st.decode_ms = ms_since(t0);
  return out;
}

}  // namespace m4cxr
