// PNG/BMP back end (stb_image). The stb implementation is compiled into libstb;
// only its declarations are included here.
#include <stb_image.h>

#include <climits>
#include <cstring>
#include <memory>
#include <string>

#include "common/error.h"
#include "image/codec_backends.h"
#include "image/raw_pixels.h"

namespace m4cxr::detail {

namespace {

struct StbFree {
  void operator()(void* p) const { stbi_image_free(p); }
};

uint32_t read_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

std::string stb_reason() {
  const char* r = stbi_failure_reason();
  return r != nullptr ? r : "unknown error";
}

// stb's own reasons are terse keys ("too large", "outofmem", "bad IHDR len"...).
[[noreturn]] void fail_from_stb(const char* format_name, const char* stage) {
  const std::string reason = stb_reason();
  const std::string msg = std::string("cannot ") + stage + " " + format_name + ": " + reason;
  if (reason == "outofmem") fail(Status::out_of_memory, msg);
  if (reason == "too large") fail(Status::limit_exceeded, msg + " (decoder size limit)");
  fail(Status::format_error, msg + " (corrupt or truncated file?)");
}

// PNG stores its size in the IHDR chunk, which must come first. Reading it here
// lets oversized claims fail with limit_exceeded before stb sees the data (stb
// would reject some of them itself, but only with a generic "too large").
void check_png_header(const uint8_t* data, size_t size, const DecodeLimits& limits) {
  if (size < 24 || std::memcmp(data + 12, "IHDR", 4) != 0) {
    fail(Status::format_error, "truncated or invalid PNG: missing IHDR chunk");
  }
  const uint32_t w = read_be32(data + 16);
  const uint32_t h = read_be32(data + 20);
  if (w == 0 || h == 0 || w > 0x7fffffffu || h > 0x7fffffffu) {
    fail(Status::format_error, "invalid PNG size " + std::to_string(w) + "x" + std::to_string(h));
  }
  check_image_dimensions(w, h, limits, "PNG");
}

}  // namespace

RgbImage decode_with_stb(const uint8_t* data, size_t size, const char* format_name,
                         const DecodeLimits& limits) {
  if (size > size_t(INT_MAX)) {
    fail(Status::limit_exceeded, std::string(format_name) + " data of " + std::to_string(size) +
                                     " bytes is too large for the decoder");
  }
  const bool is_png = std::strcmp(format_name, "PNG") == 0;
  if (is_png) check_png_header(data, size, limits);

  // Another component of the process may have set stb's global flip flag.
  stbi_set_flip_vertically_on_load_thread(0);

  const int len = static_cast<int>(size);
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &comp)) fail_from_stb(format_name, "read header of");
  check_image_dimensions(w, h, limits, format_name);

  RgbImage out;
  out.width = w;
  out.height = h;
  const size_t n = size_t(w) * size_t(h) * 3;
  int dw = 0, dh = 0;
  if (is_png && stbi_is_16_bit_from_memory(data, len)) {
    std::unique_ptr<stbi_us, StbFree> px(stbi_load_16_from_memory(data, len, &dw, &dh, &comp, 3));
    if (!px) fail_from_stb(format_name, "decode");
    if (dw != w || dh != h) fail(Status::internal, "stb_image returned an unexpected PNG size");
    out.source_depth = SourceDepth::bits16;
    out.pixels.resize(n);
    for (size_t i = 0; i < n; ++i) out.pixels[i] = sample16_to_8(px.get()[i]);
  } else {
    std::unique_ptr<stbi_uc, StbFree> px(stbi_load_from_memory(data, len, &dw, &dh, &comp, 3));
    if (!px) fail_from_stb(format_name, "decode");
    if (dw != w || dh != h) fail(Status::internal, "stb_image returned an unexpected image size");
    out.pixels.assign(px.get(), px.get() + n);
  }
  return out;
}

}  // namespace m4cxr::detail
