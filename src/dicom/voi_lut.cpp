#include "dicom/voi_lut.h"

#include <cmath>
#include <string>

#include "common/error.h"

namespace m4cxr {

namespace {
uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
}  // namespace

VoiLut parse_voi_lut(const std::vector<uint8_t>& descriptor, const std::vector<uint8_t>& data, bool signed_input) {
  if (descriptor.size() != 6) fail(Status::format_error, "DICOM LUT Descriptor does not hold three 16-bit values");
  VoiLut lut;
  const size_t n = le16(descriptor.data()) == 0 ? 65536 : le16(descriptor.data());
  const uint16_t first = le16(descriptor.data() + 2);
  lut.first = signed_input ? static_cast<int16_t>(first) : first;
  lut.bits = le16(descriptor.data() + 4);
  if (lut.bits < 8 || lut.bits > 16) fail(Status::format_error, "DICOM LUT Descriptor gives " + std::to_string(lut.bits) + " bits per entry (8..16)");
  if (data.size() != 2 * n) {
    fail(Status::format_error, "DICOM LUT Data holds " + std::to_string(data.size()) + " bytes, not the " +
                                   std::to_string(2 * n) + " of its " + std::to_string(n) + " entries");
  }
  lut.entries.resize(n);
  const uint32_t mask = (1u << lut.bits) - 1u;
  for (size_t i = 0; i < n; ++i) lut.entries[i] = static_cast<uint16_t>(le16(data.data() + 2 * i) & mask);
  return lut;
}

double apply_voi_lut(const VoiLut& lut, double x) {
  const double k = std::floor(x + 0.5) - static_cast<double>(lut.first);
  const double last = static_cast<double>(lut.entries.size() - 1);
  const size_t i = static_cast<size_t>(k < 0 ? 0 : (k > last ? last : k));
  return 255.0 * lut.entries[i] / static_cast<double>((1u << lut.bits) - 1u);
}

}  // namespace m4cxr
