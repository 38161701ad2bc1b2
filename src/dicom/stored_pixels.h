// Stored pixel values of one grayscale frame, read from a decoded pixel buffer with
// the Image Pixel module's BitsAllocated / BitsStored / HighBit / PixelRepresentation
// (DICOM PS3.5 §8.1.1: bits outside BitsStored carry nothing and are masked off;
// signed values are sign-extended from bit BitsStored-1). Pure functions; reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace m4cxr {

struct PixelLayout {
  int width = 0, height = 0;
  int bits_allocated = 0;  // 8 or 16
  int bits_stored = 0;     // 1..bits_allocated
  int high_bit = 0;        // bits_stored-1 .. bits_allocated-1
  bool is_signed = false;  // PixelRepresentation 1
};

// Throws Error(format_error) naming the attribute when the combination is inconsistent,
// Error(unsupported) for BitsAllocated other than 8 or 16 (1-bit or 32-bit radiographs).
void validate_pixel_layout(const PixelLayout& layout);

// The first width*height samples of `buffer` (native-endian 16-bit words when
// bits_allocated is 16), masked and sign-extended. Throws Error(format_error) when
// `size` is shorter than one frame.
std::vector<int32_t> extract_stored_values(const uint8_t* buffer, size_t size, const PixelLayout& layout);

}  // namespace m4cxr
