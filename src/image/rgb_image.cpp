#include "image/rgb_image.h"

#include <string>

#include "common/error.h"

namespace m4cxr {

void validate_rgb_image(const RgbImage& image, const char* what) {
  if (image.width <= 0 || image.height <= 0) {
    fail(Status::invalid_argument, std::string(what) + ": image has non-positive size " +
                                       std::to_string(image.width) + "x" +
                                       std::to_string(image.height));
  }
  // Both sides fit in int, so the product fits in uint64 without overflow.
  const uint64_t expected = uint64_t(image.width) * uint64_t(image.height) * 3u;
  if (image.pixels.size() != expected) {
    fail(Status::invalid_argument,
         std::string(what) + ": pixel buffer holds " + std::to_string(image.pixels.size()) +
             " bytes, expected " + std::to_string(expected) + " for a " +
             std::to_string(image.width) + "x" + std::to_string(image.height) + " RGB image");
  }
}

}  // namespace m4cxr
