// JPEG 2000 frames decoded with OpenJPEG directly (libopenjp2), not through GDCM: GDCM's
// JPEG2000Codec crashed (SEGV in GetHeaderInfo, already while gdcm::ImageReader reads
// the file) on codestreams with corrupt tile data (found by fuzz_dicom), so DICOM files in
// the JPEG 2000 syntaxes never reach gdcm::ImageReader. Reentrant (one codec per call;
// OpenJPEG's messages are dropped).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dicom/stored_pixels.h"

namespace m4cxr {

// One grayscale frame from a J2K codestream or JP2 file of `size` bytes. The image must be
// width x height (layout), one component, no subsampling, precision <= bits_allocated; values
// keep their low bits_stored bits (sign-extended when signed), as uncompressed ones.
// Returns the stored values; throws Error(format_error) for a corrupt or mismatching
// codestream, Error(out_of_memory) when OpenJPEG cannot allocate.
std::vector<int32_t> decode_j2k_frame(const uint8_t* data, size_t size, const PixelLayout& layout);

}  // namespace m4cxr
