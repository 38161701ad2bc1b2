// Conversion of caller-owned raw pixel buffers into RgbImage, and the m4cxr rule
// for 16-bit samples. Pure, reentrant functions; the input buffer is only read and
// is not retained.
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/decode_limits.h"
#include "image/rgb_image.h"

namespace m4cxr {

enum class PixelFormat { gray8, gray16, rgb8, rgb16 };  // 16-bit: native-endian uint16

// m4cxr policy (docs/upstream-model.md §5, deliberate deviation from Pillow, which clamps 16-bit
// gray at 255): a 16-bit sample v maps to round(v / 257). 257 is odd, so v/257 is
// never exactly halfway and (v + 128) / 257 is the exact rounding; 257*k maps to k.
inline uint8_t sample16_to_8(uint16_t v) { return static_cast<uint8_t>((v + 128u) / 257u); }

// Copies a width x height image with rows stride_bytes apart from `data`
// (data_bytes long) into an RgbImage. Gray is replicated to R=G=B; 16-bit samples
// use sample16_to_8 and set source_depth = bits16.
// Throws Error(invalid_argument) for a null buffer, non-positive sizes, a stride
// smaller than one row, or a buffer shorter than stride*(height-1) + row bytes;
// Error(limit_exceeded) when the size is over `limits`. All size arithmetic is
// overflow-checked before anything is allocated.
RgbImage image_from_pixels(const void* data, size_t data_bytes, int width, int height,
                           size_t stride_bytes, PixelFormat format,
                           const DecodeLimits& limits = DecodeLimits{});

}  // namespace m4cxr
