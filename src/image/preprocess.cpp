#include "image/preprocess.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "common/error.h"
#include "image/pil_resize.h"

namespace m4cxr {

namespace {

int floor_div2(int v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }  // Python v // 2

// Crop origin on one axis, in resized pixels. transformers pads a too-small axis with
// zeros and then crops; that only returns `crop` pixels when the shortfall is even.
int crop_origin(int resized, int crop, const char* axis) {
  if (resized >= crop) return floor_div2(resized - crop);
  const int missing = crop - resized;
  if (missing % 2 != 0) {
    fail(Status::unsupported,
         std::string("preprocess: the resized image is ") + std::to_string(missing) +
             " pixel(s) smaller than the crop " + axis +
             "; transformers would return a crop one pixel short for an odd shortfall");
  }
  return -missing / 2;
}

}  // namespace

Size2 shortest_edge_resize_size(int width, int height, int shortest_edge) {
  if (width < 1 || height < 1 || shortest_edge < 1) {
    fail(Status::invalid_argument, "shortest_edge_resize_size: invalid arguments");
  }
  const bool portrait = width <= height;
  const int64_t shorter = portrait ? width : height;
  const int64_t longer = portrait ? height : width;
  // Python: int(size * long / short) — exact integer product, true division rounded
  // to double, then truncation.
  const double long_side = double(int64_t(shortest_edge) * longer) / double(shorter);
  if (long_side >= 2147483647.0) {
    fail(Status::limit_exceeded, "shortest_edge_resize_size: resized long side is too large");
  }
  const int resized_long = static_cast<int>(long_side);
  return portrait ? Size2{shortest_edge, resized_long} : Size2{resized_long, shortest_edge};
}

ImageGeometry plan_preprocess(int width, int height, const PreprocessConfig& config) {
  validate_preprocess_config(config);
  ImageGeometry g;
  g.original_width = width;
  g.original_height = height;
  Size2 r{width, height};
  if (config.do_resize) r = shortest_edge_resize_size(width, height, config.shortest_edge);
  if (r.width < 1 || r.height < 1) {
    fail(Status::invalid_argument, "plan_preprocess: invalid image size " +
                                       std::to_string(width) + "x" + std::to_string(height));
  }
  g.resized_width = r.width;
  g.resized_height = r.height;
  if (config.do_center_crop) {
    g.crop_left = crop_origin(r.width, config.crop_width, "width");
    g.crop_top = crop_origin(r.height, config.crop_height, "height");
    g.output_width = config.crop_width;
    g.output_height = config.crop_height;
  } else {
    g.output_width = r.width;
    g.output_height = r.height;
  }
  return g;
}

RgbImage preprocess_resize_and_crop(const RgbImage& image, const PreprocessConfig& config,
                                    ImageGeometry* geometry) {
  validate_rgb_image(image, "preprocess");
  const ImageGeometry g = plan_preprocess(image.width, image.height, config);
  if (geometry != nullptr) *geometry = g;
  if (int64_t(g.output_width) * g.output_height > max_resize_output_pixels) {
    fail(Status::limit_exceeded, "preprocess: output of " + std::to_string(g.output_width) +
                                     "x" + std::to_string(g.output_height) + " is too large");
  }

  // Part of the crop window that lies on the resized image (all of it unless padded).
  const int x0 = std::max(g.crop_left, 0), y0 = std::max(g.crop_top, 0);
  const int x1 = std::min(g.crop_left + g.output_width, g.resized_width);
  const int y1 = std::min(g.crop_top + g.output_height, g.resized_height);
  RgbImage inner = resize_bicubic_region(image, g.resized_width, g.resized_height, x0, y0,
                                         x1 - x0, y1 - y0);
  if (inner.width == g.output_width && inner.height == g.output_height) return inner;

  RgbImage out;  // zero padding around the image, as transformers' center_crop does
  out.width = g.output_width;
  out.height = g.output_height;
  out.source_depth = image.source_depth;
  out.pixels.assign(size_t(out.width) * size_t(out.height) * 3, 0);
  const int dx = x0 - g.crop_left, dy = y0 - g.crop_top;
  const size_t row = size_t(inner.width) * 3;
  for (int y = 0; y < inner.height; ++y) {
    std::memcpy(&out.pixels[(size_t(y + dy) * size_t(out.width) + size_t(dx)) * 3],
                &inner.pixels[size_t(y) * row], row);
  }
  return out;
}

std::vector<float> rescale_normalize_chw(const RgbImage& image, const PreprocessConfig& config) {
  validate_rgb_image(image, "rescale_normalize_chw");
  validate_preprocess_config(config);
  // Every uint8 value maps to one float per channel: tabulate with the exact
  // transformers arithmetic (double product, cast to float32, float32 normalise).
  float lut[3][256];
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      float x = config.do_rescale ? static_cast<float>(double(v) * config.rescale_factor)
                                  : static_cast<float>(v);
      if (config.do_normalize) x = (x - config.image_mean[c]) / config.image_std[c];
      lut[c][v] = x;
    }
  }
  const size_t plane = size_t(image.width) * size_t(image.height);
  std::vector<float> chw(plane * 3);
  const uint8_t* px = image.pixels.data();
  for (size_t i = 0; i < plane; ++i) {
    chw[i] = lut[0][px[3 * i]];
    chw[plane + i] = lut[1][px[3 * i + 1]];
    chw[2 * plane + i] = lut[2][px[3 * i + 2]];
  }
  return chw;
}

PreprocessedImage preprocess_image(const RgbImage& image, const PreprocessConfig& config) {
  try {
    PreprocessedImage out;
    const RgbImage cropped = preprocess_resize_and_crop(image, config, &out.geometry);
    out.chw = rescale_normalize_chw(cropped, config);
    out.width = cropped.width;
    out.height = cropped.height;
    return out;
  } catch (const std::bad_alloc&) {
    fail(Status::out_of_memory, "preprocess: out of memory");
  }
}

}  // namespace m4cxr
