// _m4cxr: the pybind11 layer of the Python binding. It wraps include/m4cxr/m4cxr.h (and
// nothing else) in four handle classes; the idiomatic API lives in m4cxr/__init__.py.
//
// Ownership: a Model, Image, Session or Task object owns its C handle and frees it in
// close() or when collected. The C model is freed once the Model and every Session and
// Image made from it are closed (they share one reference), so the header's rule "the
// model outlives its sessions and images" holds whatever order Python closes them in.
// A Session frees its unfinished task (cancelling it) before the session itself.
//
// Threading: the GIL is released around every call that computes (model load, image
// decoding, m4cxr_task_next, m4cxr_trace); handles used meanwhile are kept alive by
// shared references (ModelCore, ImageCore) or by the session's mutex. Each session has a mutex `run` held across every C call on
// it or its task and taken with the GIL released, so a session is never freed under a
// running step; cancel() takes only the short-lived `ptrs` mutex and never waits for a
// step. Lock order: GIL is never acquired while `run` is held.
//
// Errors: a failed call throws CError {status, m4cxr_last_error() read at once on the
// calling thread}; the translator turns it into m4cxr._errors.Error subclasses.
#include <m4cxr/m4cxr.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

struct CError {
  m4cxr_status status;
  std::string message;
  std::string filename;  // the file a failed load/decode was about, if any
};

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

// ---------------------------------------------------------------- model
struct ModelCore {
  m4cxr_model* handle = nullptr;
  ~ModelCore() { m4cxr_model_free(handle); }
};
using ModelRef = std::shared_ptr<ModelCore>;

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

class Model {
 public:
  Model(const std::string& dir, int dtype, const std::string& device, int threads, std::optional<std::string> adapter,
        std::optional<int64_t> max_image_pixels, py::object progress) {
    m4cxr_model_options o;
    m4cxr_model_options_default(&o);
    o.dtype = static_cast<m4cxr_dtype>(dtype);
    o.device = device.c_str();
    o.threads = threads;
    o.adapter_dir = adapter ? adapter->c_str() : nullptr;
    if (max_image_pixels) o.max_image_pixels = *max_image_pixels;
    Progress p{std::move(progress), {}};
    if (!p.fn.is_none()) {
      o.progress = progress_trampoline;
      o.progress_user_data = &p;
    }
    auto core = std::make_shared<ModelCore>();
    m4cxr_status st;
    std::string message;
    {
      py::gil_scoped_release nogil;
      st = m4cxr_model_load(dir.c_str(), &o, &core->handle);
      if (st != M4CXR_OK) message = m4cxr_last_error();
    }
    if (p.error) throw std::move(*p.error);  // the callback's own exception wins
    if (st != M4CXR_OK) throw CError{st, message, dir};
    core_ = std::move(core);
  }

  ModelRef ref() const {
    if (!core_) closed("model");
    return core_;
  }

  py::dict info() const {
    m4cxr_model_info i;
    i.struct_size = sizeof i;
    check(m4cxr_model_get_info(ref()->handle, &i));
    py::dict d;
    d["visual_tokens_per_image"] = i.visual_tokens_per_image;
    d["image_size"] = i.image_size;
    d["vision_layers"] = i.vision_layers;
    d["vision_hidden"] = i.vision_hidden;
    d["text_layers"] = i.text_layers;
    d["text_hidden"] = i.text_hidden;
    d["vocab_size"] = i.vocab_size;
    d["dtype"] = i.dtype == M4CXR_DTYPE_FLOAT32 ? "float32" : "bfloat16";
    d["device"] = utf8(i.device);
    d["weight_bytes"] = i.weight_bytes;
    d["lora_pairs_merged"] = i.lora_pairs_merged;
    return d;
  }

  void close() { core_.reset(); }
  bool is_closed() const { return !core_; }

 private:
  ModelRef core_;
};

