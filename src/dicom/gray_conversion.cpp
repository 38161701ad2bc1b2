#include "dicom/gray_conversion.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "dicom/equalize_hist.h"
#include "dicom/voi_window.h"

namespace m4cxr {

namespace {

uint8_t to_byte(double y) {
  const double r = std::floor(y + 0.5);
  return static_cast<uint8_t>(r < 0 ? 0 : (r > 255 ? 255 : r));
}

}  // namespace

std::vector<uint8_t> convert_to_gray8(const std::vector<int32_t>& stored, const GrayConversionInput& in,
                                      DicomConversion mode, DicomConversionRecord& rec) {
  if (!std::isfinite(in.rescale_slope) || !std::isfinite(in.rescale_intercept) || in.rescale_slope == 0) {
    fail(Status::format_error, "DICOM Rescale Slope/Intercept are not usable (slope must be finite and non-zero)");
  }
  if (stored.empty()) fail(Status::format_error, "DICOM frame has no pixels");
  const auto [lo_it, hi_it] = std::minmax_element(stored.begin(), stored.end());
  const int32_t smin = *lo_it, smax = *hi_it;
  if (static_cast<int64_t>(smax) - smin > 65535) fail(Status::format_error, "DICOM stored values span more than 16 bits");
  auto modality = [&](int32_t v) { return v * in.rescale_slope + in.rescale_intercept; };
  const double m0 = modality(smin), m1 = modality(smax);
  rec.value_min = std::min(m0, m1);
  rec.value_max = std::max(m0, m1);
  rec.rescale_slope = in.rescale_slope;
  rec.rescale_intercept = in.rescale_intercept;

  const bool by_lut = mode == DicomConversion::voi && in.has_lut;
  bool windowed = mode == DicomConversion::voi && in.has_window && !by_lut;
  VoiFunction fn = VoiFunction::linear;
  if (by_lut) {
    if (in.lut.entries.empty()) fail(Status::format_error, "DICOM VOI LUT has no entries");
    rec.conversion = "voi";
    rec.voi_function = "LUT";
  } else if (windowed) {
    fn = parse_voi_function(in.voi_function);
    validate_window(in.window_center, in.window_width, fn);
    rec.window_center = in.window_center;
    rec.window_width = in.window_width;
    rec.voi_function = voi_function_name(fn);
    rec.conversion = "voi";
  } else {
    rec.conversion = mode == DicomConversion::mimic_jpg ? "mimic_jpg" : "min_max";
  }
  // Every step before the equalisation is a function of the stored value: one table entry
  // per value in [smin, smax] (at most 65536).
  std::vector<uint8_t> lut(static_cast<size_t>(static_cast<int64_t>(smax) - smin + 1));
  const double range = rec.value_max - rec.value_min;
  for (size_t k = 0; k < lut.size(); ++k) {
    const double m = modality(smin + static_cast<int32_t>(k));
    double y;
    if (by_lut) y = apply_voi_lut(in.lut, m);
    else if (windowed) y = apply_window(m, in.window_center, in.window_width, fn);
    else y = range > 0 ? 255.0 * (m - rec.value_min) / range : 0.0;
    uint8_t b = to_byte(y);
    if (in.monochrome1) b = static_cast<uint8_t>(255 - b);
    lut[k] = b;
  }
  rec.inverted = in.monochrome1;
  std::vector<uint8_t> gray(stored.size());
  for (size_t i = 0; i < stored.size(); ++i) gray[i] = lut[static_cast<size_t>(stored[i] - smin)];
  rec.equalized = mode == DicomConversion::mimic_jpg;
  if (rec.equalized) equalize_hist(gray);
  return gray;
}

}  // namespace m4cxr
