#include "dicom/equalize_hist.h"

#include <cmath>

namespace m4cxr {

std::array<uint8_t, 256> equalize_hist_lut(const std::vector<uint8_t>& gray) {
  std::array<uint64_t, 256> hist{};
  for (uint8_t v : gray) ++hist[v];
  std::array<uint8_t, 256> lut{};
  for (int j = 0; j < 256; ++j) lut[j] = static_cast<uint8_t>(j);  // identity where no pixel is
  if (gray.empty()) return lut;
  int i = 0;
  while (hist[i] == 0) ++i;
  const uint64_t total = gray.size();
  if (hist[i] == total) {  // OpenCV: dst.setTo(i)
    lut.fill(static_cast<uint8_t>(i));
    return lut;
  }
  const float scale = 255.f / static_cast<float>(total - hist[i]);
  uint64_t sum = 0;
  lut[i] = 0;
  for (int j = i + 1; j < 256; ++j) {
    sum += hist[j];
    const long r = std::lrint(static_cast<float>(sum) * scale);
    lut[j] = static_cast<uint8_t>(r < 0 ? 0 : (r > 255 ? 255 : r));
  }
  return lut;
}

void equalize_hist(std::vector<uint8_t>& gray) {
  const auto lut = equalize_hist_lut(gray);
  for (auto& v : gray) v = lut[v];
}

}  // namespace m4cxr
