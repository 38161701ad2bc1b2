// _m4cxr: the pybind11 layer of the Python binding. It wraps include/m4cxr/m4cxr.h (and
// m4cxr_trace of m4cxr_debug.h) in four handle classes; the idiomatic API, with the task
// methods generated from the task table, lives in the m4cxr package.
//
// Ownership: a Model, Image, Session or Task object owns its C handle and frees it in
// close() or when collected. Nothing more is needed: the C library defers every free
// until the calls using the object have returned, refuses freed handles with
// M4CXR_ERR_INVALID_HANDLE, lets sessions keep their model's weights and tasks their
// images' pixels. So objects may be closed in any order, from any thread, at any time.
//
// Threading: the GIL is released around every call that computes (model load, image
// decoding, m4cxr_task_next, m4cxr_trace). Handle fields are read and nulled with the
// GIL held; a call that copied a handle and released the GIL meanwhile is safe (see
// above). Concurrent use of one session is refused by the C library with
// M4CXR_ERR_BUSY (BusyError).
//
// Signals: on the main thread, Task.next runs m4cxr_task_next on a helper thread and
// waits for it, waking every 20 ms to run Python's signal handlers; when one raises
// (Ctrl-C: KeyboardInterrupt) the task is cancelled, which the C library notices within
// one transformer layer, and the exception propagates once the call has returned.
//
// Logging: m4cxr_set_log_callback forwards to a Python callable (the package installs
// m4cxr._forward_log at import, removes it at exit). The C library logs on the thread
// inside the call: a Python thread (the GIL is taken; PyGILState nests when the thread
// already holds it) or Task.next's helper thread, whose messages are queued and
// delivered by the waiting Python thread, so no Python code ever runs on the helper and
// nothing waits for the GIL there while the Python thread waits for it.
//
// Errors: a failed call throws CError {status, m4cxr_last_error() read at once on the
// calling thread}; the translator turns it into m4cxr._errors.Error subclasses.
#include <m4cxr/m4cxr.h>
#include <m4cxr/m4cxr_debug.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

struct CError {
  m4cxr_status status;
  std::string message;
  std::string filename;  // the file a failed load/decode was about, if any
};

// A Python str may hold NUL characters, which a C string would silently cut: refuse them.
const char* c_text(const std::string& s, const char* what) {
  if (s.find('\0') != std::string::npos)
    throw CError{M4CXR_ERR_INVALID_ARGUMENT, std::string(what) + " contains a NUL character", {}};
  return s.c_str();
}

[[noreturn]] void fail(m4cxr_status st, std::string filename = {}) {
  throw CError{st, m4cxr_last_error(), std::move(filename)};
}
void check(m4cxr_status st, const std::string& filename = {}) {
  if (st != M4CXR_OK) fail(st, filename);
}
[[noreturn]] void closed(const char* what) {
  throw CError{M4CXR_ERR_INVALID_HANDLE, std::string(what) + " is closed", {}};
}

// Library strings are UTF-8; a stray invalid byte (e.g. in a path) is replaced, not fatal.
py::str utf8(const char* s, size_t n) {
  return py::reinterpret_steal<py::str>(PyUnicode_DecodeUTF8(s ? s : "", s ? static_cast<Py_ssize_t>(n) : 0, "replace"));
}
py::str utf8(const char* s) { return utf8(s, s ? std::char_traits<char>::length(s) : 0); }

// ---------------------------------------------------------------- logging
PyObject* g_log_handler = nullptr;  // callable(level: int, message: str) or NULL; GIL held to use

// Messages logged on the helper thread of run_interruptibly, delivered by the waiting
// Python thread.
struct LogQueue {
  std::mutex mu;
  std::condition_variable cv;  // a message was queued, a job posted or a job done
  std::vector<std::pair<int, std::string>> messages;
  bool done = false;
};
thread_local LogQueue* t_log_queue = nullptr;  // set on the helper thread only

bool interpreter_running() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsInitialized() && !Py_IsFinalizing();
#else
  return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}

// Calls the handler with the GIL held. Its exceptions are reported as unraisable (they
// cannot go through the C library), except KeyboardInterrupt (Ctrl-C landing while the
// handler ran), which is re-armed as a pending SIGINT for the next signal check; an
// exception pending on this thread before the call is kept.
void deliver_log(int level, const char* message, size_t n) {
  if (g_log_handler == nullptr) return;
  PyObject *type, *value, *traceback;
  PyErr_Fetch(&type, &value, &traceback);
  PyObject* handler = g_log_handler;
  Py_INCREF(handler);  // it may be replaced while it runs
  PyObject* text = PyUnicode_DecodeUTF8(message, static_cast<Py_ssize_t>(n), "replace");
  PyObject* r = text ? PyObject_CallFunction(handler, "iO", level, text) : nullptr;
  if (r == nullptr) {
    if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
      PyErr_Clear();
      PyErr_SetInterrupt();
    } else {
      PyErr_WriteUnraisable(handler);
    }
  }
  Py_XDECREF(r);
  Py_XDECREF(text);
  Py_DECREF(handler);
  PyErr_Restore(type, value, traceback);
}

