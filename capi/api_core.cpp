// C ABI: errors, versions, the handle registry, model loading, images.
#include <ATen/ATen.h>

#include <cstring>
#include <deque>
#include <mutex>

#include "api_internal.h"
#include "common/log.h"
#include "image/box_geometry.h"
#include "image/image_decoder.h"
#include "model/device.h"

using namespace m4cxr;
using namespace m4cxr_capi;

static_assert(sizeof(uintptr_t) == 8, "handles encode a 32-bit generation and a 32-bit slot");
static_assert(static_cast<int>(LogLevel::debug) == M4CXR_LOG_DEBUG && static_cast<int>(LogLevel::info) == M4CXR_LOG_INFO &&
                  static_cast<int>(LogLevel::warn) == M4CXR_LOG_WARN && static_cast<int>(LogLevel::error) == M4CXR_LOG_ERROR,
              "m4cxr_log_level mirrors m4cxr::LogLevel");

namespace m4cxr_capi {

namespace {

struct Slot {
  std::shared_ptr<void> object;
  HandleKind kind{};
  uint32_t generation = 1;
};

struct Registry {
  std::mutex mutex;
  std::deque<Slot> slots;       // deque: growing never moves existing slots
  std::deque<uint32_t> free;    // reused oldest-freed first, so generations wrap slowly
  size_t live = 0;
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: handles may be freed during exit
  return *r;
}

thread_local std::string t_last_error;

bool decode(uintptr_t h, uint32_t* slot, uint32_t* generation) {
  const uint64_t v = h;
  if ((v & 0xffffffffu) == 0) return false;
  *slot = static_cast<uint32_t>(v & 0xffffffffu) - 1;
  *generation = static_cast<uint32_t>(v >> 32);
  return true;
}

}  // namespace

uintptr_t register_object(std::shared_ptr<void> object, HandleKind kind) {
  Registry& r = registry();
  std::lock_guard<std::mutex> g(r.mutex);
  uint32_t index;
  if (!r.free.empty()) {
    index = r.free.front();
    r.free.pop_front();
  } else {
    if (r.slots.size() >= 0xfffffffeu) fail(Status::limit_exceeded, "too many live handles");
    index = static_cast<uint32_t>(r.slots.size());
    r.slots.emplace_back();
  }
  Slot& s = r.slots[index];
  s.object = std::move(object);
  s.kind = kind;
  ++r.live;
  return (static_cast<uint64_t>(s.generation) << 32) | (static_cast<uint64_t>(index) + 1);
}

std::shared_ptr<void> lookup(uintptr_t handle, HandleKind kind) noexcept {
  uint32_t index, generation;
  if (!decode(handle, &index, &generation)) return nullptr;
  Registry& r = registry();
  std::lock_guard<std::mutex> g(r.mutex);
  if (index >= r.slots.size()) return nullptr;
  const Slot& s = r.slots[index];
  if (!s.object || s.generation != generation || s.kind != kind) return nullptr;
  return s.object;
}

std::shared_ptr<void> unregister(uintptr_t handle, HandleKind kind) noexcept {
  uint32_t index, generation;
  if (!decode(handle, &index, &generation)) return nullptr;
  Registry& r = registry();
  std::shared_ptr<void> out;
  try {
    std::lock_guard<std::mutex> g(r.mutex);
    if (index >= r.slots.size()) return nullptr;
    Slot& s = r.slots[index];
    if (!s.object || s.generation != generation || s.kind != kind) return nullptr;
    out = std::move(s.object);
    s.object.reset();
    if (++s.generation == 0) s.generation = 1;
    r.free.push_back(index);
    --r.live;
  } catch (...) {  // push_back out of memory: the slot simply is not reused
  }
  return out;  // destroyed by the caller, outside the lock
}

size_t live_handles() noexcept {
  Registry& r = registry();
  std::lock_guard<std::mutex> g(r.mutex);
  return r.live;
}

void invalid_handle(const char* what) {
  throw HandleError(std::string(what) + " is NULL, freed or not a " + what + " handle");
}

m4cxr_status set_error(m4cxr_status status, const std::string& message) noexcept {
  try {
    t_last_error = message;
  } catch (...) {
    t_last_error.clear();
  }
  // The same text, to the log callback (m4cxr.h, "logging"): BUSY and CANCELLED are
  // normal outcomes of concurrent use and of requests to stop.
  const bool expected = status == M4CXR_ERR_BUSY || status == M4CXR_ERR_CANCELLED;
  m4cxr::log(expected ? LogLevel::warn : LogLevel::error, t_last_error);
  return status;
}
void clear_error() noexcept { t_last_error.clear(); }

m4cxr_status to_status(Status s) noexcept {
  switch (s) {
    case Status::ok: return M4CXR_OK;
    case Status::invalid_argument: return M4CXR_ERR_INVALID_ARGUMENT;
    case Status::io_error: return M4CXR_ERR_IO;
    case Status::format_error: return M4CXR_ERR_FORMAT;
    case Status::unsupported: return M4CXR_ERR_UNSUPPORTED;
    case Status::limit_exceeded: return M4CXR_ERR_LIMIT;
    case Status::out_of_memory: return M4CXR_ERR_OUT_OF_MEMORY;
    case Status::cancelled: return M4CXR_ERR_CANCELLED;
    case Status::busy: return M4CXR_ERR_BUSY;
    case Status::model_error: return M4CXR_ERR_MODEL;
    case Status::internal: return M4CXR_ERR_INTERNAL;
  }
  return M4CXR_ERR_INTERNAL;
}

}  // namespace m4cxr_capi

