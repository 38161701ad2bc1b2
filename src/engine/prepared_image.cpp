#include "engine/prepared_image.h"

#include "common/sha256.h"

namespace m4cxr {

std::shared_ptr<const PreparedImage> prepare_image(const RgbImage& rgb, const PreprocessConfig& config,
                                                   std::string source_json) {
  auto p = std::make_shared<PreparedImage>();
  p->source_json = std::move(source_json);
  p->width = rgb.width;
  p->height = rgb.height;
  Sha256 h;
  const uint32_t dims[2] = {static_cast<uint32_t>(rgb.width), static_cast<uint32_t>(rgb.height)};
  h.update(dims, sizeof dims);
  h.update(rgb.pixels.data(), rgb.pixels.size());
  p->hash = h.hex_digest();
  p->pixels = preprocess_image(rgb, config);
  return p;
}

}  // namespace m4cxr
