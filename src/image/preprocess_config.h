// Image-processor settings (transformers BitImageProcessor, docs/upstream-model.md §5).
// Plain value type. Loading functions are reentrant; they only read the file.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "common/error.h"

namespace m4cxr {

// Defaults are the Rad-DINO values of docs/upstream-model.md §5.
struct PreprocessConfig {
  bool do_convert_rgb = true;  // informational: RgbImage is always RGB already
  bool do_resize = true;
  int shortest_edge = 518;
  bool do_center_crop = true;
  int crop_height = 518, crop_width = 518;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  float image_mean[3] = {0.5307f, 0.5307f, 0.5307f};
  float image_std[3] = {0.2583f, 0.2583f, 0.2583f};
};

// Largest accepted shortest_edge / crop side; bigger values are configuration errors.
constexpr int max_preprocess_side = 16384;

// Parses a preprocessor_config.json object. Accepted forms follow transformers:
// size = {"shortest_edge": n} or n; crop_size = {"height": h, "width": w} or n;
// image_mean/image_std = number or 3 numbers; resample must be 3 (PIL BICUBIC);
// image_processor_type, when present, must be BitImageProcessor or
// CLIPImageProcessor (same pipeline). Keys on which the Rad-DINO values and
// transformers' class defaults agree (booleans, resample, rescale_factor) default
// silently; size, crop_size, image_mean and image_std must be present when their
// stage is enabled, because transformers would fall back to 224 px / CLIP statistics.
// Throws Error(format_error) naming the field for a wrong type, a missing field or a
// value out of range, and Error(unsupported) for a different resampling filter,
// a fixed-size `size` or another processor type.
PreprocessConfig preprocess_config_from_json(const nlohmann::json& j);

// Reads <model_dir>/preprocessor_config.json when it exists, else returns the
// defaults. Errors as above (prefixed with the file path), plus io_error.
PreprocessConfig load_preprocess_config(const std::string& model_dir);

// Throws Error(status) naming the field unless every value is usable: sizes in
// 1..max_preprocess_side, finite positive rescale_factor, finite mean, finite
// non-zero std.
void validate_preprocess_config(const PreprocessConfig& config,
                                Status status_if_bad = Status::invalid_argument);

}  // namespace m4cxr