extern "C" {

const char* m4cxr_last_error(void) { return t_last_error.c_str(); }

const char* m4cxr_status_string(m4cxr_status s) {
  switch (s) {
    case M4CXR_OK: return "ok";
    case M4CXR_ERR_INVALID_ARGUMENT: return "invalid argument";
    case M4CXR_ERR_IO: return "i/o error";
    case M4CXR_ERR_FORMAT: return "format error";
    case M4CXR_ERR_UNSUPPORTED: return "unsupported";
    case M4CXR_ERR_LIMIT: return "limit exceeded";
    case M4CXR_ERR_OUT_OF_MEMORY: return "out of memory";
    case M4CXR_ERR_CANCELLED: return "cancelled";
    case M4CXR_ERR_BUSY: return "busy";
    case M4CXR_ERR_MODEL: return "model error";
    case M4CXR_ERR_INTERNAL: return "internal error";
    case M4CXR_ERR_INVALID_HANDLE: return "invalid handle";
    case M4CXR_DONE: return "done";
  }
  return "unknown status";
}

int m4cxr_abi_version(void) { return M4CXR_ABI_VERSION; }

m4cxr_status m4cxr_set_log_callback(m4cxr_log_fn fn, void* user_data, m4cxr_log_level min_level_in) {
  return guarded([&]() -> m4cxr_status {
    int min_level = enum_value(min_level_in);
    LogSink sink;
    if (fn != nullptr) {
      sink = [fn, user_data](LogLevel level, const char* message) {
        fn(user_data, static_cast<m4cxr_log_level>(level), message);
      };
    } else {
      min_level = M4CXR_LOG_DEBUG;  // ignored when turning logging off
    }
    set_log_sink(std::move(sink), static_cast<LogLevel>(min_level));
    return M4CXR_OK;
  });
}

const char* m4cxr_version_string(void) {
#define M4CXR_STR2(x) #x
#define M4CXR_STR(x) M4CXR_STR2(x)
  return M4CXR_STR(M4CXR_VERSION_MAJOR) "." M4CXR_STR(M4CXR_VERSION_MINOR) "." M4CXR_STR(M4CXR_VERSION_PATCH);
}

m4cxr_status m4cxr_model_options_init(m4cxr_model_options* o, size_t struct_size) {
  return guarded([&]() -> m4cxr_status {
    m4cxr_model_options d;
    std::memset(static_cast<void*>(&d), 0, sizeof d);
    d.dtype = M4CXR_DTYPE_BFLOAT16;
    d.device = "cpu";
    d.max_image_pixels = DecodeLimits{}.max_pixels;
    d.max_cached_images = 8;
    return init_struct(o, struct_size, kModelOptionsV1Size, d);
  });
}

// For programs built against 0.1, whose struct ends before max_cached_images.
#undef m4cxr_model_options_default
M4CXR_API void m4cxr_model_options_default(m4cxr_model_options* o) { m4cxr_model_options_init(o, kModelOptionsV1Size); }

m4cxr_status m4cxr_model_load(const char* model_dir, const m4cxr_model_options* options, m4cxr_model** out) {
  return guarded([&]() -> m4cxr_status {
    if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    if (model_dir == nullptr || *model_dir == '\0') return set_error(M4CXR_ERR_INVALID_ARGUMENT, "model_dir is empty");
    m4cxr_model_options o;
    m4cxr_model_options_init(&o, sizeof o);
    if (options != nullptr) read_struct(options, kModelOptionsV1Size, &o, "m4cxr_model_options");
    const int dtype = enum_value(o.dtype);
    if (dtype != M4CXR_DTYPE_BFLOAT16 && dtype != M4CXR_DTYPE_FLOAT32 && dtype != M4CXR_DTYPE_INT8)
      return set_error(M4CXR_ERR_INVALID_ARGUMENT, "unknown dtype " + std::to_string(dtype));
    if (o.threads < 0) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "threads must be >= 0");
    if (o.max_image_pixels <= 0) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "max_image_pixels must be positive");
    if (o.max_cached_images < 0 || o.max_cached_images > 1024)
      return set_error(M4CXR_ERR_INVALID_ARGUMENT, "max_cached_images must be in [0, 1024]");
    ModelOptions mo;
    mo.runtime.dtype = dtype == M4CXR_DTYPE_FLOAT32 ? at::kFloat : at::kBFloat16;
    mo.runtime.int8_weights = dtype == M4CXR_DTYPE_INT8;
    const std::string device = o.device && *o.device ? o.device : "cpu";
    mo.runtime.device = parse_device(device);  // INVALID_ARGUMENT for any other spelling
    check_device_available(mo.runtime.device, device);  // UNSUPPORTED without CUDA, INVALID_ARGUMENT past the last GPU
    mo.threads = o.threads;
    if (o.adapter_dir) mo.adapter_dir = o.adapter_dir;
    if (o.progress) {
      auto fn = o.progress;
      void* ud = o.progress_user_data;
      mo.progress = [fn, ud](double f) { return fn(f, ud) == 0; };
    }
    auto m = std::make_shared<ModelObject>();
    m->model = Model::load(model_dir, mo);
    m->limits.max_pixels = o.max_image_pixels;
    m->device = mo.runtime.device.str();  // "cpu" or "cuda:N": "cuda" names cuda:0
    m->max_cached_images = o.max_cached_images;
    *out = new_handle<m4cxr_model>(std::move(m));
    return M4CXR_OK;
  });
}

