#include "engine/decoder_scheduler.h"

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <exception>
#include <utility>
#include <vector>

#include "common/error.h"
#include "engine/model.h"

namespace m4cxr {

namespace {
// Rows of one pass at most (prefills included): bounds the activations a pass holds. A
// request longer than this still runs, alone.
constexpr int64_t kMaxPassRows = 4096;
// How long a pass waits for members not queued yet: a tenth of the last pass, within
// these bounds (a thread's wake-up alone can take a fraction of a millisecond).
constexpr auto kMinGatherWait = std::chrono::milliseconds(1);
constexpr auto kMaxGatherWait = std::chrono::milliseconds(20);
}  // namespace

struct DecoderScheduler::Request {
  LanguageModel::Segment segment;
  at::Tensor result;
  std::exception_ptr error;
  bool done = false;
};

DecoderScheduler::DecoderScheduler(const LanguageModel& lm, c10::Device device) : lm_(lm), device_(device) {}

DecoderScheduler::~DecoderScheduler() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

at::Tensor DecoderScheduler::forward(const at::Tensor& embeds, KvCache& cache, bool all_logits,
                                     const CancelCheck& cancel) {
  Request r;
  r.segment = LanguageModel::Segment{embeds, &cache, all_logits, cancel};
  {
    std::unique_lock<std::mutex> lk(mu_);
    if (!worker_.joinable()) worker_ = std::thread([this] { worker_loop(); });
    queue_.push_back(&r);
    work_cv_.notify_one();
    done_cv_.wait(lk, [&] { return r.done; });
  }
  if (r.error) std::rethrow_exception(r.error);
  if (!r.result.defined()) fail(Status::cancelled, "cancelled during decoding");
  return r.result;
}

DecoderScheduler::Member::Member(DecoderScheduler* s) : s_(s) {
  std::lock_guard<std::mutex> lk(s_->mu_);
  ++s_->members_;
}

DecoderScheduler::Member::~Member() { leave(); }

DecoderScheduler::Member::Member(Member&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}

DecoderScheduler::Member& DecoderScheduler::Member::operator=(Member&& o) noexcept {
  if (this != &o) {
    leave();
    s_ = std::exchange(o.s_, nullptr);
  }
  return *this;
}

void DecoderScheduler::Member::leave() {
  if (s_ == nullptr) return;
  {
    std::lock_guard<std::mutex> lk(s_->mu_);
    --s_->members_;
  }
  s_->work_cv_.notify_all();  // the worker may be waiting for this member's next step
  s_ = nullptr;
}

void DecoderScheduler::set_max_sequences(int n) {
  std::lock_guard<std::mutex> lk(mu_);
  max_sequences_ = std::max(1, n);
}

int DecoderScheduler::max_sequences() const {
  std::lock_guard<std::mutex> lk(mu_);
  return max_sequences_;
}

DecoderScheduler::Stats DecoderScheduler::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

void DecoderScheduler::worker_loop() {
  c10::InferenceMode inference;
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    work_cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and nothing left
    // Members not queued yet are usually a sampling step away: wait a little for them so
    // concurrent sessions' steps share a pass instead of alternating.
    const auto wait = std::clamp<std::chrono::steady_clock::duration>(last_pass_ / 10, kMinGatherWait, kMaxGatherWait);
    const auto gather_start = std::chrono::steady_clock::now();
    const auto deadline = gather_start + wait;
    while (!stop_ && static_cast<int>(queue_.size()) < std::min(members_, max_sequences_))
      if (work_cv_.wait_until(lk, deadline) == std::cv_status::timeout) break;
    stats_.gather_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - gather_start).count();
    std::deque<Request*> batch;
    int64_t rows = 0;
    while (!queue_.empty() && static_cast<int>(batch.size()) < max_sequences_) {
      const int64_t t = queue_.front()->segment.embeds.defined() && queue_.front()->segment.embeds.dim() > 0
                            ? queue_.front()->segment.embeds.size(0)
                            : 0;
      if (!batch.empty() && rows + t > kMaxPassRows) break;
      rows += t;
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
    lk.unlock();
    const auto t0 = std::chrono::steady_clock::now();
    run_batch(batch);
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    lk.lock();
    last_pass_ = elapsed;
    stats_.pass_ms += std::chrono::duration<double, std::milli>(elapsed).count();
    for (Request* r : batch) r->done = true;
    done_cv_.notify_all();
  }
}

// Runs on the worker with `mu_` released; requests it refuses get their error, the rest
// one forward_batch. Never throws.
void DecoderScheduler::run_batch(std::deque<Request*>& batch) {
  std::vector<Request*> run;
  for (Request* r : batch) {
    try {
      lm_.check_segment(r->segment);  // a refused request fails alone
      run.push_back(r);
    } catch (...) {
      r->error = std::current_exception();
    }
  }
  if (run.empty()) return;
  try {
    apply_intra_op_threads();
    c10::OptionalDeviceGuard guard;
    if (!device_.is_cpu()) guard.reset_device(device_);
    std::vector<LanguageModel::Segment> segments;
    int64_t rows = 0;
    for (Request* r : run) {
      segments.push_back(r->segment);
      rows += r->segment.embeds.size(0);
    }
    std::vector<at::Tensor> out = lm_.forward_batch(segments);
    for (size_t i = 0; i < run.size(); ++i) run[i]->result = std::move(out[i]);
    std::lock_guard<std::mutex> lk(mu_);
    ++stats_.passes;
    stats_.sequences += static_cast<int64_t>(run.size());
    stats_.rows += rows;
  } catch (...) {
    for (Request* r : run) r->error = std::current_exception();
  }
}

}  // namespace m4cxr