void deliver_queued(LogQueue& q) {  // GIL held
  std::vector<std::pair<int, std::string>> batch;
  {
    std::lock_guard<std::mutex> g(q.mu);
    batch.swap(q.messages);
  }
  for (const auto& m : batch) deliver_log(m.first, m.second.data(), m.second.size());
}

void log_trampoline(void*, m4cxr_log_level level, const char* message) {
  if (LogQueue* q = t_log_queue) {
    try {
      std::lock_guard<std::mutex> g(q->mu);
      q->messages.emplace_back(static_cast<int>(level), message);
      q->cv.notify_all();
    } catch (...) {  // out of memory: the message is dropped
    }
    return;
  }
  if (!interpreter_running()) return;
  PyGILState_STATE g = PyGILState_Ensure();
  deliver_log(static_cast<int>(level), message, std::strlen(message));
  PyGILState_Release(g);
}

// Runs `work` with the GIL released and takes it back in plain code, not in a destructor
// (py::gil_scoped_release): while the interpreter finalizes, Python ends a daemon thread
// that takes the GIL back with pthread_exit, whose unwinding must not pass through a
// destructor (they are noexcept: std::terminate aborted the process). `work` must not
// touch Python objects; its exception is rethrown with the GIL held.
template <typename Work>
void without_gil(Work&& work) {
  PyThreadState* state = PyEval_SaveThread();
  std::exception_ptr failure;
  try {
    work();
  } catch (...) {
    failure = std::current_exception();
  }
  PyEval_RestoreThread(state);
  if (failure) std::rethrow_exception(failure);
}

// m4cxr_set_log_callback with `handler` (None: off). The GIL is released while the C
// library waits for calls of the previous callback in progress on other threads (they
// may be waiting for the GIL).
void set_log_handler(py::object handler, int min_level) {
  if (min_level < M4CXR_LOG_DEBUG || min_level > M4CXR_LOG_ERROR)
    throw py::value_error("min_level must be 0 (debug) .. 3 (error)");
  const bool on = !handler.is_none();
  m4cxr_status st = M4CXR_ERR_INTERNAL;  // set by the call
  std::string message;
  without_gil([&] {
    st = m4cxr_set_log_callback(on ? log_trampoline : nullptr, nullptr, static_cast<m4cxr_log_level>(min_level));
    if (st != M4CXR_OK) message = m4cxr_last_error();
  });
  if (st != M4CXR_OK) throw CError{st, message, {}};
  PyObject* old = g_log_handler;
  g_log_handler = on ? handler.release().ptr() : nullptr;
  Py_XDECREF(old);
}

// ---------------------------------------------------------------- interruptible waits
unsigned long g_main_thread = 0;  // PyThread ident of the main thread (signal handlers run there)

// The thread that runs the main thread's interruptible calls, one at a time. It lives as
// long as the process (a thread per call would pay libtorch's and OpenMP's per-thread
// set-up, about 10 ms, on every call) and never runs Python code. Its structures are
// never freed: it may still wait for work while the process exits.
struct Helper {
  LogQueue queue;                     // its mutex guards the fields below too
  std::function<void()>* job = nullptr;  // posted by the main thread
  bool busy = false;                  // a job is posted and not yet waited for
  pid_t pid = getpid();               // a forked child needs a helper of its own

  void loop() {
    t_log_queue = &queue;
    std::unique_lock<std::mutex> lk(queue.mu);
    for (;;) {
      queue.cv.wait(lk, [&] { return job != nullptr; });
      std::function<void()>* j = job;
      lk.unlock();
      (*j)();  // does not throw (see run_interruptibly)
      lk.lock();
      job = nullptr;
      queue.done = true;
      queue.cv.notify_all();
    }
  }
};

// The helper, started on first use; NULL when no thread can be started. Main thread,
// GIL held.
Helper* helper() {
  static Helper* h = nullptr;
  if (h != nullptr && h->pid == getpid()) return h;
  try {
    auto* fresh = new Helper;
    std::thread([fresh] { fresh->loop(); }).detach();
    h = fresh;
  } catch (...) {  // no thread to be had
    return nullptr;
  }
  return h;
}

