// Checks the header of a compressed frame against the Image Pixel attributes before
// GDCM decodes it: Debian's GDCM asserts (aborts) when a codestream decodes to more
// bytes than the attributes promise. JPEG (SOFn), JPEG-LS (SOF55) and JPEG 2000 (SIZ):
// width, height, components and precision; RLE: the segment header (PS3.5 §G.5).
// Pure function; reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace m4cxr {

struct FrameExpectation {
  int width = 0, height = 0, samples = 1, bits_allocated = 16, bits_stored = 12;
};

// `uid`: an accepted encapsulated transfer syntax (JPEG, JPEG-LS, JPEG 2000, RLE).
// Throws Error(format_error) saying which header field disagrees or is cut off.
void check_codec_header(const std::string& uid, const uint8_t* fragment, size_t size, const FrameExpectation& expect);

// JPEG (baseline, extended, lossless): a frame's last fragment must end in the end-of-image
// marker (FF D9), followed by nothing but zero padding. Given a stream without it -- a cut-off
// frame -- GDCM's IJG codec decodes what is there, fills the rest, and leaks its
// decompressor's memory: about 750 KB a 12- or 16-bit frame, every time (found by
// fuzz_dicom's memory limit). Other syntaxes: nothing to check. Throws Error(format_error).
void check_codec_end(const std::string& uid, const uint8_t* last_fragment, size_t size);

}  // namespace m4cxr
