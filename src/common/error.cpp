#include "common/error.h"

namespace m4cxr {

const char* status_name(Status s) noexcept {
  switch (s) {
    case Status::ok: return "ok";
    case Status::invalid_argument: return "invalid argument";
    case Status::io_error: return "i/o error";
    case Status::format_error: return "format error";
    case Status::unsupported: return "unsupported";
    case Status::limit_exceeded: return "limit exceeded";
    case Status::out_of_memory: return "out of memory";
    case Status::cancelled: return "cancelled";
    case Status::busy: return "busy";
    case Status::model_error: return "model error";
    case Status::internal: return "internal error";
  }
  return "unknown";
}

void fail(Status status, const std::string& message) { throw Error(status, message); }

}  // namespace m4cxr