// Runs `work` with the GIL released and returns when it has. On the main thread the
// work runs on the helper thread while this one waits, waking every 20 ms (and for each
// message the work logs, which it delivers) to run Python's signal handlers
// (PyErr_CheckSignals): when one raises, e.g. KeyboardInterrupt for Ctrl-C, `interrupt`
// is called to make the work stop soon, the work is waited for, and the handler's
// exception is thrown. Elsewhere (no signal handlers run there), in a call made while
// the helper is busy (from a handler running during a wait), or without a helper, the
// work runs here. `work` must not touch Python objects.
template <typename Work, typename Interrupt>
void run_interruptibly(Work&& work, Interrupt&& interrupt) {
  Helper* h = PyThread_get_thread_ident() == g_main_thread ? helper() : nullptr;
  if (h == nullptr || h->busy) {
    without_gil(work);
    return;
  }
  LogQueue& q = h->queue;
  std::exception_ptr failure;
  std::function<void()> job = [&] {
    try {
      work();
    } catch (...) {
      failure = std::current_exception();
    }
  };
  {
    std::lock_guard<std::mutex> g(q.mu);
    h->busy = true;
    q.done = false;
    h->job = &job;
    q.cv.notify_all();
  }
  // Nothing below throws before the job is done: it refers to this frame.
  std::optional<py::error_already_set> raised;
  for (bool done = false; !done;) {
    {
      py::gil_scoped_release nogil;
      std::unique_lock<std::mutex> lk(q.mu);
      q.cv.wait_for(lk, std::chrono::milliseconds(20), [&] { return q.done || !q.messages.empty(); });
      done = q.done;
    }
    deliver_queued(q);  // also the last messages: the job logged them before it was done
    if (!done && !raised && PyErr_CheckSignals() != 0) {
      raised.emplace();  // takes the pending exception
      interrupt();
    }
  }
  h->busy = false;
  if (failure) std::rethrow_exception(failure);
  if (raised) throw std::move(*raised);
}

// ---------------------------------------------------------------- model
struct Progress {
  py::object fn;
  std::optional<py::error_already_set> error;
};

int progress_trampoline(double fraction, void* user_data) {
  auto* p = static_cast<Progress*>(user_data);
  py::gil_scoped_acquire gil;
  try {
    return p->fn(fraction).ptr() == Py_False ? 1 : 0;  // False aborts the load
  } catch (py::error_already_set& e) {
    p->error.emplace(std::move(e));
    return 1;
  }
}

// Frees `*h` and nulls it. The field is read and written with the GIL held; a call that
// copied the handle and released the GIL meanwhile is safe (the C layer defers the free).
template <typename H>
void free_handle(H*& h, void (*fn)(H*)) {
  H* old = h;
  h = nullptr;
  fn(old);
}

class Model {
 public:
  Model(const std::string& dir, int dtype, const std::string& device, int threads, std::optional<std::string> adapter,
        std::optional<int64_t> max_image_pixels, std::optional<int> max_cached_images, py::object progress) {
    m4cxr_model_options o;
    m4cxr_model_options_default(&o);
    o.dtype = static_cast<m4cxr_dtype>(dtype);
    o.device = device.c_str();
    o.threads = threads;
    o.adapter_dir = adapter ? adapter->c_str() : nullptr;
    if (max_image_pixels) o.max_image_pixels = *max_image_pixels;
    if (max_cached_images) o.max_cached_images = *max_cached_images;
    Progress p{std::move(progress), {}};
    if (!p.fn.is_none()) {
      o.progress = progress_trampoline;
      o.progress_user_data = &p;
    }
    m4cxr_status st = M4CXR_ERR_INTERNAL;  // set by the call
    std::string message;
    without_gil([&] {
      st = m4cxr_model_load(dir.c_str(), &o, &h_);
      if (st != M4CXR_OK) message = m4cxr_last_error();
    });
    if (p.error) throw std::move(*p.error);  // the callback's own exception wins
    if (st != M4CXR_OK) throw CError{st, message, dir};
  }
  ~Model() { m4cxr_model_free(h_); }

  m4cxr_model* get() const {
    if (!h_) closed("model");
    return h_;
  }

  py::dict info() const {
    m4cxr_model_info i;
    i.struct_size = sizeof i;
    check(m4cxr_model_get_info(get(), &i));
    py::dict d;
    d["visual_tokens_per_image"] = i.visual_tokens_per_image;
    d["image_size"] = i.image_size;
    d["vision_layers"] = i.vision_layers;
    d["vision_hidden"] = i.vision_hidden;
    d["text_layers"] = i.text_layers;
    d["text_hidden"] = i.text_hidden;
    d["vocab_size"] = i.vocab_size;
    d["dtype"] = i.dtype == M4CXR_DTYPE_FLOAT32 ? "float32" : i.dtype == M4CXR_DTYPE_INT8 ? "int8" : "bfloat16";
    d["device"] = utf8(i.device);
    d["weight_bytes"] = i.weight_bytes;
    d["lora_pairs_merged"] = i.lora_pairs_merged;
    return d;
  }

  // Sessions and images made from the model stay usable (they keep the weights).
  void close() { free_handle(h_, m4cxr_model_free); }
  bool is_closed() const { return !h_; }

 private:
  m4cxr_model* h_ = nullptr;
};

// ---------------------------------------------------------------- images
class Image {
 public:
  // `make` runs with the GIL released and fills the handle.
  template <typename F>
  static std::unique_ptr<Image> create(const Model& model, F&& make, const std::string& filename = {}) {
    m4cxr_model* m = model.get();
    auto im = std::unique_ptr<Image>(new Image());
    m4cxr_status st = M4CXR_ERR_INTERNAL;  // set by the call
    std::string message;
    without_gil([&] {
      st = make(m, &im->h_);
      if (st != M4CXR_OK) message = m4cxr_last_error();
    });
    if (st != M4CXR_OK) throw CError{st, message, filename};
    return im;
  }
  ~Image() { m4cxr_image_free(h_); }

