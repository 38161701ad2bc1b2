// Process-wide logging of the engine, behind m4cxr_set_log_callback (m4cxr.h). One sink
// at a time receives whole messages of its level and above; without a sink (the
// default) logging costs one relaxed atomic load and builds no string.
//
//   m4cxr::log(LogLevel::info, "model loaded in ", ms, " ms");  // parts streamed with <<
//
// The sink runs on the thread that logs, inside the engine call. Messages logged while
// that thread is already inside the sink (the sink calling back into the engine) are
// dropped. Setting a sink waits until calls of the previous one in progress on other
// threads have returned; afterwards the previous sink is never called again.
#pragma once

#include <atomic>
#include <functional>
#include <sstream>
#include <string>

namespace m4cxr {

enum class LogLevel : int { debug = 0, info = 1, warn = 2, error = 3 };

using LogSink = std::function<void(LogLevel level, const char* message)>;

// Installs `sink` for the messages of `min_level` and above; an empty sink turns logging
// off. Returns once no call of the previous sink is running. Throws Error(busy) when
// called from inside a sink on this thread (it would wait for itself), Error
// (invalid_argument) for a level outside debug..error.
void set_log_sink(LogSink sink, LogLevel min_level);

namespace log_detail {
inline constexpr int kOff = 4;
extern std::atomic<int> threshold;  // the installed sink's min level, kOff without one
void write(LogLevel level, const char* message) noexcept;
}  // namespace log_detail

// True when a message of `level` would reach the sink (a cheap, racy pre-check: the
// sink may change before the message is written, which write() checks again).
inline bool log_enabled(LogLevel level) noexcept {
  return static_cast<int>(level) >= log_detail::threshold.load(std::memory_order_relaxed);
}

// Logs the concatenation of `parts` (anything with operator<<) at `level`. Never throws.
template <typename... Parts>
void log(LogLevel level, const Parts&... parts) noexcept {
  if (!log_enabled(level)) return;
  try {
    std::ostringstream os;
    (os << ... << parts);
    const std::string s = os.str();
    log_detail::write(level, s.c_str());
  } catch (...) {  // out of memory formatting a message: drop it
  }
}

}  // namespace m4cxr
