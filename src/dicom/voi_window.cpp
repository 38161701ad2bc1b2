#include "dicom/voi_window.h"

#include <cmath>

#include "common/error.h"

namespace m4cxr {

VoiFunction parse_voi_function(const std::string& v) {
  if (v.empty() || v == "LINEAR") return VoiFunction::linear;
  if (v == "LINEAR_EXACT") return VoiFunction::linear_exact;
  if (v == "SIGMOID") return VoiFunction::sigmoid;
  fail(Status::unsupported, "DICOM VOI LUT Function '" + v + "' is not supported (LINEAR, LINEAR_EXACT, SIGMOID)");
}

const char* voi_function_name(VoiFunction f) noexcept {
  switch (f) {
    case VoiFunction::linear: return "LINEAR";
    case VoiFunction::linear_exact: return "LINEAR_EXACT";
    case VoiFunction::sigmoid: return "SIGMOID";
  }
  return "?";
}

void validate_window(double center, double width, VoiFunction f) {
  if (!std::isfinite(center) || !std::isfinite(width)) fail(Status::format_error, "DICOM window centre/width is not a finite number");
  if (f == VoiFunction::linear ? width < 1 : width <= 0) {
    fail(Status::format_error, std::string("DICOM window width ") + std::to_string(width) + " is not allowed for VOI LUT Function " +
                                   voi_function_name(f) + (f == VoiFunction::linear ? " (needs >= 1)" : " (needs > 0)"));
  }
}

double apply_window(double x, double c, double w, VoiFunction f) {
  constexpr double ymin = 0, ymax = 255;
  switch (f) {
    case VoiFunction::linear:
      if (x <= c - 0.5 - (w - 1) / 2) return ymin;
      if (x > c - 0.5 + (w - 1) / 2) return ymax;
      return ((x - (c - 0.5)) / (w - 1) + 0.5) * (ymax - ymin) + ymin;
    case VoiFunction::linear_exact:
      if (x <= c - w / 2) return ymin;
      if (x > c + w / 2) return ymax;
      return ((x - c) / w + 0.5) * (ymax - ymin) + ymin;
    case VoiFunction::sigmoid:
      return (ymax - ymin) / (1 + std::exp(-4 * (x - c) / w)) + ymin;
  }
  return ymin;
}

}  // namespace m4cxr
