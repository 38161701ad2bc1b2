#include "image/decode_limits.h"

#include <string>

#include "common/error.h"

namespace m4cxr {

void check_image_dimensions(int64_t width, int64_t height, const DecodeLimits& limits,
                            const char* what, DimensionSource source) {
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  if (width < 1 || height < 1) {
    fail(source == DimensionSource::file_header ? Status::format_error : Status::invalid_argument,
         std::string(what) + ": invalid image size " + size);
  }
  if (width > limits.max_side || height > limits.max_side) {
    fail(Status::limit_exceeded, std::string(what) + ": image size " + size +
                                     " exceeds the maximum side of " +
                                     std::to_string(limits.max_side) + " pixels");
  }
  // Each side is now <= INT_MAX, so the product cannot overflow int64.
  if (width * height > limits.max_pixels) {
    fail(Status::limit_exceeded, std::string(what) + ": image size " + size + " (" +
                                     std::to_string(width * height) +
                                     " pixels) exceeds the limit of " +
                                     std::to_string(limits.max_pixels) + " pixels");
  }
}

}  // namespace m4cxr