  // Tasks that use the image keep its pixels.
  void close() { free_handle(h_, m4cxr_image_free); }
  bool is_closed() const { return !h_; }

  const m4cxr_image* get() const {
    if (!h_) closed("image");
    return h_;
  }
  std::pair<int, int> size() const {
    int w = 0, h = 0;
    check(m4cxr_image_get_size(get(), &w, &h));
    return {w, h};
  }
  std::string hash() const {
    const char* s = m4cxr_image_hash(get());
    if (s == nullptr) fail(M4CXR_ERR_INVALID_HANDLE);
    return s;
  }
  // m4cxr_image_get_dicom_field for every field, or None for images not read from DICOM.
  py::object dicom_fields() const {
    const m4cxr_image* h = get();
    if (m4cxr_image_is_dicom(h) == 0) return py::none();  // not read from DICOM (or freed: checked below)
    const char* v = nullptr;
    py::list out;
    for (int f = M4CXR_DICOM_STUDY_INSTANCE_UID; f <= M4CXR_DICOM_CONVERSION; ++f) {
      check(m4cxr_image_get_dicom_field(h, static_cast<m4cxr_dicom_field>(f), &v));
      out.append(utf8(v));
    }
    return out;
  }
  std::array<int, 4> to_model(const std::array<double, 4>& pixels) const {
    std::array<int, 4> m{};
    check(m4cxr_image_pixels_to_model(get(), pixels.data(), m.data()));
    return m;
  }
  std::array<double, 4> to_pixels(const std::array<int, 4>& model) const {
    std::array<double, 4> p{};
    check(m4cxr_image_model_to_pixels(get(), model.data(), p.data()));
    return p;
  }

 private:
  Image() = default;
  m4cxr_image* h_ = nullptr;
};

std::vector<const m4cxr_image*> handles(const std::vector<const Image*>& images) {
  std::vector<const m4cxr_image*> v;
  for (const Image* im : images) v.push_back(im ? im->get() : nullptr);
  return v;
}

m4cxr_dicom_options dicom_options(int conversion, bool multiframe, bool any_modality, bool color) {
  m4cxr_dicom_options o;
  m4cxr_dicom_options_default(&o);
  o.conversion = static_cast<m4cxr_dicom_conversion>(conversion);
  o.allow_multiframe = multiframe;
  o.allow_any_modality = any_modality;
  o.allow_color = color;
  return o;
}

// m4cxr_dicom_order_study: (order of images, order of prior).
std::pair<std::vector<size_t>, std::vector<size_t>> dicom_order_study(const std::vector<const Image*>& images,
                                                                      const std::vector<const Image*>& prior) {
  const std::vector<const m4cxr_image*> a = handles(images), b = handles(prior);
  std::vector<size_t> order(a.size()), porder(b.size());
  check(m4cxr_dicom_order_study(a.data(), a.size(), b.empty() ? nullptr : b.data(), b.size(), order.data(),
                                b.empty() ? nullptr : porder.data()));
  return {order, porder};
}

// m4cxr_trace (m4cxr_debug.h) with the GIL released.
void trace(const Model& model, const std::vector<const Image*>& images, const std::string& prompt,
           const std::string& out_dir) {
  const m4cxr_model* m = model.get();
  const std::vector<const m4cxr_image*> h = handles(images);
  m4cxr_status st = M4CXR_ERR_INTERNAL;  // set by the call
  std::string message;
  without_gil([&] {
    st = m4cxr_trace(m, h.data(), h.size(), prompt.c_str(), out_dir.c_str());
    if (st != M4CXR_OK) message = m4cxr_last_error();
  });
  if (st != M4CXR_OK) throw CError{st, message, out_dir};
}

// ---------------------------------------------------------------- results
// Everything a result holds, copied out while the C result is alive.
struct ResultData {
  std::string text, json;
  std::string fhir, dicom_sr;  // m4cxr_result_to_fhir / m4cxr_result_to_dicom_sr
  std::vector<std::string> turns, findings;
  struct Box {
    std::string label;
    std::array<int, 4> model;
    std::array<double, 4> pixels;
    int image_index;
    double probability;
  };
  std::vector<Box> boxes;
  struct LabelScore {
    std::string label;
    double score;
    bool written;
  };
  std::vector<LabelScore> label_scores;  // candidate order; empty for tasks without a findings turn
  struct Token {
    int32_t id;
    std::string text;
    double logprob;
    std::vector<Token> top;
  };
  std::vector<std::vector<Token>> tokens;  // per turn; empty lists without logprobs
  m4cxr_stats stats{};

  static py::tuple token_tuple(const Token& x) {
    py::list top;
    for (const auto& a : x.top) top.append(token_tuple(a));
    return py::make_tuple(x.id, utf8(x.text.data(), x.text.size()), x.logprob, top);
  }

