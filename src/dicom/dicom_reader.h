// Reading DICOM Part-10 files and buffers (issue 13) with GDCM, Debian's libgdcm-dev:
// of the two maintained toolkits in Debian, GDCM decodes every transfer syntax chest
// radiographs arrive in, JPEG 2000 included (through OpenJPEG; JPEG-LS through CharLS,
// JPEG 8/12/16-bit through its IJG builds, RLE and deflate itself), while open-source
// DCMTK has no JPEG 2000 decoder (see README "DICOM input"). GDCM only decodes; the
// Modality LUT, VOI and 8-bit conversion are m4cxr's own (gray_conversion.h).
//
// Order of checks: size limit, the Part-10 preamble ("DICM" at byte 128), parsing, the
// transfer syntax (transfer_syntax.h; others are refused naming it), pixel data present,
// modality (CR, DX, RG unless allow_any_modality), photometric interpretation
// (MONOCHROME1/2; RGB with allow_color), one frame (unless allow_multiframe), sizes
// against DecodeLimits before any pixel buffer is allocated, bit layout, then decoding.
//
// Errors (m4cxr::Error): io_error (file missing/unreadable), limit_exceeded (file or
// image over `limits`), format_error (not Part-10, truncated or corrupt data, tags
// inconsistent with each other or with the pixel data; the message says which),
// unsupported (transfer syntax, no pixel data, modality, colour, multi-frame, bit depth:
// well-formed but not a single grayscale radiograph; the message names the override),
// out_of_memory.
// Thread-safety: reentrant (one GDCM reader per call; GDCM's diagnostics to stderr are
// switched off once, process-wide). Input buffers are not retained.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "dicom/dicom_image.h"
#include "image/decode_limits.h"

namespace m4cxr {

DicomImage read_dicom_memory(const uint8_t* data, size_t size, const DicomOptions& options = DicomOptions{},
                             const DecodeLimits& limits = DecodeLimits{});

DicomImage read_dicom_file(const std::string& path, const DicomOptions& options = DicomOptions{},
                           const DecodeLimits& limits = DecodeLimits{});

// True when `data` starts like a DICOM Part-10 file (128-byte preamble, then "DICM").
bool looks_like_dicom(const uint8_t* data, size_t size) noexcept;

}  // namespace m4cxr
