// Preprocessing of one decoded image into the vision encoder's input, reproducing
// transformers 4.39.3 BitImageProcessor + Pillow (docs/upstream-model.md §5 steps 2-6):
//   1. resize (if do_resize) so the short side is shortest_edge and the long side is
//      int(shortest_edge * long / short) (truncation), Pillow BICUBIC;
//   2. centre crop (if do_center_crop): top = (H' - h) // 2, left = (W' - w) // 2;
//      an image smaller than the crop is zero-padded centred, as transformers does,
//      provided the missing amount is even (for an odd amount transformers returns a
//      crop one pixel short, which we reject with Status::unsupported);
//   3. x = float(u8 * rescale_factor) computed in double (if do_rescale);
//   4. (x - mean) / std in float32 (if do_normalize); HWC -> CHW.
// Only the cropped window of the resized image is computed (resize_bicubic_region),
// so extreme aspect ratios cost no more than the crop.
//
// Pure, reentrant functions; results are new objects owned by the caller.
// Errors: Error(invalid_argument) for an inconsistent image or config,
// Error(unsupported) for the odd-padding case, Error(limit_exceeded) when an
// uncropped output would be over max_resize_output_pixels, out_of_memory.
#pragma once

#include <vector>

#include "image/box_geometry.h"
#include "image/preprocess_config.h"
#include "image/rgb_image.h"

namespace m4cxr {

struct PreprocessedImage {
  std::vector<float> chw;  // [3, height, width] float32
  int height = 0, width = 0;
  ImageGeometry geometry;
};

// Size after step 1 for a width x height image (transformers'
// get_resize_output_image_size with default_to_square=False). {width, height}.
struct Size2 {
  int width = 0, height = 0;
};
Size2 shortest_edge_resize_size(int width, int height, int shortest_edge);

// Sizes and crop origin that preprocess_image will use, without touching pixels.
ImageGeometry plan_preprocess(int width, int height, const PreprocessConfig& config);

// Steps 1-2: the uint8 image that steps 3-4 turn into floats. Optionally reports
// the geometry.
RgbImage preprocess_resize_and_crop(const RgbImage& image, const PreprocessConfig& config,
                                    ImageGeometry* geometry = nullptr);

// Steps 3-4 on an already resized/cropped image: CHW float32.
std::vector<float> rescale_normalize_chw(const RgbImage& image, const PreprocessConfig& config);

PreprocessedImage preprocess_image(const RgbImage& image, const PreprocessConfig& config);

}  // namespace m4cxr
