#include "image/box_geometry.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "common/error.h"

namespace m4cxr {

namespace {

void check_size(int w, int h, const char* what) {
  if (w <= 0 || h <= 0) {
    fail(Status::invalid_argument, std::string(what) + ": invalid image size " +
                                       std::to_string(w) + "x" + std::to_string(h));
  }
}

void check_finite(const PixelBox& b) {
  if (!std::isfinite(b.x1) || !std::isfinite(b.y1) || !std::isfinite(b.x2) ||
      !std::isfinite(b.y2)) {
    fail(Status::invalid_argument, "normalize_box: box coordinates must be finite");
  }
}

int clip100(int v) { return std::clamp(v, 0, 100); }

}  // namespace

int python_round(double v) {
  if (!std::isfinite(v)) fail(Status::invalid_argument, "cannot round a non-finite value");
  const double fl = std::floor(v);
  const double frac = v - fl;  // exact for doubles
  double r = fl;
  if (frac > 0.5 || (frac == 0.5 && std::fmod(fl, 2.0) != 0.0)) r = fl + 1.0;
  if (r < -2147483648.0 || r > 2147483647.0) {
    fail(Status::invalid_argument, "rounded value " + std::to_string(r) + " does not fit in int");
  }
  return static_cast<int>(r);
}

ModelBox normalize_box(const PixelBox& b, int w, int h) {
  check_size(w, h, "normalize_box");
  check_finite(b);
  const int s = std::min(w, h);
  const double half_diff = double(std::max(w, h) - s) / 2;
  // Keep Python's operation order: round(100 * v / s), round(100 * (v - half) / s).
  auto short_axis = [s](double v) { return python_round(100 * v / s); };
  auto long_axis = [s, half_diff](double v) {
    return clip100(python_round(100 * (v - half_diff) / s));
  };
  if (h >= w) return {short_axis(b.x1), long_axis(b.y1), short_axis(b.x2), long_axis(b.y2)};
  return {long_axis(b.x1), short_axis(b.y1), long_axis(b.x2), short_axis(b.y2)};
}

PixelBox model_box_to_pixels(const ModelBox& b, int w, int h) {
  check_size(w, h, "model_box_to_pixels");
  const int s = std::min(w, h);
  const double half_diff = double(std::max(w, h) - s) / 2;
  // Python: v * s / 100 (exact integer product, then true division) [+ half_diff].
  auto short_axis = [s](int v) { return double(python_round(double(int64_t(v) * s) / 100)); };
  auto long_axis = [s, half_diff](int v) {
    return double(python_round(double(int64_t(v) * s) / 100 + half_diff));
  };
  if (h >= w) return {short_axis(b.x1), long_axis(b.y1), short_axis(b.x2), long_axis(b.y2)};
  return {long_axis(b.x1), short_axis(b.y1), long_axis(b.x2), short_axis(b.y2)};
}

}  // namespace m4cxr