// ---------------------------------------------------------------- images
// The C image, freed when the Image is closed and no call that released the GIL still uses it.
struct ImageCore {
  m4cxr_image* handle = nullptr;
  ModelRef model;
  ~ImageCore() { m4cxr_image_free(handle); }
};
using ImageRef = std::shared_ptr<ImageCore>;

class Image {
 public:
  // `make` runs with the GIL released and fills the handle.
  template <typename F>
  static std::unique_ptr<Image> create(const Model& model, F&& make, const std::string& filename = {}) {
    auto core = std::make_shared<ImageCore>();
    core->model = model.ref();
    m4cxr_status st;
    std::string message;
    {
      py::gil_scoped_release nogil;
      st = make(core->model->handle, &core->handle);
      if (st != M4CXR_OK) message = m4cxr_last_error();
    }
    if (st != M4CXR_OK) throw CError{st, message, filename};
    auto im = std::unique_ptr<Image>(new Image());
    im->core_ = std::move(core);
    return im;
  }

  void close() { core_.reset(); }
  bool is_closed() const { return !core_; }

  ImageRef ref() const {
    if (!core_) closed("image");
    return core_;
  }
  const m4cxr_image* get() const { return ref()->handle; }
  std::pair<int, int> size() const {
    int w = 0, h = 0;
    check(m4cxr_image_get_size(get(), &w, &h));
    return {w, h};
  }
  std::string hash() const { return m4cxr_image_hash(get()); }
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
  ImageRef core_;
};

std::vector<const m4cxr_image*> handles(const std::vector<const Image*>& images) {
  std::vector<const m4cxr_image*> v;
  for (const Image* im : images) v.push_back(im ? im->get() : nullptr);
  return v;
}

// m4cxr_trace with the GIL released; the model and images are kept alive meanwhile.
void trace(const Model& model, const std::vector<const Image*>& images, const std::string& prompt,
           const std::string& out_dir) {
  const ModelRef m = model.ref();
  std::vector<ImageRef> keep;
  for (const Image* im : images) keep.push_back(im ? im->ref() : nullptr);
  std::vector<const m4cxr_image*> h;
  for (const auto& k : keep) h.push_back(k ? k->handle : nullptr);
  m4cxr_status st;
  std::string message;
  {
    py::gil_scoped_release nogil;
    st = m4cxr_trace(m->handle, h.data(), h.size(), prompt.c_str(), out_dir.c_str());
    if (st != M4CXR_OK) message = m4cxr_last_error();
  }
  if (st != M4CXR_OK) throw CError{st, message, out_dir};
}

// ---------------------------------------------------------------- sessions and tasks
struct SessionCore {
  std::mutex run;   // held across every C call on the session or its task
  std::mutex ptrs;  // guards `session`/`task` for cancel(), which must not wait for `run`
  m4cxr_session* session = nullptr;
  m4cxr_task* task = nullptr;  // the unfinished task, owned here
  uint64_t serial = 0;         // id of `task`: a stale Task object never touches a newer one
  ModelRef model;

  // Frees the task (cancelling and draining it if unfinished). `run` must be held.
  void drop_task() {
    m4cxr_task* t;
    {
      std::lock_guard<std::mutex> g(ptrs);
      t = task;
      task = nullptr;
    }
    m4cxr_task_free(t);
  }
};

// Takes `m`; if another thread holds it (computing a step), waits with the GIL released.
std::unique_lock<std::mutex> lock_nogil(std::mutex& m) {
  std::unique_lock<std::mutex> lk(m, std::try_to_lock);
  if (!lk.owns_lock()) {
    py::gil_scoped_release nogil;
    lk.lock();
  }
  return lk;
}

// Everything a result holds, copied out while the C objects are alive.
struct ResultData {
  std::string text, json;
  std::vector<std::string> turns, findings;
  struct Box {
    std::string label;
    std::array<int, 4> model;
    std::array<double, 4> pixels;
    int image_index;
  };
  std::vector<Box> boxes;
  m4cxr_stats stats{};

