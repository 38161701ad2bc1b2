// Bit-exact reimplementation of Pillow's BICUBIC resize for 8-bit images
// (`Image.resize(size, Image.BICUBIC)`, libImaging/Resample.c; docs/upstream-model.md §5 step 2):
// Keys cubic a = -0.5 stretched by the downscale factor (antialiasing), weights
// normalised per output sample then rounded to 22-bit fixed point, horizontal pass
// first into a uint8 temporary, then vertical; each pass rounds and clips to 0..255.
// A dimension whose size does not change is not filtered; same size = copy.
//
// Each output pixel depends only on its own taps, so any window of the output can be
// computed alone, bit-identical to cropping the full result. resize_bicubic_region
// does that, and is how preprocessing handles extreme aspect ratios without building
// the full resized image.
//
// Errors: Error(invalid_argument) for an inconsistent source, non-positive sizes or a
// window outside the output; Error(limit_exceeded) when the window has more than
// max_resize_output_pixels pixels. Pure and reentrant; the result is a new image.
#pragma once

#include <cstdint>

#include "image/rgb_image.h"

namespace m4cxr {

constexpr int64_t max_resize_output_pixels = 16384LL * 16384;

RgbImage resize_bicubic(const RgbImage& src, int out_width, int out_height);

// The window [left, left+win_width) x [top, top+win_height) of
// resize_bicubic(src, out_width, out_height), computed without the rest.
RgbImage resize_bicubic_region(const RgbImage& src, int out_width, int out_height, int left,
                               int top, int win_width, int win_height);

}  // namespace m4cxr
