// The VOI LUT Functions of DICOM PS3.3 §C.11.2.1.2 (window centre/width), mapping a
// modality value to [0, 255] as a real number. Pure functions; reentrant.
#pragma once

#include <string>

namespace m4cxr {

enum class VoiFunction { linear, linear_exact, sigmoid };

// "LINEAR" (also for an empty string: the attribute's default), "LINEAR_EXACT",
// "SIGMOID"; throws Error(unsupported) for any other value, naming it.
VoiFunction parse_voi_function(const std::string& value);
const char* voi_function_name(VoiFunction f) noexcept;

// Throws Error(format_error) when the width is not allowed for the function (LINEAR needs
// width >= 1, the others width > 0) or centre/width are not finite.
void validate_window(double center, double width, VoiFunction f);

// The output in [0, 255] for modality value x (PS3.3 equations with ymin 0, ymax 255).
double apply_window(double x, double center, double width, VoiFunction f);

}  // namespace m4cxr