  py::dict to_python(bool cancelled) const {
    py::list t, f, b;
    for (const auto& s : turns) t.append(utf8(s.data(), s.size()));
    for (const auto& s : findings) f.append(utf8(s.data(), s.size()));
    for (const auto& x : boxes)
      b.append(py::make_tuple(utf8(x.label.data(), x.label.size()), x.model, x.pixels, x.image_index));
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
    d["stats"] = st;
    d["json"] = utf8(json.data(), json.size());
    return d;
  }
};

m4cxr_status read_result(m4cxr_task* task, ResultData* out) {
  m4cxr_result* r = nullptr;
  m4cxr_status st = m4cxr_task_result(task, &r);
  if (st != M4CXR_OK) return st;
  out->text = m4cxr_result_text(r);
  out->json = m4cxr_result_json(r);
  for (size_t i = 0; i < m4cxr_result_turn_count(r); ++i) out->turns.emplace_back(m4cxr_result_turn_text(r, i));
  for (size_t i = 0; i < m4cxr_result_finding_count(r); ++i) out->findings.emplace_back(m4cxr_result_finding(r, i));
  for (size_t i = 0; i < m4cxr_result_box_count(r) && st == M4CXR_OK; ++i) {
    m4cxr_box b;
    b.struct_size = sizeof b;
    if ((st = m4cxr_result_get_box(r, i, &b)) == M4CXR_OK)
      out->boxes.push_back({b.label, {b.model[0], b.model[1], b.model[2], b.model[3]},
                            {b.pixels[0], b.pixels[1], b.pixels[2], b.pixels[3]}, b.image_index});
  }
  out->stats.struct_size = sizeof out->stats;
  if (st == M4CXR_OK) st = m4cxr_result_get_stats(r, &out->stats);
  m4cxr_result_free(r);
  return st;
}

class Task {
 public:
  Task(std::shared_ptr<SessionCore> core, uint64_t serial) : core_(std::move(core)), serial_(serial) {}
  ~Task() {
    if (done_) return;
    try {
      cancel();
      auto lk = lock_nogil(core_->run);
      if (live()) core_->drop_task();
    } catch (...) {
    }
  }

  // The next piece as (text, turn), or None once the task has finished; the result is
  // then ready. A stop by cancel() ends the pieces like the end of the task does (a
  // libm4cxr that reports a stop before the first token as M4CXR_ERR_CANCELLED instead of
  // M4CXR_DONE gets the same treatment, its result marked cancelled).
  py::object next() {
    if (done_) return py::none();
    std::string piece;
    int turn = 0;
    std::optional<CError> err;
    std::optional<ResultData> data;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lk(core_->run);
      if (!live()) {
        err = CError{M4CXR_ERR_INVALID_HANDLE, "the task's session is closed", {}};
      } else {
        const char* p = nullptr;
        size_t n = 0;
        const m4cxr_status st = m4cxr_task_next(core_->task, &p, &n, &turn);
        if (st == M4CXR_OK)
          piece.assign(p, n);
        else if (st != M4CXR_DONE) err = CError{st, m4cxr_last_error(), {}};
        if (st != M4CXR_OK && st != M4CXR_ERR_BUSY) {  // finished: done, stopped or failed
          data.emplace();
          const m4cxr_status rst = read_result(core_->task, &*data);
          if (rst != M4CXR_OK && !err) err = CError{rst, m4cxr_last_error(), {}};
          core_->drop_task();
        }
      }
    }
    if (!err && !data) return py::make_tuple(utf8(piece.data(), piece.size()), turn);
    if (err && err->status == M4CXR_ERR_BUSY) throw *err;
    done_ = true;
    const bool cancelled = err && err->status == M4CXR_ERR_CANCELLED;
    if (err && !cancelled) {
      error_ = err;
      throw *err;
    }
    result_ = data->to_python(cancelled);
    return py::none();
  }

  // Any thread: asks the task to stop within one transformer layer.
  void cancel() {
    std::lock_guard<std::mutex> g(core_->ptrs);
    if (core_->serial == serial_ && core_->task) m4cxr_task_cancel(core_->task);
  }

  bool done() const { return done_; }

  py::object result() const {
    if (error_) throw *error_;  // the failure next() raised
    if (!done_) throw CError{M4CXR_ERR_INVALID_ARGUMENT, "the task has not finished", {}};
    return result_;
  }

 private:
  bool live() const { return core_->session && core_->task && core_->serial == serial_; }

  std::shared_ptr<SessionCore> core_;
  uint64_t serial_;
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
    else throw py::type_error("unknown generation option '" + k + "'");
  }
  return o;
}

