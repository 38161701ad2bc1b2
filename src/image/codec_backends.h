// Internal to the image stage: the two decoder back ends behind decode_image_memory.
// Both expect a buffer already identified by its signature, check the header size
// against the limits before allocating, and throw m4cxr::Error as image_decoder.h
// describes. Reentrant.
#pragma once

#include <cstddef>
#include <cstdint>

#include "image/decode_limits.h"
#include "image/rgb_image.h"

namespace m4cxr::detail {

// PNG or BMP through stb_image. `format_name` ("PNG"/"BMP") is used in messages.
RgbImage decode_with_stb(const uint8_t* data, size_t size, const char* format_name,
                         const DecodeLimits& limits);

// JPEG through libjpeg-turbo's TurboJPEG API.
RgbImage decode_jpeg_turbo(const uint8_t* data, size_t size, const DecodeLimits& limits);

}  // namespace m4cxr::detail
