// Fuzz target: every way an image enters the engine. First input byte:
//   0..2  the rest is an image file (PNG, JPEG, BMP, or anything else) -> decode_image_memory;
//   3     the next bytes give width, height, stride and pixel format, the rest is the
//         caller's raw buffer -> image_from_pixels.
// An accepted image then goes through the preprocessing (resize, centre crop, normalise)
// at a small size. Invariants: sizes within the limits, pixel buffers of exactly
// width * height * 3 bytes, preprocessed tensors of the configured size and finite.
#include <cmath>

#include "fuzz_support.h"
#include "image/image_decoder.h"
#include "image/preprocess.h"
#include "image/raw_pixels.h"

using namespace m4cxr;

namespace {

// Small limits keep each run fast; the checks are the same as with the default ones.
DecodeLimits fuzz_limits() {
  DecodeLimits l;
  l.max_pixels = 1 << 22;
  l.max_side = 8192;
  l.max_file_bytes = size_t{16} << 20;
  return l;
}

void check_image(const RgbImage& img, const DecodeLimits& l) {
  FUZZ_CHECK(img.width >= 1 && img.height >= 1);
  FUZZ_CHECK(img.width <= l.max_side && img.height <= l.max_side);
  FUZZ_CHECK(int64_t{img.width} * img.height <= l.max_pixels);
  FUZZ_CHECK(img.pixels.size() == size_t(img.width) * size_t(img.height) * 3);
  PreprocessConfig config;
  config.shortest_edge = 28;
  config.crop_width = config.crop_height = 28;
  const PreprocessedImage p = preprocess_image(img, config);
  FUZZ_CHECK(p.width == 28 && p.height == 28);
  FUZZ_CHECK(p.chw.size() == size_t{3} * 28 * 28);
  for (float v : p.chw) FUZZ_CHECK(std::isfinite(v));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in{data, size};
  const DecodeLimits limits = fuzz_limits();
  const uint8_t variant = in.take_byte() % 4;
  if (variant < 3) {
    std::vector<uint8_t> bytes(in.data, in.data + in.size);
    fuzz::accepts([&] { check_image(decode_image_memory(bytes.data(), bytes.size(), limits), limits); });
  } else {
    const int width = static_cast<int>(in.take_u32() % 70000) - 2;
    const int height = static_cast<int>(in.take_u32() % 70000) - 2;
    const size_t stride = in.take_u32() % 300000;
    const auto format = static_cast<PixelFormat>(in.take_byte() % 4);
    std::vector<uint8_t> bytes(in.data, in.data + in.size);
    fuzz::accepts([&] {
      check_image(image_from_pixels(bytes.data(), bytes.size(), width, height, stride, format, limits), limits);
    });
  }
  return 0;
}
