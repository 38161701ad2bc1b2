// Error type used inside the engine. Every failure that can reach a caller is an
// m4cxr::Error carrying a status code and a message that names the offending input
// (file, tensor, field). The C ABI converts it into a status + thread-local message;
// nothing else may escape the library.
#pragma once

#include <stdexcept>
#include <string>

namespace m4cxr {

enum class Status : int {
  ok = 0,
  invalid_argument = 1,  // bad value passed by the caller (sizes, options, strings)
  io_error = 2,          // file missing / unreadable
  format_error = 3,      // malformed file content (safetensors, json, image, config)
  unsupported = 4,       // well-formed but not supported (dtype, config variant)
  limit_exceeded = 5,    // input larger than a configured limit (pixels, tokens)
  out_of_memory = 6,
  cancelled = 7,
  busy = 8,
  model_error = 9,       // checkpoint does not match the architecture (missing tensors...)
  internal = 10,
};

const char* status_name(Status s) noexcept;

class Error : public std::runtime_error {
 public:
  Error(Status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  Status status() const noexcept { return status_; }

 private:
  Status status_;
};

[[noreturn]] void fail(Status status, const std::string& message);

}  // namespace m4cxr
