// C ABI: errors, versions, model loading, images.
#include <ATen/ATen.h>

#include <cstring>
#include <unordered_map>

#include "api_internal.h"
#include "image/image_decoder.h"
#include "image/box_geometry.h"

using namespace m4cxr;
using namespace m4cxr_capi;

namespace m4cxr_capi {

namespace {
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::unordered_map<const void*, HandleKind>& registry() {
  static std::unordered_map<const void*, HandleKind> r;
  return r;
}
thread_local std::string t_last_error;
}  // namespace

void register_handle(const void* p, HandleKind kind) {
  std::lock_guard<std::mutex> g(registry_mutex());
  registry()[p] = kind;
}
void unregister_handle(const void* p) {
  std::lock_guard<std::mutex> g(registry_mutex());
  registry().erase(p);
}
bool is_live(const void* p, HandleKind kind) {
  if (p == nullptr) return false;
  std::lock_guard<std::mutex> g(registry_mutex());
  auto it = registry().find(p);
  return it != registry().end() && it->second == kind;
}

m4cxr_status set_error(m4cxr_status status, const std::string& message) {
  t_last_error = message;
  return status;
}
void clear_error() { t_last_error.clear(); }
const char* last_error_text() { return t_last_error.c_str(); }

m4cxr_status to_status(Status s) {
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

const char* m4cxr_last_error(void) { return m4cxr_capi::last_error_text(); }

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

const char* m4cxr_version_string(void) {
#define M4CXR_STR2(x) #x
#define M4CXR_STR(x) M4CXR_STR2(x)
  return M4CXR_STR(M4CXR_VERSION_MAJOR) "." M4CXR_STR(M4CXR_VERSION_MINOR) "." M4CXR_STR(M4CXR_VERSION_PATCH);
}

void m4cxr_model_options_default(m4cxr_model_options* o) {
  if (o == nullptr) return;
  std::memset(o, 0, sizeof *o);
  o->struct_size = sizeof *o;
  o->dtype = M4CXR_DTYPE_BFLOAT16;
  o->device = "cpu";
  o->max_image_pixels = DecodeLimits{}.max_pixels;
}

m4cxr_status m4cxr_model_load(const char* model_dir, const m4cxr_model_options* options, m4cxr_model** out) {
  return guarded([&]() -> m4cxr_status {
    if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    if (model_dir == nullptr || *model_dir == '\0') return set_error(M4CXR_ERR_INVALID_ARGUMENT, "model_dir is empty");
    m4cxr_model_options o;
    m4cxr_model_options_default(&o);
    if (options != nullptr) {
      if (options->struct_size < offsetof(m4cxr_model_options, progress_user_data) + sizeof(void*) ||
          options->struct_size > sizeof o)
        return set_error(M4CXR_ERR_INVALID_ARGUMENT, "m4cxr_model_options.struct_size is wrong (call m4cxr_model_options_default)");
      o = *options;
    }
    if (o.dtype != M4CXR_DTYPE_BFLOAT16 && o.dtype != M4CXR_DTYPE_FLOAT32)
      return set_error(M4CXR_ERR_INVALID_ARGUMENT, "unknown dtype");
    if (o.threads < 0) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "threads must be >= 0");
    if (o.max_image_pixels <= 0) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "max_image_pixels must be positive");
    ModelOptions mo;
    mo.runtime.dtype = o.dtype == M4CXR_DTYPE_FLOAT32 ? at::kFloat : at::kBFloat16;
    std::string device = o.device && *o.device ? o.device : "cpu";
    try {
      mo.runtime.device = c10::Device(device);
    } catch (const std::exception&) {
      return set_error(M4CXR_ERR_INVALID_ARGUMENT, "unknown device '" + device + "'");
    }
    if (mo.runtime.device.is_cuda() && !at::hasCUDA())
      return set_error(M4CXR_ERR_UNSUPPORTED, "device '" + device + "' requested but this libtorch has no CUDA");
    mo.threads = o.threads;
    if (o.adapter_dir) mo.adapter_dir = o.adapter_dir;
    if (o.progress) {
      auto fn = o.progress;
      void* ud = o.progress_user_data;
      mo.progress = [fn, ud](double f) { return fn(f, ud) == 0; };
    }
    auto m = std::make_unique<m4cxr_model>();
    m->model = Model::load(model_dir, mo);
    m->limits.max_pixels = o.max_image_pixels;
    m->device = device;
    register_handle(m.get(), HandleKind::model);
    *out = m.release();
    return M4CXR_OK;
  });
}

void m4cxr_model_free(m4cxr_model* model) {
  if (!is_live(model, HandleKind::model)) return;
  unregister_handle(model);
  delete model;  // sessions keep the weights alive through their shared_ptr
}

