#include "dicom/stored_pixels.h"

#include <cstring>
#include <string>

#include "common/error.h"

namespace m4cxr {

void validate_pixel_layout(const PixelLayout& l) {
  if (l.bits_allocated != 8 && l.bits_allocated != 16) {
    fail(Status::unsupported, "DICOM BitsAllocated " + std::to_string(l.bits_allocated) +
                                  " is not supported (grayscale radiographs use 8 or 16)");
  }
  if (l.bits_stored < 1 || l.bits_stored > l.bits_allocated) {
    fail(Status::format_error, "DICOM BitsStored " + std::to_string(l.bits_stored) + " is outside 1.." +
                                   std::to_string(l.bits_allocated) + " (BitsAllocated)");
  }
  if (l.high_bit < l.bits_stored - 1 || l.high_bit > l.bits_allocated - 1) {
    fail(Status::format_error, "DICOM HighBit " + std::to_string(l.high_bit) + " is outside " +
                                   std::to_string(l.bits_stored - 1) + ".." + std::to_string(l.bits_allocated - 1) +
                                   " (BitsStored-1 .. BitsAllocated-1)");
  }
  if (l.width < 1 || l.height < 1) fail(Status::format_error, "DICOM image has no rows or columns");
}

std::vector<int32_t> extract_stored_values(const uint8_t* buffer, size_t size, const PixelLayout& l) {
  validate_pixel_layout(l);
  const size_t n = static_cast<size_t>(l.width) * static_cast<size_t>(l.height);
  const size_t bytes = l.bits_allocated / 8;
  if (buffer == nullptr || size / bytes < n) {
    fail(Status::format_error, "DICOM pixel data holds " + std::to_string(size) + " bytes, less than one " +
                                   std::to_string(l.width) + "x" + std::to_string(l.height) + " frame of " +
                                   std::to_string(l.bits_allocated) + "-bit samples");
  }
  const int shift = l.high_bit + 1 - l.bits_stored;
  const uint32_t mask = (l.bits_stored >= 32) ? 0xffffffffu : ((1u << l.bits_stored) - 1u);
  const uint32_t sign = 1u << (l.bits_stored - 1);
  std::vector<int32_t> out(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t w;
    if (bytes == 1) {
      w = buffer[i];
    } else {
      uint16_t v;
      std::memcpy(&v, buffer + 2 * i, 2);
      w = v;
    }
    w = (w >> shift) & mask;
    int32_t s = static_cast<int32_t>(w);
    if (l.is_signed && (w & sign)) s -= static_cast<int32_t>(mask) + 1;
    out[i] = s;
  }
  return out;
}

}  // namespace m4cxr
