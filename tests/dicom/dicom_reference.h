// Independent reference computations for the DICOM tests: written from the DICOM
// standard and the MIMIC-CXR-JPG description directly, per pixel, without the
// library's lookup tables.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace m4cxr_test {

// OpenCV equalizeHist, per pixel: cdf(v) counts pixels <= v; the darkest value present
// maps to 0; float arithmetic and round-half-even as cv::saturate_cast<uchar>(float).
inline std::vector<uint8_t> reference_equalize(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out(in.size());
  uint8_t lowest = 255;
  for (uint8_t v : in) lowest = v < lowest ? v : lowest;
  uint64_t count_lowest = 0;
  for (uint8_t v : in) count_lowest += v == lowest;
  if (count_lowest == in.size()) {
    for (auto& v : out) v = lowest;
    return out;
  }
  for (size_t i = 0; i < in.size(); ++i) {
    uint64_t cdf = 0;
    for (uint8_t v : in) cdf += v <= in[i];
    const float scale = 255.f / static_cast<float>(in.size() - count_lowest);
    const float x = static_cast<float>(cdf - count_lowest) * scale;
    out[i] = static_cast<uint8_t>(std::nearbyint(x));
  }
  return out;
}

// Modality values -> 8 bits by min-max with rounding to nearest, inverted for
// MONOCHROME1 (the MIMIC-CXR-JPG normalisation; see gray_conversion.h for the choices).
inline std::vector<uint8_t> reference_min_max(const std::vector<double>& m, bool monochrome1) {
  double lo = m[0], hi = m[0];
  for (double v : m) lo = v < lo ? v : lo, hi = v > hi ? v : hi;
  std::vector<uint8_t> out(m.size());
  for (size_t i = 0; i < m.size(); ++i) {
    const double y = hi > lo ? std::floor(255.0 * (m[i] - lo) / (hi - lo) + 0.5) : 0.0;
    const int b = static_cast<int>(y);
    out[i] = static_cast<uint8_t>(monochrome1 ? 255 - b : b);
  }
  return out;
}

inline std::vector<double> reference_modality(const std::vector<int32_t>& stored, double slope, double intercept) {
  std::vector<double> m(stored.size());
  for (size_t i = 0; i < stored.size(); ++i) m[i] = stored[i] * slope + intercept;
  return m;
}

// PS3.3 C.11.2.1.2.1, LINEAR, to [0, 255], rounded.
inline uint8_t reference_linear_window(double x, double c, double w) {
  double y;
  if (x <= c - 0.5 - (w - 1) / 2) y = 0;
  else if (x > c - 0.5 + (w - 1) / 2) y = 255;
  else y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255;
  return static_cast<uint8_t>(std::floor(y + 0.5));
}

}  // namespace m4cxr_test
