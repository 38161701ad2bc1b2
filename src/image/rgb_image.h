// The one in-memory image type of the image stage: 8-bit RGB, row-major, HWC.
// Plain value type: it owns its pixels; copies are deep. No invariants are enforced
// by the type itself — functions that consume an RgbImage validate it
// (validate_rgb_image, a pure function) and throw Error(invalid_argument) when it is
// inconsistent. Thread-safety: as for any value type (concurrent reads are fine).
#pragma once

#include <cstdint>
#include <vector>

namespace m4cxr {

// Sample depth of the file an image was decoded from. 16-bit sources are mapped to
// 8 bits on decode (see raw_pixels.h); callers may want to know that happened.
enum class SourceDepth { bits8, bits16 };

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // HWC RGB8, size width*height*3, no row padding
  SourceDepth source_depth = SourceDepth::bits8;
};

// Throws Error(invalid_argument), naming `what`, unless width, height > 0 and
// pixels.size() == width*height*3.
void validate_rgb_image(const RgbImage& image, const char* what);

}  // namespace m4cxr
