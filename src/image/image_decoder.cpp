#include "image/image_decoder.h"

#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "common/error.h"
#include "image/codec_backends.h"
#include "io/mapped_file.h"

namespace m4cxr {

namespace {

enum class Container { png, jpeg, bmp, unsupported, unknown };

struct Sniffed {
  Container container;
  const char* name;
};

bool starts_with(const uint8_t* data, size_t size, const char* magic, size_t n) {
  return size >= n && std::memcmp(data, magic, n) == 0;
}

// Identifies the container from its signature; the decoders never guess.
Sniffed sniff(const uint8_t* d, size_t n) {
  if (starts_with(d, n, "\x89PNG\r\n\x1a\n", 8)) return {Container::png, "PNG"};
  if (starts_with(d, n, "\xff\xd8\xff", 3)) return {Container::jpeg, "JPEG"};
  if (starts_with(d, n, "BM", 2)) return {Container::bmp, "BMP"};
  if (starts_with(d, n, "GIF87a", 6) || starts_with(d, n, "GIF89a", 6)) {
    return {Container::unsupported, "GIF"};
  }
  if (starts_with(d, n, "II*\0", 4) || starts_with(d, n, "MM\0*", 4)) {
    return {Container::unsupported, "TIFF"};
  }
  if (n >= 12 && starts_with(d, n, "RIFF", 4) && std::memcmp(d + 8, "WEBP", 4) == 0) {
    return {Container::unsupported, "WebP"};
  }
  if (starts_with(d, n, "\0\0\0\x0cjP  \r\n\x87\n", 12) || starts_with(d, n, "\xff\x4f\xff\x51", 4)) {
    return {Container::unsupported, "JPEG 2000"};
  }
  if (n >= 132 && std::memcmp(d + 128, "DICM", 4) == 0) return {Container::unsupported, "DICOM"};
  return {Container::unknown, nullptr};
}

std::string hex_prefix(const uint8_t* d, size_t n) {
  std::string out;
  char buf[4];
  for (size_t i = 0; i < n && i < 8; ++i) {
    std::snprintf(buf, sizeof buf, i ? " %02x" : "%02x", d[i]);
    out += buf;
  }
  return out;
}

}  // namespace

RgbImage decode_image_memory(const uint8_t* data, size_t size, const DecodeLimits& limits) {
  if (size == 0) fail(Status::format_error, "image data is empty");
  if (data == nullptr) fail(Status::invalid_argument, "image data pointer is null");
  if (size > limits.max_file_bytes) {
    fail(Status::limit_exceeded, "image data is " + std::to_string(size) +
                                     " bytes, more than the limit of " +
                                     std::to_string(limits.max_file_bytes));
  }
  const Sniffed s = sniff(data, size);
  if (s.container == Container::unsupported) {
    fail(Status::unsupported,
         std::string(s.name) + " images are not supported (use PNG, JPEG or BMP)");
  }
  if (s.container == Container::unknown) {
    fail(Status::format_error, "unrecognised image format (first bytes: " +
                                   hex_prefix(data, size) + "); expected PNG, JPEG or BMP");
  }
  try {
    if (s.container == Container::jpeg) return detail::decode_jpeg_turbo(data, size, limits);
    return detail::decode_with_stb(data, size, s.name, limits);
  } catch (const std::bad_alloc&) {
    fail(Status::out_of_memory, std::string("out of memory while decoding a ") + s.name + " image");
  }
}

RgbImage decode_image_file(const std::string& path, const DecodeLimits& limits) {
  const std::vector<uint8_t> bytes = read_file_bytes(path, limits.max_file_bytes);
  try {
    return decode_image_memory(bytes.data(), bytes.size(), limits);
  } catch (const Error& e) {
    throw Error(e.status(), "'" + path + "': " + e.what());
  }
}

}  // namespace m4cxr
