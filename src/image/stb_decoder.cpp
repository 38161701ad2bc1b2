// PNG/BMP back end: stb_image, compiled into this file from Debian's libstb-dev header
// rather than linked from libstb.so, so that
//   * only the PNG and BMP readers exist in the library (less code facing hostile files);
//   * its symbols are static (no clash with a caller's own copy of stb in libm4cxr.a);
//   * sanitizer and fuzzing builds instrument it like the rest of the decoder.
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#include <stb_image.h>

#include <cstdlib>
#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

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
  check_image_dimensions(w, h, limits, "PNG", DimensionSource::file_header);
}

// Walks the PNG's chunks before stb sees them:
//  * every chunk must fit in the file: stb allocates what a chunk's length field claims
//    before reading it (a 73-byte file claiming a 2 GB IDAT made it allocate 2 GB), so a
//    chunk that runs past the end is refused here as a truncated file;
//  * IDAT chunks of length 0 are legal, but stb reads an empty *first* IDAT through a null
//    pointer (undefined behaviour): when there are any, the file is decoded from a copy
//    without them (they carry no data and stb does not check CRCs).
// Returns that copy, or an empty vector when the file can be decoded as it is.
std::vector<uint8_t> checked_png_chunks(const uint8_t* data, size_t size) {
  std::vector<uint8_t> out;
  size_t pos = 8, copied = 0;
  while (pos < size) {
    if (size - pos < 12) fail(Status::format_error, "truncated PNG: incomplete chunk at offset " + std::to_string(pos));
    const uint32_t len = read_be32(data + pos);
    const std::string type(reinterpret_cast<const char*>(data + pos + 4), 4);
    if (len > size - pos - 12)
      fail(Status::format_error, "truncated PNG: chunk at offset " + std::to_string(pos) + " claims " +
                                     std::to_string(len) + " bytes, " + std::to_string(size - pos - 12) + " remain");
    const size_t next = pos + 12 + len;
    if (len == 0 && type == "IDAT") {
      out.insert(out.end(), data + copied, data + pos);
      copied = next;
    }
    pos = next;
    if (type == "IEND") break;
  }
  if (copied == 0) return {};
  out.insert(out.end(), data + copied, data + size);
  return out;
}

// BMP stores a signed height: negative means rows top-down. stb_image's info call reports
// it as it is, its loader returns the image upright with the positive height.
int bmp_height(int h) { return h < 0 && h != INT_MIN ? -h : h; }

}  // namespace

RgbImage decode_with_stb(const uint8_t* data, size_t size, const char* format_name,
                         const DecodeLimits& limits) {
  if (size > size_t(INT_MAX)) {
    fail(Status::limit_exceeded, std::string(format_name) + " data of " + std::to_string(size) +
                                     " bytes is too large for the decoder");
  }
  const bool is_png = std::strcmp(format_name, "PNG") == 0;
  std::vector<uint8_t> rewritten;
  if (is_png) {
    check_png_header(data, size, limits);
    rewritten = checked_png_chunks(data, size);
    if (!rewritten.empty()) {
      data = rewritten.data();
      size = rewritten.size();
    }
  }

  const int len = static_cast<int>(size);
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &comp)) fail_from_stb(format_name, "read header of");
  if (!is_png) h = bmp_height(h);
  check_image_dimensions(w, h, limits, format_name, DimensionSource::file_header);

  RgbImage out;
  out.width = w;
  out.height = h;
  const size_t n = size_t(w) * size_t(h) * 3;
  int dw = 0, dh = 0;
  if (is_png && stbi_is_16_bit_from_memory(data, len)) {
    std::unique_ptr<stbi_us, StbFree> px(stbi_load_16_from_memory(data, len, &dw, &dh, &comp, 3));
    if (!px) fail_from_stb(format_name, "decode");
    if (dw != w || dh != h) fail(Status::format_error, "PNG: the decoded size differs from the header's");
    out.source_depth = SourceDepth::bits16;
    out.pixels.resize(n);
    for (size_t i = 0; i < n; ++i) out.pixels[i] = sample16_to_8(px.get()[i]);
  } else {
    std::unique_ptr<stbi_uc, StbFree> px(stbi_load_from_memory(data, len, &dw, &dh, &comp, 3));
    if (!px) fail_from_stb(format_name, "decode");
    if (dw != w || dh != h)
      fail(Status::format_error, std::string(format_name) + ": the decoded size differs from the header's");
    out.pixels.assign(px.get(), px.get() + n);
  }
  return out;
}

}  // namespace m4cxr::detail
