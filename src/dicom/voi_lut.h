// A VOI LUT from the VOI LUT Sequence (0028,3010), PS3.3 §C.11.2.1.1: LUT Descriptor
// (entries, 0 meaning 65536; first input value mapped; bits per entry) and LUT Data. It
// maps a modality value to [0, 255]: inputs below the first value take the first entry,
// above the last the last entry; entries are scaled from [0, 2^bits - 1]. Pure functions;
// reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace m4cxr {

struct VoiLut {
  int64_t first = 0;   // first input value mapped
  int bits = 16;       // bits per entry, 8..16
  std::vector<uint16_t> entries;
};

// `descriptor`: the 6 bytes of (0028,3002) (three little-endian 16-bit values; the second
// is signed when the pixel values are signed); `data`: the bytes of (0028,3006), 16-bit
// little-endian words, one per entry. Throws Error(format_error) naming what is wrong.
VoiLut parse_voi_lut(const std::vector<uint8_t>& descriptor, const std::vector<uint8_t>& data, bool signed_input);

// The output in [0, 255] for modality value x (rounded to the nearest input first).
double apply_voi_lut(const VoiLut& lut, double x);

}  // namespace m4cxr
