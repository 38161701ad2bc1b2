// Internals of the C ABI: the structs behind the opaque handles, a registry that tells
// live handles from freed or foreign pointers, and the single place that turns C++
// exceptions into status codes (nothing may throw across the ABI).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "common/error.h"
#include "engine/chat_session.h"
#include "engine/model.h"
#include "image/decode_limits.h"
#include "m4cxr/m4cxr.h"

enum class HandleKind { model, session, image, task, result };

struct m4cxr_model {
  std::shared_ptr<const m4cxr::Model> model;
  m4cxr::DecodeLimits limits;
  std::string device;
};

struct m4cxr_image {
  std::shared_ptr<const m4cxr::PreparedImage> image;
};

struct m4cxr_session {
  explicit m4cxr_session(std::shared_ptr<const m4cxr::Model> m) : chat(std::move(m)) {}
  m4cxr::ChatSession chat;
  std::atomic<bool> busy{false};  // a thread is inside a call on this session
  m4cxr_task* task = nullptr;     // the unfinished task, if any
};

struct m4cxr_task {
  m4cxr_session* session = nullptr;
  std::atomic<bool> busy{false};
  bool finished = false;
  m4cxr_status final_status = M4CXR_OK;
  std::string piece;
  m4cxr::TaskOutcome outcome;
  std::string options_json;  // for the replay record
};

struct m4cxr_result {
  m4cxr::TaskOutcome outcome;
  std::string json;
};

namespace m4cxr_capi {

void register_handle(const void* p, HandleKind kind);
void unregister_handle(const void* p);
bool is_live(const void* p, HandleKind kind);

// Records the message for m4cxr_last_error() and returns the status.
m4cxr_status set_error(m4cxr_status status, const std::string& message);
void clear_error();
m4cxr_status to_status(m4cxr::Status s);

// Runs fn, mapping every exception to a status + message. fn returns m4cxr_status.
template <typename F>
m4cxr_status guarded(F&& fn) noexcept {
  try {
    clear_error();
    return fn();
  } catch (const m4cxr::Error& e) {
    return set_error(to_status(e.status()), e.what());
  } catch (const std::bad_alloc&) {
    return set_error(M4CXR_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return set_error(M4CXR_ERR_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return set_error(M4CXR_ERR_INTERNAL, "internal error: unknown exception");
  }
}

// RAII claim of a busy flag; `ok()` false when another thread holds it.
class Claim {
 public:
  explicit Claim(std::atomic<bool>& flag) : flag_(flag) { ok_ = !flag_.exchange(true); }
  ~Claim() {
    if (ok_) flag_.store(false);
  }
  bool ok() const { return ok_; }

 private:
  std::atomic<bool>& flag_;
  bool ok_;
};

}  // namespace m4cxr_capi

#define M4CXR_CHECK_HANDLE(p, kind, what)                                                      \
  do {                                                                                         \
    if (!m4cxr_capi::is_live((p), (kind)))                                                     \
      return m4cxr_capi::set_error(M4CXR_ERR_INVALID_HANDLE,                                   \
                                   std::string(what) + " is NULL, freed or not a " what " handle"); \
  } while (0)
