// Geometry shared by preprocessing and bounding-box output (docs/upstream-model.md §7.3).
//
// M4CXR writes boxes as integers 0..100 relative to the centre square of side
// S = min(W, H) of the ORIGINAL image (the part that survives the centre crop).
// normalize_box reproduces the official `normalize_bbox` (training targets) and
// model_box_to_pixels the official `norm2origin_box` (mapping outputs back), with
// Python semantics: true division in double and round() = ties to even; only the
// long axis is clipped to 0..100 by normalize_box, as upstream does.
//
// Pure, reentrant functions. Errors: Error(invalid_argument) for a non-positive
// image size, non-finite coordinates, or a result that does not fit in int.
#pragma once

namespace m4cxr {

// Where a preprocessed image came from: sizes after each stage of preprocess_image.
struct ImageGeometry {
  int original_width = 0, original_height = 0;
  int resized_width = 0, resized_height = 0;  // after the shortest-edge resize
  int crop_left = 0, crop_top = 0;            // crop origin in resized pixels (< 0: padded)
  int output_width = 0, output_height = 0;    // size of the tensor given to the model
};

struct ModelBox {  // as the model writes it: [x1,y1,x2,y2], 0..100
  int x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

struct PixelBox {  // original-image pixels, [x_min, y_min, x_max, y_max]
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

// Python's round() of a double: nearest integer, ties to even, independent of the
// floating-point rounding mode. Throws invalid_argument if not finite or out of int.
int python_round(double v);

// Official normalize_bbox(resize_type="shortest_edge").
ModelBox normalize_box(const PixelBox& box, int original_width, int original_height);

// Official norm2origin_box(resize_type="shortest_edge"); the result is integral.
PixelBox model_box_to_pixels(const ModelBox& box, int original_width, int original_height);

inline ModelBox normalize_box(const PixelBox& box, const ImageGeometry& g) {
  return normalize_box(box, g.original_width, g.original_height);
}
inline PixelBox model_box_to_pixels(const ModelBox& box, const ImageGeometry& g) {
  return model_box_to_pixels(box, g.original_width, g.original_height);
}

}  // namespace m4cxr
