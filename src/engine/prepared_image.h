// An image ready for the model: original size, preprocessing geometry, pixel values
// and a content hash (SHA-256 of width, height and RGB pixels) that identifies it in a
// session's visual-token cache and in replay records. Immutable; shareable.
#pragma once

#include <memory>
#include <string>

#include "image/preprocess.h"
#include "image/rgb_image.h"

namespace m4cxr {

struct PreparedImage {
  int width = 0, height = 0;
  std::string hash;
  PreprocessedImage pixels;
  // Where the pixels came from, as a JSON object for results ("" when nothing is
  // known): for DICOM, {"identity": {...}, "conversion": {...}} (see capi/api_dicom.cpp).
  std::string source_json;
};

// Throws Error from preprocessing (invalid config, absurd sizes).
std::shared_ptr<const PreparedImage> prepare_image(const RgbImage& rgb, const PreprocessConfig& config,
                                                   std::string source_json = {});

}  // namespace m4cxr
