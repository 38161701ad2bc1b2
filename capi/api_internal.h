// Internals of the C ABI: the objects behind the opaque handles, the handle registry
// (handles are generation-checked tokens, objects are reference counted so a free
// racing another call is deferred until that call returns), option-struct size
// handling, and the single place that turns C++ exceptions into status codes (nothing
// may throw across the ABI).
#pragma once

#include <atomic>
#include <cstring>
#include <type_traits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "dicom/dicom_image.h"
#include "engine/chat_session.h"
#include "engine/model.h"
#include "image/decode_limits.h"
#include "m4cxr/m4cxr.h"
#include "tasks/task_registry.h"

namespace m4cxr_capi {

enum class HandleKind : uint8_t { model = 1, session, image, task, task_args, result };

struct ModelObject {
  std::shared_ptr<const m4cxr::Model> model;
  m4cxr::DecodeLimits limits;
  std::string device;
  int max_cached_images = 8;
};

struct ImageObject {
  std::shared_ptr<const m4cxr::PreparedImage> image;
  // Images read from DICOM: their fields for m4cxr_image_get_dicom_field, in
  // m4cxr_dicom_field order (empty for other images).
  std::vector<std::string> dicom_fields;
  std::shared_ptr<const m4cxr::DicomIdentity> dicom;  // null for other images
};

struct SessionObject {
  explicit SessionObject(std::shared_ptr<const m4cxr::Model> m) : chat(std::move(m)) {}
  m4cxr::ChatSession chat;
  std::atomic<bool> busy{false};  // a thread is inside a call that uses the conversation
  std::atomic<uintptr_t> task{0};            // handle of the current task (0: none)
  std::atomic<bool> task_finished{true};
};

struct TaskObject {
  uintptr_t self = 0;     // own handle
  uintptr_t session = 0;  // the session's handle (looked up per call: it may be freed)
  std::atomic<bool> busy{false};
  std::atomic<bool> finished{false};  // read by m4cxr_task_cancel on any thread
  m4cxr_status final_status = M4CXR_OK;
  std::string piece;
  m4cxr::TaskOutcome outcome;
  std::string options_json;  // for the replay record
};

struct TaskArgsObject {
  m4cxr::TaskArgs args;
  std::vector<std::shared_ptr<const m4cxr::PreparedImage>> images;  // ImageArg::index refers here
};

struct ResultObject {
  m4cxr::TaskOutcome outcome;
  std::string json;
};

template <typename T> struct KindOf;
template <> struct KindOf<ModelObject> { static constexpr HandleKind value = HandleKind::model; static constexpr const char* name = "model"; };
template <> struct KindOf<SessionObject> { static constexpr HandleKind value = HandleKind::session; static constexpr const char* name = "session"; };
template <> struct KindOf<ImageObject> { static constexpr HandleKind value = HandleKind::image; static constexpr const char* name = "image"; };
template <> struct KindOf<TaskObject> { static constexpr HandleKind value = HandleKind::task; static constexpr const char* name = "task"; };
template <> struct KindOf<TaskArgsObject> { static constexpr HandleKind value = HandleKind::task_args; static constexpr const char* name = "task args"; };
template <> struct KindOf<ResultObject> { static constexpr HandleKind value = HandleKind::result; static constexpr const char* name = "result"; };

// The registry: a handle is (generation << 32) | (slot + 1). A slot holds a shared_ptr
// to the object; freeing a handle empties its slot and bumps its generation, so the old
// handle never matches again (until 2^32 reuses of that slot; free slots are reused
// oldest first). Calls hold their own shared_ptr for their duration: the object dies
// when the last of them returns.
uintptr_t register_object(std::shared_ptr<void> object, HandleKind kind) noexcept(false);
std::shared_ptr<void> lookup(uintptr_t handle, HandleKind kind) noexcept;
// Empties the slot; returns the object (so the caller can e.g. cancel it) or null.
std::shared_ptr<void> unregister(uintptr_t handle, HandleKind kind) noexcept;
size_t live_handles() noexcept;  // for tests via m4cxr_debug

template <typename T>
uintptr_t handle_value(const void* h) { return reinterpret_cast<uintptr_t>(h); }

template <typename T>
std::shared_ptr<T> get(const void* h) noexcept {
  return std::static_pointer_cast<T>(lookup(reinterpret_cast<uintptr_t>(h), KindOf<T>::value));
}
template <typename T>
std::shared_ptr<T> get_handle(uintptr_t h) noexcept {
  return std::static_pointer_cast<T>(lookup(h, KindOf<T>::value));
}
template <typename H, typename T>
H* new_handle(std::shared_ptr<T> object) {
  return reinterpret_cast<H*>(register_object(std::move(object), KindOf<T>::value));
}

// Records the message for m4cxr_last_error() and returns the status.
m4cxr_status set_error(m4cxr_status status, const std::string& message) noexcept;
void clear_error() noexcept;
m4cxr_status to_status(m4cxr::Status s) noexcept;

// Thrown for NULL, freed or wrong-kind handles; becomes M4CXR_ERR_INVALID_HANDLE.
struct HandleError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs fn, mapping every exception to a status + message. fn returns m4cxr_status.
template <typename F>
m4cxr_status guarded(F&& fn) noexcept {
  try {
    clear_error();
    return fn();
  } catch (const HandleError& e) {
    return set_error(M4CXR_ERR_INVALID_HANDLE, e.what());
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

// Getters that return a value: every exception becomes `fallback` (+ message).
template <typename R, typename F>
R guarded_value(R fallback, F&& fn) noexcept {
  R out = fallback;
  guarded([&]() -> m4cxr_status {
    out = fn();
    return M4CXR_OK;
  });
  return out;
}

[[noreturn]] void invalid_handle(const char* what);

// The object behind h, or an Error(INVALID_HANDLE-mapped) naming `what`.
template <typename T>
std::shared_ptr<T> require(const void* h, const char* what = KindOf<T>::name) {
  auto p = get<T>(h);
  if (!p) invalid_handle(what);
  return p;
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

// Option / info structs: sizes from the first published layout up to today's.
template <typename T>
void read_struct(const T* in, size_t first_size, T* out, const char* name) {
  if (in->struct_size < first_size || in->struct_size > sizeof(T))
    m4cxr::fail(m4cxr::Status::invalid_argument,
                std::string(name) + ".struct_size is " + std::to_string(in->struct_size) + "; this library accepts " +
                    std::to_string(first_size) + " to " + std::to_string(sizeof(T)) +
                    (in->struct_size > sizeof(T) ? " (built against a newer m4cxr.h than this library?)"
                                                 : " (call the *_default initialiser)"));
  std::memcpy(static_cast<void*>(out), in, in->struct_size);  // fields past it keep their defaults
  out->struct_size = sizeof(T);
}
template <typename T>
void write_struct(T* dst, const T& full, size_t first_size, const char* name) {
  if (dst == nullptr) m4cxr::fail(m4cxr::Status::invalid_argument, std::string(name) + " is NULL");
  const size_t n = dst->struct_size;
  if (n < first_size || n > sizeof(T))
    m4cxr::fail(m4cxr::Status::invalid_argument, std::string(name) + ".struct_size is " + std::to_string(n) +
                                                     "; set it to sizeof(" + name + ")");
  std::memcpy(static_cast<void*>(dst), &full, n);
  dst->struct_size = n;
}

// The *_init functions: the first `struct_size` bytes of `defaults` into *out, never past
// the caller's layout; struct_size from the first published size up to today's.
template <typename T>
m4cxr_status init_struct(T* out, size_t struct_size, size_t first_size, T defaults) {
  if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "options is NULL");
  if (struct_size < first_size || struct_size > sizeof(T))
    return set_error(M4CXR_ERR_INVALID_ARGUMENT, "struct_size " + std::to_string(struct_size) + " is outside [" +
                                                     std::to_string(first_size) + ", " + std::to_string(sizeof(T)) + "]");
  defaults.struct_size = struct_size;
  std::memcpy(static_cast<void*>(out), &defaults, struct_size);
  return M4CXR_OK;
}

// The value a C caller put in an enum parameter or field, as an int. C allows any int
// there; in C++, loading a value outside the enumerators' range as the enum type is
// undefined (UBSan's -fsanitize=enum reports it), so the bits are copied instead.
template <typename E>
int enum_value(const E& e) noexcept {
  static_assert(std::is_enum<E>::value && sizeof(E) == sizeof(int), "a C enum");
  int v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

// Model options / generation options as of ABI 1, version 0.1 (first published).
inline constexpr size_t kModelOptionsV1Size = offsetof(m4cxr_model_options, max_cached_images);
inline constexpr size_t kGenerationOptionsV1Size = offsetof(m4cxr_generation_options, continue_conversation);
// Fields from logprobs on (logprobs, top_logprobs, constrained) are read only from a
// struct of today's size: the 0.2 layout ended with continue_conversation and its
// trailing padding, where logprobs now lies.
inline constexpr size_t kGenerationOptionsLogprobsSize = sizeof(m4cxr_generation_options);
inline constexpr int kMaxTopLogprobs = 100;

}  // namespace m4cxr_capi
