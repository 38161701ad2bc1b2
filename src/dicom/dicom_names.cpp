#include "dicom/dicom_image.h"

namespace m4cxr {

const char* dicom_conversion_name(DicomConversion c) noexcept {
  switch (c) {
    case DicomConversion::mimic_jpg: return "mimic_jpg";
    case DicomConversion::voi: return "voi";
    case DicomConversion::min_max: return "min_max";
  }
  return "?";
}

const char* view_class_name(ViewClass v) noexcept {
  switch (v) {
    case ViewClass::pa: return "PA";
    case ViewClass::ap: return "AP";
    case ViewClass::lateral: return "LATERAL";
    case ViewClass::other: return "OTHER";
    case ViewClass::unknown: return "";
  }
  return "";
}

}  // namespace m4cxr
