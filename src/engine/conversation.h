// The state of one dialogue with the model: the ids whose keys/values sit in the KV
// cache, the visual tokens of its images, and generation. A new prompt that extends
// what is cached only runs the new tokens (the second chain-of-thought turn does not
// re-run the first); a prompt that diverges re-runs from the first differing token.
// Every decoder pass goes through the model's DecoderScheduler, so conversations of one
// model that run at the same time (on their own threads) share passes; a conversation's
// results do not depend on that.
// Not thread-safe: one thread at a time per Conversation (the C ABI enforces this).
#pragma once

#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/model.h"
#include "engine/sampler.h"
#include "model/kv_cache.h"
#include "tasks/token_constraint.h"

namespace m4cxr {

struct GenerationOptions {
  int max_new_tokens = 500;
  SamplingOptions sampling;
  bool stop_on_eos = true;
  // Constrained decoding (issue 14): keep each turn's answer inside the task's answer
  // format (TaskSpec::answer_formats) by masking the logits before each choice.
  bool constrained = false;
  // Set per turn by the session when `constrained` and the turn has a format; owned by
  // that one generation.
  std::shared_ptr<TokenConstraint> constraint;
  // Token log-probabilities (opt-in): -1 (default) = off; k >= 0 = the number of most
  // likely alternatives step() reports with each token. A step asked for its token's
  // log-probability costs one log_softmax over the vocabulary (and a top-k when k > 0).
  int logprobs = -1;
};

// One generated token under the model's distribution at its step: natural-log
// log_softmax, in fp32, of the raw logits row the decoder produced for that step
// (before temperature, top-k and top-p; for greedy decoding this is the distribution
// the token was chosen from). No extra forward pass.
struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // k most likely ids, logprob descending
};

struct GenerationStats {
  int64_t prompt_tokens = 0;     // ids of the prompt
  int64_t prefilled_tokens = 0;  // of those, how many were actually run (rest came from the cache)
  int64_t generated_tokens = 0;
  double prefill_ms = 0, decode_ms = 0;
  bool stopped_by_eos = false;
  bool cancelled = false;  // stopped by the cancel check (ids so far are returned)
};

// Return false to stop generating (the ids so far are kept).
using TokenCallback = std::function<bool(int32_t id)>;

class Conversation {
 public:
  explicit Conversation(std::shared_ptr<const Model> model);

  const Model& model() const noexcept { return *model_; }

  // Visual tokens [N, Q, H] of every image the conversation's prompts reference, in
  // placeholder order (images added later extend the list).
  void set_images(const at::Tensor& visual_tokens);
  const at::Tensor& images() const noexcept { return images_; }

  // Makes the cache hold `prompt_ids` (-1 = image placeholder) and returns the fp32
  // logits of its last position ([1, V]), or of every newly run position when
  // all_logits (then [prefilled, V]).
  at::Tensor prefill(const std::vector<int32_t>& prompt_ids, GenerationStats* stats = nullptr, bool all_logits = false,
                     const CancelCheck& cancel = {});

  // prefill + decoding loop. Returns the generated ids (including EOS if produced).
  std::vector<int32_t> generate(const std::vector<int32_t>& prompt_ids, const GenerationOptions& options,
                                const TokenCallback& on_token = {}, GenerationStats* stats = nullptr,
                                const CancelCheck& cancel = {});

  // Step-wise generation (what pull streaming is built on): start() prefills and
  // prepares sampling; each step() returns the next id, false once generation is over
  // (after EOS was returned, max_new_tokens reached, or cancelled). generate() is
  // start() + step() until false.
  void start(const std::vector<int32_t>& prompt_ids, const GenerationOptions& options, const CancelCheck& cancel = {});
  // When `logprob` is not null it receives the token's log-probability and its
  // max(options.logprobs, 0) top alternatives; when `distribution` is not null it
  // receives this step's log-probabilities over the vocabulary (fp32 [V], on the CPU).
  // Both are untouched when no token comes.
  bool step(int32_t* id, TokenLogprob* logprob = nullptr, at::Tensor* distribution = nullptr);
  const GenerationStats& stats() const noexcept { return run_stats_; }
  bool running() const noexcept { return running_; }

  // Ids currently in the KV cache.
  const std::vector<int32_t>& cached_ids() const noexcept { return cached_; }
  void reset();

 private:
  int32_t next_constrained();
  void stop_running();  // generation over: running_ false, no longer a scheduler member
  // The chosen token's log-probability and top alternatives from this step's log_softmax.
  void record_logprob(const at::Tensor& logprobs, TokenLogprob* out) const;

  std::shared_ptr<const Model> model_;
  std::vector<uint8_t> allowed_;  // constrained decoding: this step's mask
  KvCache cache_;
  std::vector<int32_t> cached_;
  at::Tensor images_;
  // step-wise generation state
  bool running_ = false;
  DecoderScheduler::Member member_;  // while running_
  GenerationOptions run_options_;
  std::unique_ptr<Sampler> sampler_;
  CancelCheck run_cancel_;
  at::Tensor logits_;
  int64_t produced_ = 0;
  int32_t pending_ = -1;  // last returned id, not yet run through the decoder
  GenerationStats run_stats_;
  double decode_ms_ = 0;
};

}  // namespace m4cxr
