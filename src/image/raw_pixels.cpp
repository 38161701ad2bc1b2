#include "image/raw_pixels.h"

#include <cstring>
#include <limits>
#include <string>

#include "common/error.h"

namespace m4cxr {

namespace {

int channels_of(PixelFormat f) {
  return (f == PixelFormat::rgb8 || f == PixelFormat::rgb16) ? 3 : 1;
}

bool is_16_bit(PixelFormat f) { return f == PixelFormat::gray16 || f == PixelFormat::rgb16; }

// Reads a native-endian uint16 from a possibly unaligned address.
uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

RgbImage image_from_pixels(const void* data, size_t data_bytes, int width, int height,
                           size_t stride_bytes, PixelFormat format,
                           const DecodeLimits& limits) {
  const char* what = "image_from_pixels";
  if (width <= 0 || height <= 0) {
    fail(Status::invalid_argument, std::string(what) + ": invalid image size " +
                                       std::to_string(width) + "x" + std::to_string(height));
  }
  if (data == nullptr) fail(Status::invalid_argument, std::string(what) + ": null pixel buffer");
  if (format != PixelFormat::gray8 && format != PixelFormat::gray16 &&
      format != PixelFormat::rgb8 && format != PixelFormat::rgb16) {
    fail(Status::invalid_argument, std::string(what) + ": unknown pixel format " +
                                       std::to_string(static_cast<int>(format)));
  }
  check_image_dimensions(width, height, limits, what, DimensionSource::caller_argument);

  const int channels = channels_of(format);
  const size_t sample_bytes = is_16_bit(format) ? 2 : 1;
  // width <= max_side (int) and channels*sample_bytes <= 6: no overflow in size_t.
  const size_t row_bytes = size_t(width) * size_t(channels) * sample_bytes;
  if (stride_bytes < row_bytes) {
    fail(Status::invalid_argument, std::string(what) + ": stride " +
                                       std::to_string(stride_bytes) +
                                       " bytes is smaller than one row (" +
                                       std::to_string(row_bytes) + " bytes)");
  }
  const size_t rows_before_last = size_t(height) - 1;
  if (rows_before_last != 0 &&
      stride_bytes > (std::numeric_limits<size_t>::max() - row_bytes) / rows_before_last) {
    fail(Status::invalid_argument, std::string(what) + ": stride " +
                                       std::to_string(stride_bytes) + " overflows the buffer size");
  }
  const size_t needed = stride_bytes * rows_before_last + row_bytes;
  if (data_bytes < needed) {
    fail(Status::invalid_argument, std::string(what) + ": buffer holds " +
                                       std::to_string(data_bytes) + " bytes, " +
                                       std::to_string(needed) + " needed for " +
                                       std::to_string(width) + "x" + std::to_string(height) +
                                       " pixels with stride " + std::to_string(stride_bytes));
  }

  RgbImage out;
  out.width = width;
  out.height = height;
  out.source_depth = is_16_bit(format) ? SourceDepth::bits16 : SourceDepth::bits8;
  out.pixels.resize(size_t(width) * size_t(height) * 3);

  const uint8_t* src = static_cast<const uint8_t*>(data);
  uint8_t* dst = out.pixels.data();
  for (int y = 0; y < height; ++y) {
    const uint8_t* row = src + size_t(y) * stride_bytes;
    uint8_t* o = dst + size_t(y) * size_t(width) * 3;
    switch (format) {
      case PixelFormat::rgb8:
        std::memcpy(o, row, row_bytes);
        break;
      case PixelFormat::gray8:
        for (int x = 0; x < width; ++x) o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = row[x];
        break;
      case PixelFormat::rgb16:
        for (size_t i = 0; i < size_t(width) * 3; ++i) o[i] = sample16_to_8(load_u16(row + 2 * i));
        break;
      case PixelFormat::gray16:
        for (int x = 0; x < width; ++x) {
          o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = sample16_to_8(load_u16(row + 2 * size_t(x)));
        }
        break;
    }
  }
  return out;
}

}  // namespace m4cxr