m4cxr_status m4cxr_model_get_info(const m4cxr_model* model, m4cxr_model_info* info) {
  return guarded([&]() -> m4cxr_status {
    M4CXR_CHECK_HANDLE(model, HandleKind::model, "model");
    if (info == nullptr || info->struct_size != sizeof *info)
      return set_error(M4CXR_ERR_INVALID_ARGUMENT, "info is NULL or its struct_size is not sizeof(m4cxr_model_info)");
    const Model& m = *model->model;
    const auto& c = m.config();
    info->visual_tokens_per_image = m.num_visual_tokens();
    info->image_size = c.vision.image_size;
    info->vision_layers = c.vision.num_hidden_layers;
    info->vision_hidden = c.vision.hidden_size;
    info->text_layers = c.text.num_hidden_layers;
    info->text_hidden = c.text.hidden_size;
    info->vocab_size = c.text.vocab_size;
    info->dtype = m.runtime().dtype == at::kFloat ? M4CXR_DTYPE_FLOAT32 : M4CXR_DTYPE_BFLOAT16;
    info->device = model->device.c_str();
    info->weight_bytes = m.weight_bytes();
    info->lora_pairs_merged = m.load_report().lora_pairs_merged;
    return M4CXR_OK;
  });
}

}  // extern "C"

namespace {
m4cxr_status finish_image(const m4cxr_model* model, const RgbImage& rgb, m4cxr_image** out) {
  auto im = std::make_unique<m4cxr_image>();
  im->image = prepare_image(rgb, model->model->preprocess_config());
  register_handle(im.get(), HandleKind::image);
  *out = im.release();
  return M4CXR_OK;
}
}  // namespace

extern "C" {

m4cxr_status m4cxr_image_from_file(const m4cxr_model* model, const char* path, m4cxr_image** out) {
  return guarded([&]() -> m4cxr_status {
    if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    M4CXR_CHECK_HANDLE(model, HandleKind::model, "model");
    if (path == nullptr || *path == '\0') return set_error(M4CXR_ERR_INVALID_ARGUMENT, "path is empty");
    return finish_image(model, decode_image_file(path, model->limits), out);
  });
}

m4cxr_status m4cxr_image_from_memory(const m4cxr_model* model, const void* data, size_t size, m4cxr_image** out) {
  return guarded([&]() -> m4cxr_status {
    if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    M4CXR_CHECK_HANDLE(model, HandleKind::model, "model");
    if (data == nullptr || size == 0) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "image buffer is empty");
    return finish_image(model, decode_image_memory(static_cast<const uint8_t*>(data), size, model->limits), out);
  });
}

m4cxr_status m4cxr_image_from_pixels(const m4cxr_model* model, const void* data, size_t data_bytes, int width,
                                     int height, size_t stride_bytes, m4cxr_pixel_format format, m4cxr_image** out) {
  return guarded([&]() -> m4cxr_status {
    if (out == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = nullptr;
    M4CXR_CHECK_HANDLE(model, HandleKind::model, "model");
    if (data == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "pixel buffer is NULL");
    PixelFormat f;
    switch (format) {
      case M4CXR_PIXELS_GRAY8: f = PixelFormat::gray8; break;
      case M4CXR_PIXELS_GRAY16: f = PixelFormat::gray16; break;
      case M4CXR_PIXELS_RGB8: f = PixelFormat::rgb8; break;
      case M4CXR_PIXELS_RGB16: f = PixelFormat::rgb16; break;
      default: return set_error(M4CXR_ERR_INVALID_ARGUMENT, "unknown pixel format");
    }
    return finish_image(model, image_from_pixels(data, data_bytes, width, height, stride_bytes, f, model->limits), out);
  });
}

void m4cxr_image_free(m4cxr_image* image) {
  if (!is_live(image, HandleKind::image)) return;
  unregister_handle(image);
  delete image;
}

m4cxr_status m4cxr_image_get_size(const m4cxr_image* image, int* width, int* height) {
  return guarded([&]() -> m4cxr_status {
    M4CXR_CHECK_HANDLE(image, HandleKind::image, "image");
    if (width == nullptr || height == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "width/height is NULL");
    *width = image->image->width;
    *height = image->image->height;
    return M4CXR_OK;
  });
}

const char* m4cxr_image_hash(const m4cxr_image* image) {
  if (!is_live(image, HandleKind::image)) {
    set_error(M4CXR_ERR_INVALID_HANDLE, "image is NULL, freed or not an image handle");
    return nullptr;
  }
  return image->image->hash.c_str();
}

m4cxr_status m4cxr_image_pixels_to_model(const m4cxr_image* image, const double* pixels, int* model) {
  return guarded([&]() -> m4cxr_status {
    M4CXR_CHECK_HANDLE(image, HandleKind::image, "image");
    if (pixels == nullptr || model == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "NULL box");
    ModelBox b = normalize_box(PixelBox{pixels[0], pixels[1], pixels[2], pixels[3]}, image->image->width,
                               image->image->height);
    model[0] = b.x1, model[1] = b.y1, model[2] = b.x2, model[3] = b.y2;
    return M4CXR_OK;
  });
}

m4cxr_status m4cxr_image_model_to_pixels(const m4cxr_image* image, const int* model, double* pixels) {
  return guarded([&]() -> m4cxr_status {
    M4CXR_CHECK_HANDLE(image, HandleKind::image, "image");
    if (pixels == nullptr || model == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "NULL box");
    PixelBox p = model_box_to_pixels(ModelBox{model[0], model[1], model[2], model[3]}, image->image->width,
                                     image->image->height);
    pixels[0] = p.x1, pixels[1] = p.y1, pixels[2] = p.x2, pixels[3] = p.y2;
    return M4CXR_OK;
  });
}

}  // extern "C"
