#include "engine/conversation.h"

#include <limits>

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
  stop_running();
}

void Conversation::stop_running() {
  running_ = false;
  member_.leave();
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
    logits = model_->decoder_scheduler().forward(emb, cache_, all_logits, cancel);
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

void Conversation::start(const std::vector<int32_t>& prompt_ids, const GenerationOptions& options,
                         const CancelCheck& cancel) {
  c10::InferenceMode guard;
  if (options.max_new_tokens < 1) fail(Status::invalid_argument, "max_new_tokens must be at least 1");
  if (options.logprobs < -1) fail(Status::invalid_argument, "logprobs must be -1 (off) or the number of alternatives");
  stop_running();
  sampler_ = std::make_unique<Sampler>(options.sampling);
  run_options_ = options;
  run_cancel_ = cancel;
  run_stats_ = GenerationStats{};
  member_ = model_->decoder_scheduler().join();  // its prefill may already share a pass
  try {
    logits_ = prefill(prompt_ids, &run_stats_, false, cancel);
  } catch (...) {
    member_.leave();
    throw;
  }
  produced_ = 0;
  pending_ = -1;
  decode_ms_ = 0;
  running_ = true;
}

bool Conversation::step(int32_t* id, TokenLogprob* logprob, at::Tensor* distribution) {
  if (!running_) return false;
  c10::InferenceMode guard;
  const auto t0 = std::chrono::steady_clock::now();
  auto finish = [&]() {
    stop_running();
    decode_ms_ += ms_since(t0);
    run_stats_.decode_ms = decode_ms_;
    run_stats_.generated_tokens = produced_;
    return false;
  };
  if (pending_ >= 0) {  // run the previous token to get the logits for this one
    if (run_options_.stop_on_eos && pending_ == model_->config().text.eos_token_id) {
      run_stats_.stopped_by_eos = true;
      return finish();
    }
    if (produced_ >= run_options_.max_new_tokens) return finish();
    at::Tensor emb = model_->language_model().embed(at::tensor({static_cast<int64_t>(pending_)}, at::kLong));
    try {
      logits_ = model_->decoder_scheduler().forward(emb, cache_, false, run_cancel_);
    } catch (const Error& e) {
      if (e.status() != Status::cancelled) {
        stop_running();
        throw;
      }
      run_stats_.cancelled = true;  // the cache still ends before `pending_`
      return finish();
    }
    cached_.push_back(pending_);
  }
  pending_ = run_options_.constraint ? next_constrained() : sampler_->next(logits_);
  *id = pending_;
  if (logprob != nullptr || distribution != nullptr) {
    // The model's distribution for this step, from the logits already computed.
    const at::Tensor lp = at::log_softmax(logits_.reshape({-1}).to(at::kFloat), 0).cpu().contiguous();
    if (distribution != nullptr) *distribution = lp;
    if (logprob != nullptr) record_logprob(lp, logprob);
  }
  ++produced_;
  run_stats_.generated_tokens = produced_;
  decode_ms_ += ms_since(t0);
  run_stats_.decode_ms = decode_ms_;
  return true;
}

void Conversation::record_logprob(const at::Tensor& lp, TokenLogprob* out) const {
  const float* p = lp.data_ptr<float>();
  out->id = pending_;
  out->logprob = p[pending_];
  out->top.clear();
  const int64_t k = std::min<int64_t>(std::max(run_options_.logprobs, 0), lp.size(0));
  if (k > 0) {
    at::Tensor values, indices;
    std::tie(values, indices) = lp.topk(k, /*dim=*/0, /*largest=*/true, /*sorted=*/true);
    const auto idx = indices.accessor<int64_t, 1>();
    for (int64_t j = 0; j < k; ++j) out->top.emplace_back(static_cast<int32_t>(idx[j]), p[idx[j]]);
  }
}

// Tokens that would take the answer out of its format get -inf before the choice, so greedy
// and sampling alike pick inside it; the constraint then takes the chosen id.
int32_t Conversation::next_constrained() {
  TokenConstraint& c = *run_options_.constraint;
  c.allowed(&allowed_, run_options_.max_new_tokens - produced_);
  at::Tensor logits = logits_.reshape({-1}).to(at::kFloat).clone();
  if (static_cast<size_t>(logits.size(0)) != allowed_.size())
    fail(Status::internal, "constrained decoding: vocabulary of " + std::to_string(allowed_.size()) +
                               " tokens, logits of " + std::to_string(logits.size(0)));
  float* l = logits.data_ptr<float>();
  const float minus_inf = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < allowed_.size(); ++i)
    if (!allowed_[i]) l[i] = minus_inf;
  const int32_t id = sampler_->next(logits);
  c.accept(id);
  return id;
}

std::vector<int32_t> Conversation::generate(const std::vector<int32_t>& prompt_ids, const GenerationOptions& options,
                                            const TokenCallback& on_token, GenerationStats* stats,
                                            const CancelCheck& cancel) {
  start(prompt_ids, options, cancel);
  std::vector<int32_t> out;
  int32_t id;
  while (step(&id)) {
    out.push_back(id);
    if (on_token && !on_token(id)) {
      stop_running();
      break;
    }
  }
  if (stats) *stats = run_stats_;
  return out;
}


}  // namespace m4cxr