void m4cxr_model_free(m4cxr_model* model) {
  try {
    unregister(handle_value<ModelObject>(model), HandleKind::model);  // sessions keep the weights alive
  } catch (...) {
  }
}

m4cxr_status m4cxr_model_get_info(const m4cxr_model* model, m4cxr_model_info* info) {
  return guarded([&]() -> m4cxr_status {
    auto mo = require<ModelObject>(model);
    if (info == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "info is NULL");
    const Model& m = *mo->model;
    const auto& c = m.config();
    m4cxr_model_info i{};
    i.struct_size = sizeof i;
    i.visual_tokens_per_image = m.num_visual_tokens();
    i.image_size = c.vision.image_size;
    i.vision_layers = c.vision.num_hidden_layers;
    i.vision_hidden = c.vision.hidden_size;
    i.text_layers = c.text.num_hidden_layers;
    i.text_hidden = c.text.hidden_size;
    i.vocab_size = c.text.vocab_size;
    i.dtype = m.runtime().int8_weights ? M4CXR_DTYPE_INT8
              : m.runtime().dtype == at::kFloat ? M4CXR_DTYPE_FLOAT32
                                                : M4CXR_DTYPE_BFLOAT16;
    i.device = mo->device.c_str();  // owned by the model object, which outlives the handle's callers
    i.weight_bytes = m.weight_bytes();
    i.lora_pairs_merged = m.load_report().lora_pairs_merged;
    write_struct(info, i, sizeof(m4cxr_model_info), "m4cxr_model_info");
    return M4CXR_OK;
  });
}

}  // extern "C"

