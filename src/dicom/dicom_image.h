// What m4cxr keeps of a DICOM instance: the 8-bit RGB image the model sees, the
// identifiers results refer to, and a record of how the pixels were converted
// (provenance). Plain value types; thread-safety as for any value type.
#pragma once

#include <string>

#include "image/rgb_image.h"

namespace m4cxr {

// How stored pixel values become the model's 8-bit input (see gray_conversion.h).
enum class DicomConversion {
  mimic_jpg,  // default: as MIMIC-CXR-JPG was made (min-max to 8 bits, MONOCHROME1
              // inverted, histogram equalisation), the data M4CXR was trained on
  voi,        // the file's VOI LUT Sequence, else its window centre/width (VOI LUT Function
              // honoured), else min-max
  min_max,    // min-max to 8 bits, MONOCHROME1 inverted, no equalisation
};

const char* dicom_conversion_name(DicomConversion c) noexcept;

// What the reader refuses unless overridden. Defaults refuse everything that is not one
// single-frame grayscale radiograph.
struct DicomOptions {
  DicomConversion conversion = DicomConversion::mimic_jpg;
  bool allow_multiframe = false;    // use the first frame of a multi-frame object
  bool allow_any_modality = false;  // accept modalities other than CR, DX, RG (and a missing one)
  bool allow_color = false;         // accept 8-bit RGB pixel data, used as it is (no conversion)
};

// Frontal (PA, AP) before lateral: the order of views in a report (issue 13).
enum class ViewClass { pa, ap, lateral, other, unknown };
const char* view_class_name(ViewClass v) noexcept;  // "PA", "AP", "LATERAL", "OTHER", ""

// Identifiers and the view, as read from the file (strings trimmed of DICOM padding;
// characters outside printable ASCII replaced by '?'; empty when the tag is absent).
struct DicomIdentity {
  std::string study_instance_uid, series_instance_uid, sop_instance_uid;
  std::string patient_id;
  std::string study_date, study_time;  // DA, TM as in the file
  std::string modality;
  std::string view_position;           // (0018,5101) as in the file
  std::string instance_number;         // (0020,0013)
  std::string sop_class_uid;           // (0008,0016)
  // Patient and study attributes a DICOM SR of this study repeats (Patient and General
  // Study modules, PS3.3 C.7.1.1 / C.7.2.1). Kept out of the result JSON (no names there).
  std::string patient_name, patient_birth_date, patient_sex;
  std::string accession_number, study_id, referring_physician_name;
  ViewClass view = ViewClass::unknown; // resolved from ViewPosition, then other tags
  std::string view_source;             // the tag `view` came from; empty when unknown
};

// How the pixels were converted (for the result's replay record).
struct DicomConversionRecord {
  std::string transfer_syntax_uid, transfer_syntax_name;
  bool lossy_compression = false;
  std::string photometric;       // MONOCHROME1, MONOCHROME2 or RGB
  int bits_allocated = 0, bits_stored = 0, high_bit = 0;
  bool signed_pixels = false;
  int frames = 1;                // frames in the object (the first one is used)
  double rescale_slope = 1, rescale_intercept = 0;
  std::string conversion;        // what was applied: "mimic_jpg", "voi", "min_max", "color"
  double window_center = 0, window_width = 0;  // voi only
  std::string voi_function;      // voi only: LINEAR, LINEAR_EXACT, SIGMOID, or LUT (the VOI LUT Sequence)
  double value_min = 0, value_max = 0;  // modality values' range (min-max modes)
  bool inverted = false;         // MONOCHROME1 inverted
  bool equalized = false;        // histogram equalisation applied
};

struct DicomImage {
  RgbImage rgb;
  DicomIdentity identity;
  DicomConversionRecord record;
};

}  // namespace m4cxr