std::vector<const char*> c_strings(const std::vector<std::string>& v) {
  std::vector<const char*> p;
  for (const auto& s : v) p.push_back(s.c_str());
  return p;
}

class Session {
 public:
  explicit Session(const Model& model) : core_(std::make_shared<SessionCore>()) {
    core_->model = model.ref();
    check(m4cxr_session_create(core_->model->handle, &core_->session));
  }
  ~Session() {
    try {
      close();
    } catch (...) {
    }
  }

  // Starts a task through `start(session, options, &task)`, called with both the GIL (it
  // only checks arguments and builds the prompt; image handles are read under the GIL, so
  // Image.close() cannot race it) and `run` held.
  template <typename F>
  std::unique_ptr<Task> start(const py::dict& kw, F&& start) {
    const m4cxr_generation_options o = generation(kw);
    auto lk = lock_nogil(core_->run);
    if (!core_->session) closed("session");
    m4cxr_task* t = nullptr;
    check(start(core_->session, &o, &t));
    std::lock_guard<std::mutex> g(core_->ptrs);
    core_->task = t;
    return std::make_unique<Task>(core_, ++core_->serial);
  }

  void reset() {
    auto lk = lock_nogil(core_->run);
    if (!core_->session) closed("session");
    check(m4cxr_session_reset(core_->session));
  }

  // Any thread: stops the running task, if any.
  void cancel() {
    std::lock_guard<std::mutex> g(core_->ptrs);
    if (core_->session) m4cxr_session_cancel(core_->session);
  }

  // Cancels and frees an unfinished task, then the session. Waits for a running step.
  void close() {
    if (!core_->session) return;
    cancel();
    auto lk = lock_nogil(core_->run);
    if (!core_->session) return;
    core_->drop_task();
    std::lock_guard<std::mutex> g(core_->ptrs);
    m4cxr_session_free(core_->session);
    core_->session = nullptr;
    core_->model.reset();
  }
  bool is_closed() const { return core_->session == nullptr; }

 private:
  std::shared_ptr<SessionCore> core_;
};

