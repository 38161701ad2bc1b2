// Stored grayscale values -> the model's 8-bit input (issue 13, part 2).
//
// Every mode first applies the Modality LUT (v * RescaleSlope + RescaleIntercept,
// PS3.3 §C.11.1) and ends by inverting MONOCHROME1 (y -> 255 - y), so bone is bright as
// in MONOCHROME2. Then:
//
// * mimic_jpg (default) reproduces how MIMIC-CXR-JPG, M4CXR's main training set, was
//   made from the MIMIC-CXR DICOMs. Johnson et al., "MIMIC-CXR-JPG, a large publicly
//   available database of labeled chest radiographs", arXiv:1901.07042 (2019), and the
//   PhysioNet page of MIMIC-CXR-JPG (doi:10.13026/8360-t248, "Image processing"):
//   pixel data read with pydicom, values normalised to 8 bits by the image's minimum and
//   maximum, MONOCHROME1 inverted, histogram equalisation (OpenCV equalizeHist), saved as
//   JPEG with quality 95. The authors' conversion script is not public (we found no
//   copy of it), so two details are our choice and may differ by one grey level from
//   theirs: normalised values are rounded to nearest (y = floor(255*(v-min)/(max-min)
//   + 0.5)), and the Modality LUT is applied first (pydicom's pixel_array does not apply
//   it; with a positive slope min-max normalisation makes this irrelevant). The JPEG
//   step is not reproduced (m4cxr does not add compression loss).
//     y = equalizeHist(invert_if_MONOCHROME1(round(255 * (m - min) / (max - min))))
// * voi: what a radiologist's viewer shows: the file's VOI LUT Sequence (first LUT,
//   voi_lut.h), else its first Window Center / Window Width with its VOI LUT Function
//   (voi_window.h), else min_max.
// * min_max: as mimic_jpg without the histogram equalisation.
// A constant image maps to 0 (255 for MONOCHROME1) before equalisation.
//
// Pure function; reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dicom/dicom_image.h"
#include "dicom/voi_lut.h"

namespace m4cxr {

struct GrayConversionInput {
  double rescale_slope = 1, rescale_intercept = 0;  // validated: finite, slope != 0
  bool monochrome1 = false;
  bool has_window = false;
  double window_center = 0, window_width = 0;
  std::string voi_function;  // "" = LINEAR
  bool has_lut = false;       // the first VOI LUT of (0028,3010), used before the window
  VoiLut lut;
};

// `stored`: the frame's stored values (stored_pixels.h); |values| <= 2^16. Fills the
// conversion fields of `record` (conversion, window, value range, inverted, equalized).
// Throws Error(format_error) for a bad slope/intercept or window, Error(unsupported) for
// an unknown VOI LUT Function (voi mode only).
std::vector<uint8_t> convert_to_gray8(const std::vector<int32_t>& stored, const GrayConversionInput& input,
                                      DicomConversion mode, DicomConversionRecord& record);

}  // namespace m4cxr
