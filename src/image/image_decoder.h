// Decoding of image files (PNG, JPEG, BMP) into 8-bit RGB, matching Pillow's
// `Image.open(path).convert("RGB")` (docs/upstream-model.md §5 step 1):
//   * gray -> R=G=B; alpha is dropped (no compositing); palettes are expanded;
//     1/2/4-bit gray is scaled to 0..255 as Pillow does.
//   * 16-bit PNG samples map to 8 bits as round(v/257) (m4cxr policy, see
//     raw_pixels.h). Pillow clamps 16-bit gray at 255 and keeps the high byte of
//     16-bit RGB; m4cxr deliberately differs. source_depth records bits16.
//   * JPEG is decoded by libjpeg-turbo (TurboJPEG API, ISLOW IDCT, fancy
//     upsampling), the decoder Pillow uses, so results are bit-identical. CMYK/YCCK
//     JPEGs are rejected with Status::unsupported (Pillow's CMYK->RGB conversion is
//     not reproduced; radiographs are never CMYK). libjpeg warnings are ignored, as
//     Pillow ignores them, except a premature end of data, which is an error (Pillow
//     raises "image file is truncated").
//   * No EXIF orientation is applied (Pillow's open/convert does not either).
//   * PNG and BMP go through stb_image. GIF, TIFF, WebP, JPEG 2000 and DICOM are
//     recognised and rejected with Status::unsupported; anything else is a
//     format_error.
// Sizes are read from the header and checked against DecodeLimits before any pixel
// buffer is allocated.
//
// Errors (m4cxr::Error): io_error (file missing/unreadable), limit_exceeded (file or
// image too large), format_error (empty, truncated, corrupt or unrecognised data; the
// message carries the decoder's reason), unsupported (see above), out_of_memory.
// Thread-safety: reentrant; no shared state (stb's failure reason is
// thread-local, TurboJPEG handles are per call). The returned image is owned by the
// caller; input buffers are not retained.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "image/decode_limits.h"
#include "image/raw_pixels.h"
#include "image/rgb_image.h"

namespace m4cxr {

RgbImage decode_image_file(const std::string& path, const DecodeLimits& limits = DecodeLimits{});

RgbImage decode_image_memory(const uint8_t* data, size_t size,
                             const DecodeLimits& limits = DecodeLimits{});

}  // namespace m4cxr