  py::dict to_python(bool cancelled) const {
    py::list t, f, b;
    for (const auto& s : turns) t.append(utf8(s.data(), s.size()));
    for (const auto& s : findings) f.append(utf8(s.data(), s.size()));
    for (const auto& x : boxes)
      b.append(py::make_tuple(utf8(x.label.data(), x.label.size()), x.model, x.pixels, x.image_index, x.probability));
    py::list ls;
    for (const auto& x : label_scores) ls.append(py::make_tuple(utf8(x.label.data(), x.label.size()), x.score, x.written));
    py::dict st;
    st["prompt_tokens"] = stats.prompt_tokens;
    st["prefilled_tokens"] = stats.prefilled_tokens;
    st["generated_tokens"] = stats.generated_tokens;
    st["image_encode_ms"] = stats.image_encode_ms;
    st["prefill_ms"] = stats.prefill_ms;
    st["decode_ms"] = stats.decode_ms;
    st["stopped_by_eos"] = stats.stopped_by_eos != 0;
    st["cancelled"] = stats.cancelled != 0 || cancelled;
    py::dict d;
    d["text"] = utf8(text.data(), text.size());
    d["turns"] = t;
    d["findings"] = f;
    d["boxes"] = b;
    d["label_scores"] = ls;
    d["stats"] = st;
    py::list tk;
    for (const auto& turn : tokens) {
      py::list l;
      for (const auto& x : turn) l.append(token_tuple(x));
      tk.append(l);
    }
    d["tokens"] = tk;
    d["json"] = utf8(json.data(), json.size());
    d["fhir"] = utf8(fhir.data(), fhir.size());
    d["dicom_sr"] = py::bytes(dicom_sr);
    return d;
  }
};

m4cxr_status read_result(m4cxr_task* task, ResultData* out) {
  m4cxr_result* r = nullptr;
  m4cxr_status st = m4cxr_task_result(task, &r);
  if (st != M4CXR_OK) return st;
  auto str = [](const char* s) { return std::string(s ? s : ""); };
  out->text = str(m4cxr_result_text(r));
  out->json = str(m4cxr_result_json(r));
  for (size_t i = 0; i < m4cxr_result_turn_count(r); ++i) out->turns.push_back(str(m4cxr_result_turn_text(r, i)));
  for (size_t i = 0; i < m4cxr_result_finding_count(r); ++i) out->findings.push_back(str(m4cxr_result_finding(r, i)));
  for (size_t i = 0; i < m4cxr_result_box_count(r) && st == M4CXR_OK; ++i) {
    m4cxr_box b;
    b.struct_size = sizeof b;
    if ((st = m4cxr_result_get_box(r, i, &b)) == M4CXR_OK)
      out->boxes.push_back({str(b.label), {b.model[0], b.model[1], b.model[2], b.model[3]},
                            {b.pixels[0], b.pixels[1], b.pixels[2], b.pixels[3]}, b.image_index, b.probability});
  }
  for (size_t i = 0; i < m4cxr_result_label_score_count(r) && st == M4CXR_OK; ++i) {
    m4cxr_label_score ls;
    ls.struct_size = sizeof ls;
    if ((st = m4cxr_result_get_label_score(r, i, &ls)) == M4CXR_OK)
      out->label_scores.push_back({str(ls.label), ls.score, ls.written != 0});
  }
  for (size_t turn = 0; turn < m4cxr_result_turn_count(r) && st == M4CXR_OK; ++turn) {
    out->tokens.emplace_back();
    for (size_t i = 0; i < m4cxr_result_token_count(r, turn) && st == M4CXR_OK; ++i) {
      m4cxr_token_info info;
      info.struct_size = sizeof info;
      if ((st = m4cxr_result_get_token(r, turn, i, &info)) != M4CXR_OK) break;
      ResultData::Token tok{info.id, str(info.text), info.logprob, {}};
      for (size_t j = 0; j < info.top_count && st == M4CXR_OK; ++j) {
        m4cxr_token_info alt;
        alt.struct_size = sizeof alt;
        if ((st = m4cxr_result_get_token_alternative(r, turn, i, j, &alt)) == M4CXR_OK)
          tok.top.push_back({alt.id, str(alt.text), alt.logprob, {}});
      }
      out->tokens.back().push_back(std::move(tok));
    }
  }
  out->stats.struct_size = sizeof out->stats;
  if (st == M4CXR_OK) st = m4cxr_result_get_stats(r, &out->stats);
  // The structured documents now: the Python Result outlives the C result.
  char* fhir = nullptr;
  if (st == M4CXR_OK && (st = m4cxr_result_to_fhir(r, nullptr, &fhir)) == M4CXR_OK) out->fhir = fhir;
  m4cxr_free(fhir);
  uint8_t* sr = nullptr;
  size_t sr_size = 0;
  if (st == M4CXR_OK && (st = m4cxr_result_to_dicom_sr(r, nullptr, &sr, &sr_size)) == M4CXR_OK)
    out->dicom_sr.assign(reinterpret_cast<const char*>(sr), sr_size);
  m4cxr_free(sr);
  m4cxr_result_free(r);
  return st;
}

