// Size limits applied to every image entering the engine, checked on the header
// before any pixel buffer is allocated. Plain value type; checks are pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

namespace m4cxr {

struct DecodeLimits {
  int64_t max_pixels = 16384LL * 16384;  // width * height
  int max_side = 65535;                  // each of width and height
  size_t max_file_bytes = size_t{512} << 20;
};

// Where a size comes from decides what a bad one is: the caller's mistake
// (invalid_argument) or a malformed file (format_error).
enum class DimensionSource { caller_argument, file_header };

// Throws Error(invalid_argument or format_error, by `source`) when width or height is
// < 1, and Error(limit_exceeded) when a side or the pixel count is over the limits.
// `what` names the image in the message. 64-bit arguments so that untrusted header
// values can be checked before they are narrowed.
void check_image_dimensions(int64_t width, int64_t height, const DecodeLimits& limits,
                            const char* what, DimensionSource source);

}  // namespace m4cxr
