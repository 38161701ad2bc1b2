#include "common/log.h"

#include <condition_variable>
#include <memory>
#include <mutex>

#include "common/error.h"

namespace m4cxr {

namespace {

// One installed sink. `in_flight` counts the calls of it running now (guarded by
// State::mutex): replacing the sink waits for it to reach 0.
struct Installed {
  LogSink sink;
  int min_level;
  int in_flight = 0;
};

struct State {
  std::mutex mutex;
  std::condition_variable idle;  // an Installed's in_flight dropped to 0
  std::shared_ptr<Installed> current;
};

State& state() {
  static State* s = new State;  // never destroyed: threads may log during exit
  return *s;
}

thread_local bool t_in_sink = false;  // this thread is inside a sink call

}  // namespace

namespace log_detail {

std::atomic<int> threshold{kOff};

void write(LogLevel level, const char* message) noexcept {
  if (t_in_sink) return;  // logged by the engine while the sink called into it
  State& st = state();
  std::shared_ptr<Installed> s;
  try {
    std::lock_guard<std::mutex> g(st.mutex);
    if (!st.current || static_cast<int>(level) < st.current->min_level) return;
    s = st.current;
    ++s->in_flight;
  } catch (...) {
    return;
  }
  t_in_sink = true;
  try {
    s->sink(level, message);
  } catch (...) {  // a C callback cannot throw; a C++ one must not cross the ABI
  }
  t_in_sink = false;
  try {
    std::lock_guard<std::mutex> g(st.mutex);
    if (--s->in_flight == 0) st.idle.notify_all();
  } catch (...) {
  }
}

}  // namespace log_detail

void set_log_sink(LogSink sink, LogLevel min_level) {
  const int min = static_cast<int>(min_level);
  if (min < static_cast<int>(LogLevel::debug) || min > static_cast<int>(LogLevel::error))
    fail(Status::invalid_argument, "log level " + std::to_string(min) + " is outside 0 (debug) .. 3 (error)");
  if (t_in_sink) fail(Status::busy, "the log callback cannot be changed from inside the log callback");
  std::shared_ptr<Installed> next;
  if (sink) next = std::make_shared<Installed>(Installed{std::move(sink), min});
  State& st = state();
  std::unique_lock<std::mutex> lock(st.mutex);
  std::shared_ptr<Installed> old = std::move(st.current);
  st.current = std::move(next);
  log_detail::threshold.store(st.current ? min : log_detail::kOff, std::memory_order_relaxed);
  if (old) st.idle.wait(lock, [&] { return old->in_flight == 0; });
  lock.unlock();
  old.reset();  // the sink's captures are destroyed outside the lock
}

}  // namespace m4cxr
