// libtorch keeps its intra-op thread count per thread (read once per thread), yet
// Model::load's `threads` is a process-wide setting: a thread that computed before a
// later load must follow that load at its next task step.
#include <ATen/Parallel.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "engine/chat_session.h"
#include "model_test_support.h"

using namespace m4cxr;

namespace {

// Runs jobs one after another on one long-lived thread.
class Worker {
 public:
  Worker() : thread_([this] { loop(); }) {}
  ~Worker() {
    run(nullptr);
    thread_.join();
  }
  void run(std::function<void()> job) {
    std::unique_lock<std::mutex> lk(mu_);
    job_ = std::move(job);
    posted_ = true;
    cv_.notify_all();
    cv_.wait(lk, [&] { return !posted_; });
  }

 private:
  void loop() {
    for (;;) {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return posted_; });
      auto job = std::move(job_);
      if (job) job();
      posted_ = false;
      cv_.notify_all();
      if (!job) return;
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool posted_ = false;
  std::thread thread_;
};

std::shared_ptr<const Model> load_with(int threads) {
  ModelOptions o;
  o.runtime.dtype = at::kFloat;
  o.threads = threads;
  return Model::load(mt::gpath("models/merged_fp32"), o);
}

void one_token(const std::shared_ptr<const Model>& m) {
  ChatSession chat(m);
  TaskSpec spec;
  spec.name = "chat";
  spec.questions = {"Describe."};
  spec.generation.max_new_tokens = 1;
  chat.begin(std::move(spec), true);
  std::string piece;
  int turn;
  while (chat.next(&piece, &turn)) {
  }
}

}  // namespace

TEST_CASE("engine: a thread that computed before a load follows the load's thread count at its next step") {
  Worker w;
  auto a = load_with(2);
  int seen = 0;
  w.run([&] {
    one_token(a);
    seen = at::get_num_threads();
  });
  CHECK(seen == 2);
  auto b = load_with(1);  // on this thread: process-wide, says the API
  w.run([&] {
    one_token(b);
    seen = at::get_num_threads();
  });
  CHECK(seen == 1);
  at::set_num_threads(2);  // leave this thread as the suite's other loads expect
}