// ---------------------------------------------------------------- sessions and tasks
class Session {
 public:
  explicit Session(const Model& model) { check(m4cxr_session_create(model.get(), &h_)); }
  ~Session() { m4cxr_session_free(h_); }

  m4cxr_session* get() const {
    if (!h_) closed("session");
    return h_;
  }

  void reset() { check(m4cxr_session_reset(get())); }
  void clear_image_cache() { check(m4cxr_session_clear_image_cache(get())); }
  void append_turn(const std::string& user_text, const std::string& answer, const std::vector<const Image*>& images) {
    m4cxr_session* s = get();
    const auto h = handles(images);
    check(m4cxr_session_append_turn(s, c_text(user_text, "user_text"), c_text(answer, "answer"), h.data(), h.size()));
  }

  // Any thread: stops the running task, if any. A closed session has none.
  void cancel() {
    if (m4cxr_session* s = h_) m4cxr_session_cancel(s);
  }

  // Any thread, any time (also while another thread runs a step of its task: the C
  // library asks that task to stop and frees the session when the step returns).
  void close() { free_handle(h_, m4cxr_session_free); }
  bool is_closed() const { return !h_; }

 private:
  m4cxr_session* h_ = nullptr;
};

// A task, driven by next() with the GIL released. Its handle is freed when it finishes
// or when the Task is collected (m4cxr_task_free cancels an unfinished one). `session`
// (the _m4cxr.Session) is kept for the "session is closed" message.
class Task {
 public:
  Task(m4cxr_task* h, py::object session) : h_(h), session_(std::move(session)) {}
  ~Task() { m4cxr_task_free(h_); }

  // The next piece as (text, turn), or None once the task has finished; the result is
  // then ready. A stop by cancel() ends the pieces like the end of the task does. On the
  // main thread a signal handler's exception (Ctrl-C) cancels the task and propagates.
  py::object next() {
    if (done_) return py::none();
    if (session_.cast<const Session&>().is_closed())
      finish(CError{M4CXR_ERR_INVALID_HANDLE, "the task's session is closed", {}}, std::nullopt);
    // The piece lives in the task until its next call: one caller of next() at a time,
    // checked here (with the GIL) rather than left to the C layer's BUSY, which cannot
    // protect the piece a returning call is still copying.
    if (in_next_) throw CError{M4CXR_ERR_BUSY, "the task is driven by another thread", {}};
    in_next_ = true;
    struct Leave {
      bool& flag;
      ~Leave() { flag = false; }  // runs after the GIL is taken back (declared before `nogil`)
    } leave{in_next_};
    m4cxr_task* t = h_;
    std::string piece;
    int turn = 0;
    m4cxr_status st = M4CXR_ERR_INTERNAL;
    std::optional<CError> err;
    std::optional<ResultData> data;
    // Without the GIL, perhaps on a helper thread (run_interruptibly): everything the
    // call returns, the piece and m4cxr_last_error included, is copied there.
    auto step = [&] {
      const char* p = nullptr;
      size_t n = 0;
      st = m4cxr_task_next(t, &p, &n, &turn);
      if (st == M4CXR_OK)
        piece.assign(p, n);
      else if (st != M4CXR_DONE)
        err = CError{st, m4cxr_last_error(), {}};
      if (st != M4CXR_OK && st != M4CXR_ERR_BUSY) {  // finished: done, stopped or failed
        data.emplace();
        const m4cxr_status rst = read_result(t, &*data);
        if (rst != M4CXR_OK && !err) err = CError{rst, m4cxr_last_error(), {}};
      }
    };
    try {
      run_interruptibly(step, [t] { m4cxr_task_cancel(t); });
    } catch (py::error_already_set&) {
      // A signal handler raised (Ctrl-C) and the task was cancelled. A piece that came
      // meanwhile is dropped; an end is recorded (the result says cancelled).
      if (st != M4CXR_OK && st != M4CXR_ERR_BUSY) {
        try {
          finish(err, data);
        } catch (const CError&) {  // kept for result(); the handler's exception wins
        }
      }
      throw;
    }
    if (st == M4CXR_OK) return py::make_tuple(utf8(piece.data(), piece.size()), turn);
    if (st == M4CXR_ERR_BUSY) throw *err;
    finish(err, data);
    return py::none();
  }

  // Any thread: asks the task to stop within one transformer layer (no-op once finished
  // or when its session is closed).
  void cancel() {
    if (m4cxr_task* t = h_) m4cxr_task_cancel(t);
  }

  bool done() const { return done_; }

  py::object result() const {
    if (error_) throw *error_;  // the failure next() raised
    if (!done_) throw CError{M4CXR_ERR_INVALID_ARGUMENT, "the task has not finished", {}};
    return result_;
  }