using Images = std::vector<const Image*>;
using Strings = std::vector<std::string>;

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

  py::class_<Model>(m, "Model")
      .def(py::init<const std::string&, int, const std::string&, int, std::optional<std::string>,
                    std::optional<int64_t>, py::object>(),
           py::arg("path"), py::arg("dtype"), py::arg("device"), py::arg("threads"), py::arg("adapter"),
           py::arg("max_image_pixels"), py::arg("progress"))
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
      .def("reset", &Session::reset)
      .def("cancel", &Session::cancel)
      .def("close", &Session::close)
      .def_property_readonly("closed", &Session::is_closed)
      .def("report", [](Session& s, const Images& images, const py::dict& kw) {
        return s.start(kw, [&](m4cxr_session* c, auto* o, auto** t) {
          auto h = handles(images);
          return m4cxr_report(c, h.data(), h.size(), o, t);
        });
      })
      .def("report_followup", [](Session& s, const Images& prior, const std::string& report, const Images& current,
                                 const py::dict& kw) {
        return s.start(kw, [&](m4cxr_session* x, auto* o, auto** t) {
          auto p = handles(prior), c = handles(current);
          return m4cxr_report_followup(x, p.data(), p.size(), report.c_str(), c.data(), c.size(), o, t);
        });
      })
      .def("classify", [](Session& s, const Image& im, const Strings& labels, const py::dict& kw) {
        auto l = c_strings(labels);
        return s.start(kw, [&](m4cxr_session* c, auto* o, auto** t) {
          return m4cxr_classify(c, im.get(), l.data(), l.size(), o, t);
        });
      })
      .def("ground_finding", [](Session& s, const Image& im, const std::string& finding, const py::dict& kw) {
        return s.start(kw, [&](m4cxr_session* c, auto* o, auto** t) {
          return m4cxr_ground_finding(c, im.get(), finding.c_str(), o, t);
        });
      })
      .def("ground_findings", [](Session& s, const Image& im, const Strings& findings, const py::dict& kw) {
        auto f = c_strings(findings);
        return s.start(kw, [&](m4cxr_session* c, auto* o, auto** t) {
          return m4cxr_ground_findings(c, im.get(), f.data(), f.size(), o, t);
        });
      })
      .def("detect_abnormalities", [](Session& s, const Image& im, const py::dict& kw) {
        return s.start(kw, [&](m4cxr_session* c, auto* o, auto** t) { return m4cxr_detect_abnormalities(c, im.get(), o, t); });
      })
      .def("ground_organ", [](Session& s, const Image& im, std::optional<std::string> organ, const py::dict& kw) {
        return s.start(kw, [&](m4cxr_session* c, auto* o, auto** t) {
          return m4cxr_ground_organ(c, im.get(), organ ? organ->c_str() : nullptr, o, t);
        });
      })
      .def("ground_phrase", [](Session& s, const Image& im, const std::string& phrase, const py::dict& kw) {
        return s.start(kw, [&](m4cxr_session* c, auto* o, auto** t) {
          return m4cxr_ground_phrase(c, im.get(), phrase.c_str(), o, t);
        });
      })
      .def("ground_region", [](Session& s, const Image& im, const std::string& region, const py::dict& kw) {
        return s.start(kw, [&](m4cxr_session* c, auto* o, auto** t) {
          return m4cxr_ground_region(c, im.get(), region.c_str(), o, t);
        });
      })
      .def("identify_region", [](Session& s, const Image& im, int what, const std::vector<std::array<double, 4>>& boxes,
                                 const py::dict& kw) {
        std::vector<double> flat;
        for (const auto& b : boxes) flat.insert(flat.end(), b.begin(), b.end());
        return s.start(kw, [&](m4cxr_session* c, auto* o, auto** t) {
          return m4cxr_identify_region(c, im.get(), static_cast<m4cxr_box_question>(what), flat.data(), boxes.size(), o, t);
        });
      })
      .def("vqa", [](Session& s, const Image& im, const std::string& question, const py::dict& kw) {
        return s.start(kw, [&](m4cxr_session* c, auto* o, auto** t) { return m4cxr_vqa(c, im.get(), question.c_str(), o, t); });
      })
      .def("difference_vqa", [](Session& s, const Image& reference, const Image& main, const std::string& question,
                                const py::dict& kw) {
        return s.start(kw, [&](m4cxr_session* c, auto* o, auto** t) {
          return m4cxr_difference_vqa(c, reference.get(), main.get(), question.c_str(), o, t);
        });
      })
      .def("chat", [](Session& s, const std::string& text, const Images& images, const py::dict& kw) {
        return s.start(kw, [&](m4cxr_session* c, auto* o, auto** t) {
          auto h = handles(images);
          return m4cxr_chat(c, text.c_str(), h.data(), h.size(), o, t);
        });
      });
}