namespace {
m4cxr_status finish_image(const ModelObject& model, const RgbImage& rgb, m4cxr_image** out) {
  auto im = std::make_shared<ImageObject>();
  im->image = prepare_image(rgb, model.model->preprocess_config());
  *out = new_handle<m4cxr_image>(std::move(im));
  return M4CXR_OK;
}
}  // namespace

extern "C" {

m4cxr_status m4cxr_image_from_file(const m4cxr_model* model, const char* path, m4cxr_image** out) {
  return guarded([&]() -> m4cxr_status {
    if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    auto m = require<ModelObject>(model);
    if (path == nullptr || *path == '\0') return set_error(M4CXR_ERR_INVALID_ARGUMENT, "path is empty");
    return finish_image(*m, decode_image_file(path, m->limits), out);
  });
}

m4cxr_status m4cxr_image_from_memory(const m4cxr_model* model, const void* data, size_t size, m4cxr_image** out) {
  return guarded([&]() -> m4cxr_status {
    if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    auto m = require<ModelObject>(model);
    if (data == nullptr || size == 0) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "image buffer is empty");
    return finish_image(*m, decode_image_memory(static_cast<const uint8_t*>(data), size, m->limits), out);
  });
}

m4cxr_status m4cxr_image_from_pixels(const m4cxr_model* model, const void* data, size_t data_bytes, int width,
                                     int height, size_t stride_bytes, m4cxr_pixel_format format, m4cxr_image** out) {
  return guarded([&]() -> m4cxr_status {
    if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    auto m = require<ModelObject>(model);
    if (data == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "pixel buffer is NULL");
    PixelFormat f;
    switch (enum_value(format)) {
      case M4CXR_PIXELS_GRAY8: f = PixelFormat::gray8; break;
      case M4CXR_PIXELS_GRAY16: f = PixelFormat::gray16; break;
      case M4CXR_PIXELS_RGB8: f = PixelFormat::rgb8; break;
      case M4CXR_PIXELS_RGB16: f = PixelFormat::rgb16; break;
      default: return set_error(M4CXR_ERR_INVALID_ARGUMENT, "unknown pixel format");
    }
    return finish_image(*m, image_from_pixels(data, data_bytes, width, height, stride_bytes, f, m->limits), out);
  });
}

void m4cxr_image_free(m4cxr_image* image) {
  try {
    unregister(handle_value<ImageObject>(image), HandleKind::image);  // tasks keep the pixels they use
  } catch (...) {
  }
}

m4cxr_status m4cxr_image_get_size(const m4cxr_image* image, int* width, int* height) {
  return guarded([&]() -> m4cxr_status {
    auto im = require<ImageObject>(image);
    if (width == nullptr || height == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "width/height is NULL");
    *width = im->image->width;
    *height = im->image->height;
    return M4CXR_OK;
  });
}

const char* m4cxr_image_hash(const m4cxr_image* image) {
  return guarded_value<const char*>(nullptr, [&] { return require<ImageObject>(image)->image->hash.c_str(); });
}

m4cxr_status m4cxr_image_pixels_to_model(const m4cxr_image* image, const double* pixels, int* model) {
  return guarded([&]() -> m4cxr_status {
    auto im = require<ImageObject>(image);
    if (pixels == nullptr || model == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "NULL box");
    ModelBox b = normalize_box(PixelBox{pixels[0], pixels[1], pixels[2], pixels[3]}, im->image->width,
                               im->image->height);
    model[0] = b.x1, model[1] = b.y1, model[2] = b.x2, model[3] = b.y2;
    return M4CXR_OK;
  });
}

m4cxr_status m4cxr_image_model_to_pixels(const m4cxr_image* image, const int* model, double* pixels) {
  return guarded([&]() -> m4cxr_status {
    auto im = require<ImageObject>(image);
    if (pixels == nullptr || model == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "NULL box");
    PixelBox p = model_box_to_pixels(ModelBox{model[0], model[1], model[2], model[3]}, im->image->width,
                                     im->image->height);
    pixels[0] = p.x1, pixels[1] = p.y1, pixels[2] = p.x2, pixels[3] = p.y2;
    return M4CXR_OK;
  });
}

}  // extern "C"