 private:
  // Records the end (result or error), frees the handle; throws the error (a cancel that
  // a library reports as M4CXR_ERR_CANCELLED ends the task like M4CXR_DONE).
  void finish(std::optional<CError> err, const std::optional<ResultData>& data) {
    done_ = true;
    free_handle(h_, m4cxr_task_free);
    const bool cancelled = err && err->status == M4CXR_ERR_CANCELLED;
    if ((err && !cancelled) || !data) {
      error_ = err ? *err : CError{M4CXR_ERR_INTERNAL, "the task ended without a result", {}};
      throw *error_;
    }
    result_ = data->to_python(cancelled);
  }

  m4cxr_task* h_;
  py::object session_;
  bool in_next_ = false;
  bool done_ = false;
  std::optional<CError> error_;
  py::object result_ = py::none();
};

m4cxr_generation_options generation(const py::dict& kw) {
  m4cxr_generation_options o;
  m4cxr_generation_options_default(&o);
  for (auto item : kw) {
    const std::string k = py::str(item.first);
    py::handle v = item.second;
    if (k == "max_new_tokens") o.max_new_tokens = v.cast<int>();
    else if (k == "do_sample") o.do_sample = v.cast<bool>() ? 1 : 0;
    else if (k == "temperature") o.temperature = v.cast<float>();
    else if (k == "top_k") o.top_k = v.cast<int>();
    else if (k == "top_p") o.top_p = v.cast<float>();
    else if (k == "seed") o.seed = v.cast<uint64_t>();
    else if (k == "continue_conversation") o.continue_conversation = v.cast<bool>() ? 1 : 0;
    else if (k == "constrained") o.constrained = v.cast<bool>() ? 1 : 0;
    else if (k == "logprobs") {  // K alternatives per token; the option turns the recording on
      o.logprobs = 1;
      o.top_logprobs = v.cast<int>();
    }
    else throw py::type_error("unknown generation option '" + k + "'");
  }
  return o;
}

struct TaskArgs {
  m4cxr_task_args* h = nullptr;
  TaskArgs() { check(m4cxr_task_args_create(&h)); }
  ~TaskArgs() { m4cxr_task_args_free(h); }
  TaskArgs(const TaskArgs&) = delete;
  TaskArgs& operator=(const TaskArgs&) = delete;
};

// m4cxr_task_start(session, name, args, options): `args` is a sequence of (name, value)
// pairs, added in order; a value is an _m4cxr.Image, a str, a bool (flag) or a box of 4
// numbers. A list argument is given as one pair per element. With the GIL held: this
// only checks the arguments and builds the prompt.
std::unique_ptr<Task> start_task(py::object self, const std::string& task, const py::sequence& args,
                                 const py::dict& kw) {
  const m4cxr_generation_options o = generation(kw);
  m4cxr_session* s = self.cast<const Session&>().get();
  TaskArgs a;
  for (py::handle item : args) {
    const auto pair = item.cast<py::tuple>();
    if (pair.size() != 2) throw py::type_error("task arguments are (name, value) pairs");
    const std::string name = pair[0].cast<std::string>();
    py::handle v = pair[1];
    if (py::isinstance<Image>(v)) {
      check(m4cxr_task_args_add_image(a.h, name.c_str(), v.cast<const Image&>().get()));
    } else if (py::isinstance<py::str>(v)) {
      const std::string text = v.cast<std::string>();
      check(m4cxr_task_args_add_text(a.h, name.c_str(), c_text(text, name.c_str())));
    } else if (py::isinstance<py::bool_>(v)) {
      check(m4cxr_task_args_set_flag(a.h, name.c_str(), v.cast<bool>() ? 1 : 0));
    } else {
      const auto box = v.cast<std::array<double, 4>>();
      check(m4cxr_task_args_add_box(a.h, name.c_str(), box.data()));
    }
  }
  m4cxr_task* t = nullptr;
  check(m4cxr_task_start(s, task.c_str(), a.h, &o, &t));
  return std::make_unique<Task>(t, std::move(self));
}

}  // namespace

