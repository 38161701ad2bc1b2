#include "image/preprocess_config.h"

#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "io/mapped_file.h"

namespace m4cxr {

namespace {

using nlohmann::json;

[[noreturn]] void bad_field(const std::string& field, const std::string& why) {
  fail(Status::format_error, "preprocessor config: '" + field + "' " + why);
}

bool get_bool(const json& j, const char* key, bool fallback) {
  if (!j.contains(key)) return fallback;
  if (!j[key].is_boolean()) bad_field(key, "must be true or false");
  return j[key].get<bool>();
}

double get_number(const json& v, const std::string& field) {
  if (!v.is_number()) bad_field(field, "must be a number");
  return v.get<double>();
}

int get_side(const json& v, const std::string& field) {
  // JSON integers only; 518.0 would be a float in Python and break transformers too.
  if (!v.is_number_integer()) bad_field(field, "must be an integer");
  const int64_t n = v.get<int64_t>();
  if (n < 1 || n > max_preprocess_side) {
    bad_field(field, "is " + std::to_string(n) + ", expected 1.." +
                         std::to_string(max_preprocess_side));
  }
  return static_cast<int>(n);
}

// transformers accepts one number for all channels or one per channel.
void get_channels(const json& j, const char* key, float out[3]) {
  const json& v = j[key];
  if (v.is_number()) {
    out[0] = out[1] = out[2] = static_cast<float>(get_number(v, key));
    return;
  }
  if (!v.is_array() || v.size() != 3) bad_field(key, "must be a number or a list of 3 numbers");
  for (int c = 0; c < 3; ++c) {
    out[c] = static_cast<float>(get_number(v[size_t(c)], std::string(key) + "[" + std::to_string(c) + "]"));
  }
}

void require(const json& j, const char* key, const char* stage) {
  if (!j.contains(key)) {
    bad_field(key, std::string("is missing; it is required when ") + stage +
                       " is enabled (transformers would use its 224 px / CLIP defaults)");
  }
}

}  // namespace

void validate_preprocess_config(const PreprocessConfig& c, Status status) {
  auto bad = [status](const std::string& field, const std::string& why) {
    fail(status, "preprocess config: '" + field + "' " + why);
  };
  auto side = [&](int v, const char* field) {
    if (v < 1 || v > max_preprocess_side) {
      bad(field, "is " + std::to_string(v) + ", expected 1.." + std::to_string(max_preprocess_side));
    }
  };
  side(c.shortest_edge, "shortest_edge");
  side(c.crop_height, "crop_height");
  side(c.crop_width, "crop_width");
  if (!std::isfinite(c.rescale_factor) || c.rescale_factor <= 0) {
    bad("rescale_factor", "must be a finite positive number");
  }
  for (int i = 0; i < 3; ++i) {
    if (!std::isfinite(c.image_mean[i])) bad("image_mean", "must be finite");
    if (!std::isfinite(c.image_std[i]) || c.image_std[i] == 0.0f) {
      bad("image_std", "must be finite and non-zero");
    }
  }
}

PreprocessConfig preprocess_config_from_json(const json& j) {
  if (!j.is_object()) fail(Status::format_error, "preprocessor config must be a JSON object");
  PreprocessConfig c;

  if (j.contains("image_processor_type")) {
    const json& t = j["image_processor_type"];
    if (!t.is_string()) bad_field("image_processor_type", "must be a string");
    const std::string type = t.get<std::string>();
    if (type != "BitImageProcessor" && type != "CLIPImageProcessor") {
      fail(Status::unsupported, "preprocessor config: image_processor_type '" + type +
                                    "' is not supported (expected BitImageProcessor)");
    }
  }

  c.do_convert_rgb = get_bool(j, "do_convert_rgb", c.do_convert_rgb);
  c.do_resize = get_bool(j, "do_resize", c.do_resize);
  c.do_center_crop = get_bool(j, "do_center_crop", c.do_center_crop);
  c.do_rescale = get_bool(j, "do_rescale", c.do_rescale);
  c.do_normalize = get_bool(j, "do_normalize", c.do_normalize);

  if (j.contains("resample")) {
    const json& r = j["resample"];
    if (!r.is_number_integer()) bad_field("resample", "must be an integer (PIL filter id)");
    if (r.get<int64_t>() != 3) {
      fail(Status::unsupported, "preprocessor config: resample " +
                                    std::to_string(r.get<int64_t>()) +
                                    " is not supported (only 3 = PIL BICUBIC)");
    }
  }

  if (c.do_resize) {
    require(j, "size", "do_resize");
    const json& s = j["size"];
    if (s.is_object()) {
      if (s.contains("shortest_edge")) {
        c.shortest_edge = get_side(s["shortest_edge"], "size.shortest_edge");
      } else {
        fail(Status::unsupported,
             "preprocessor config: only size {\"shortest_edge\": n} is supported, got " + s.dump());
      }
    } else {
      c.shortest_edge = get_side(s, "size");
    }
  }

  if (c.do_center_crop) {
    require(j, "crop_size", "do_center_crop");
    const json& s = j["crop_size"];
    if (s.is_object()) {
      if (!s.contains("height") || !s.contains("width")) {
        bad_field("crop_size", "must have 'height' and 'width'");
      }
      c.crop_height = get_side(s["height"], "crop_size.height");
      c.crop_width = get_side(s["width"], "crop_size.width");
    } else {
      c.crop_height = c.crop_width = get_side(s, "crop_size");
    }
  }

  if (j.contains("rescale_factor")) c.rescale_factor = get_number(j["rescale_factor"], "rescale_factor");

  if (c.do_normalize) {
    require(j, "image_mean", "do_normalize");
    require(j, "image_std", "do_normalize");
    get_channels(j, "image_mean", c.image_mean);
    get_channels(j, "image_std", c.image_std);
  }

  validate_preprocess_config(c, Status::format_error);
  return c;
}

PreprocessConfig load_preprocess_config(const std::string& model_dir) {
  const std::string path = join_path(model_dir, "preprocessor_config.json");
  if (!file_exists(path)) return PreprocessConfig{};
  const std::string text = read_file_text(path, size_t{1} << 20);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(Status::format_error, "'" + path + "': invalid JSON: " + e.what());
  }
  try {
    return preprocess_config_from_json(j);
  } catch (const Error& e) {
    throw Error(e.status(), "'" + path + "': " + e.what());
  }
}

}  // namespace m4cxr
