// Histogram equalisation of an 8-bit gray image with the semantics of OpenCV's
// cv::equalizeHist (imgproc/src/histogram.cpp), which produced the MIMIC-CXR-JPG
// training images (see gray_conversion.h). Implemented here so m4cxr needs no OpenCV.
//
// With hist the 256-bin histogram, i the first non-empty bin and N the pixel count:
//   * N == hist[i] (one value only): every pixel becomes i;
//   * otherwise scale = 255.f / (N - hist[i]) (single precision, as OpenCV), lut[i] = 0
//     and for j > i: lut[j] = round_half_even(float(cdf[j] - hist[i]) * scale), where
//     cdf[j] = hist[0] + ... + hist[j] (OpenCV's saturate_cast<uchar>(float) rounds with
//     cvRound, i.e. lrintf in the default rounding mode).
// Pure function; reentrant.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace m4cxr {

// The lookup table equalizeHist builds for `gray` (the image is not changed).
std::array<uint8_t, 256> equalize_hist_lut(const std::vector<uint8_t>& gray);

// Applies equalize_hist_lut(gray) to gray in place.
void equalize_hist(std::vector<uint8_t>& gray);

}  // namespace m4cxr