PYBIND11_MODULE(_m4cxr, m) {
  m.doc() = "Low-level binding of the m4cxr C API; use the `m4cxr` package instead.";

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const CError& e) {
      try {
        py::object exc = py::module_::import("m4cxr._errors")
                             .attr("from_status")(static_cast<int>(e.status), utf8(e.message.c_str()),
                                                  utf8(m4cxr_status_string(e.status)),
                                                  e.filename.empty() ? py::object(py::none()) : py::str(e.filename));
        PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
      } catch (py::error_already_set& inner) {
        inner.restore();
      }
    }
  });

  g_main_thread = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();

  m.attr("ABI_VERSION") = M4CXR_ABI_VERSION;  // the header this module was built with
  m.def("abi_version", &m4cxr_abi_version, "M4CXR_ABI_VERSION of the loaded libm4cxr.");
  m.def("version", [] { return std::string(m4cxr_version_string()); });
  m.def("status_string", [](int s) { return utf8(m4cxr_status_string(static_cast<m4cxr_status>(s))); });
  py::dict statuses;
  for (int s : {M4CXR_OK, M4CXR_ERR_INVALID_ARGUMENT, M4CXR_ERR_IO, M4CXR_ERR_FORMAT, M4CXR_ERR_UNSUPPORTED,
                M4CXR_ERR_LIMIT, M4CXR_ERR_OUT_OF_MEMORY, M4CXR_ERR_CANCELLED, M4CXR_ERR_BUSY, M4CXR_ERR_MODEL,
                M4CXR_ERR_INTERNAL, M4CXR_ERR_INVALID_HANDLE, M4CXR_DONE})
    statuses[utf8(m4cxr_status_string(static_cast<m4cxr_status>(s)))] = s;
  m.attr("STATUSES") = statuses;

  m.def("dicom_order_study", &dicom_order_study, py::arg("images"), py::arg("prior"),
        "m4cxr_dicom_order_study: report order of a study's DICOM images and of its prior's.");
  m.def("task_table_json", [] { return utf8(m4cxr_task_table_json()); },
        "JSON text of the task table built into the library.");
  m.def("set_log_handler", &set_log_handler, py::arg("handler"), py::arg("min_level"),
        "m4cxr_set_log_callback: handler(level, message) for messages of min_level (0 debug .. 3 error) and "
        "above; None turns logging off.");
  m.def("debug_set_layer_delay_ms", [](int ms) { check(m4cxr_debug_set_layer_delay_ms(ms)); },
        "m4cxr_debug_set_layer_delay_ms (m4cxr_debug.h): tests simulate a slow model.");

  py::class_<Model>(m, "Model")
      .def(py::init<const std::string&, int, const std::string&, int, std::optional<std::string>,
                    std::optional<int64_t>, std::optional<int>, py::object>(),
           py::arg("path"), py::arg("dtype"), py::arg("device"), py::arg("threads"), py::arg("adapter"),
           py::arg("max_image_pixels"), py::arg("max_cached_images"), py::arg("progress"))
      .def("info", &Model::info)
      .def("trace", &trace)
      .def("close", &Model::close)
      .def_property_readonly("closed", &Model::is_closed);

  py::class_<Image>(m, "Image")
      .def_static("from_file", [](const Model& model, const std::string& path) {
        return Image::create(model, [&](const m4cxr_model* h, m4cxr_image** out) {
          return m4cxr_image_from_file(h, path.c_str(), out);
        }, path);
      })
      .def_static("from_memory", [](const Model& model, const py::buffer& data) {
        py::buffer_info b = data.request();
        return Image::create(model, [&](const m4cxr_model* h, m4cxr_image** out) {
          return m4cxr_image_from_memory(h, b.ptr, static_cast<size_t>(b.size * b.itemsize), out);
        });
      })
      .def_static("from_pixels", [](const Model& model, const py::buffer& data, int width, int height, size_t stride,
                                    int format) {
        py::buffer_info b = data.request();
        return Image::create(model, [&](const m4cxr_model* h, m4cxr_image** out) {
          return m4cxr_image_from_pixels(h, b.ptr, static_cast<size_t>(b.size * b.itemsize), width, height, stride,
                                         static_cast<m4cxr_pixel_format>(format), out);
        });
      })
      .def_static("from_dicom_file", [](const Model& model, const std::string& path, int conversion, bool multiframe,
                                        bool any_modality, bool color) {
        const m4cxr_dicom_options o = dicom_options(conversion, multiframe, any_modality, color);
        return Image::create(model, [&](const m4cxr_model* h, m4cxr_image** out) {
          return m4cxr_image_from_dicom_file(h, path.c_str(), &o, out);
        }, path);
      })
      .def_static("from_dicom_memory", [](const Model& model, const py::buffer& data, int conversion, bool multiframe,
                                          bool any_modality, bool color) {
        const m4cxr_dicom_options o = dicom_options(conversion, multiframe, any_modality, color);
        py::buffer_info b = data.request();
        return Image::create(model, [&](const m4cxr_model* h, m4cxr_image** out) {
          return m4cxr_image_from_dicom_memory(h, b.ptr, static_cast<size_t>(b.size * b.itemsize), &o, out);
        });
      })
      .def("dicom_fields", &Image::dicom_fields)
      .def_property_readonly("size", &Image::size)
      .def_property_readonly("hash", &Image::hash)
      .def("to_model", &Image::to_model)
      .def("to_pixels", &Image::to_pixels)
      .def("close", &Image::close)
      .def_property_readonly("closed", &Image::is_closed);

  py::class_<Task>(m, "Task")
      .def("next", &Task::next)
      .def("cancel", &Task::cancel)
      .def("result", &Task::result)
      .def_property_readonly("done", &Task::done);

  py::class_<Session>(m, "Session")
      .def(py::init<const Model&>())
      .def("start", &start_task, py::arg("task"), py::arg("args"), py::arg("gen"))
      .def("reset", &Session::reset)
      .def("clear_image_cache", &Session::clear_image_cache)
      .def("append_turn", &Session::append_turn)
      .def("cancel", &Session::cancel)
      .def("close", &Session::close)
      .def_property_readonly("closed", &Session::is_closed);
}
