// Batched decoding across the sessions of one model (continuous batching). On a CPU,
// decoding is bound by reading the weights once per forward pass; concurrent sessions
// that each ran their own pass would read them once per session. Every decoder pass of a
// Model's conversations goes through its one DecoderScheduler instead: requests queue,
// and one worker thread runs whatever is queued as one LanguageModel::forward_batch
// (decode steps and prefills together), so the weights are read once for all of them.
//
// Sessions join and leave at any step: a generating Conversation is a Member while it
// generates, and the worker waits briefly (a tenth of the last pass, 1 to 20 ms) for
// members that have not queued their next step yet, so steps of concurrent sessions line
// up instead of alternating. A member that stops calling step() without leaving costs the
// others that wait per pass. Cancelling one request drops its rows from the pass between
// two layers; the others are not disturbed. A request's result does not depend on what it
// was batched with (see LanguageModel::forward_batch).
//
// Thread-safety: every method may be called from any thread. The worker thread starts
// with the first request and stops when the scheduler is destroyed; the cancel checks of
// queued requests are called on it.
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "model/language_model.h"

namespace m4cxr {

class DecoderScheduler {
 public:
  explicit DecoderScheduler(const LanguageModel& lm, c10::Device device);
  ~DecoderScheduler();
  DecoderScheduler(const DecoderScheduler&) = delete;
  DecoderScheduler& operator=(const DecoderScheduler&) = delete;

  // LanguageModel::forward for one conversation, batched with other conversations' queued
  // passes. Blocks until the pass is done; throws what forward() throws (Status::cancelled
  // when `cancel` fired, the cache then left as it was). `embeds` and `cache` must stay
  // untouched by the caller until it returns (it blocks, so they do).
  at::Tensor forward(const at::Tensor& embeds, KvCache& cache, bool all_logits, const CancelCheck& cancel = {});

  // While a Member lives, its conversation counts as generating (see above).
  class Member {
   public:
    Member() = default;
    explicit Member(DecoderScheduler* s);
    ~Member();
    Member(Member&& o) noexcept;
    Member& operator=(Member&& o) noexcept;
    void leave();  // the same as destroying it

   private:
    DecoderScheduler* s_ = nullptr;
  };
  Member join() { return Member(this); }

  // At most this many sequences per pass (default 16; 1 = no batching: every pass runs
  // alone, for comparisons). Values below 1 are taken as 1.
  void set_max_sequences(int n);
  int max_sequences() const;

  struct Stats {
    int64_t passes = 0;     // forward_batch calls
    int64_t sequences = 0;  // requests they ran
    int64_t rows = 0;       // token rows they ran
    double pass_ms = 0;     // time inside forward_batch
    double gather_ms = 0;   // time spent waiting for members' next steps before passes
  };
  Stats stats() const;

 private:
  struct Request;
  void worker_loop();
  void run_batch(std::deque<Request*>& batch);

  const LanguageModel& lm_;
  c10::Device device_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<Request*> queue_;
  int members_ = 0;
  int max_sequences_ = 16;
  bool stop_ = false;
  std::chrono::steady_clock::duration last_pass_{};
  Stats stats_;
  std::thread worker_;
};

}  // namespace m4cxr
