// A DICOM Comprehensive SR (PS3.3 A.35.3) for a result, written with GDCM's data set
// writer (the toolkit m4cxr already reads DICOM with): same Study Instance UID and Patient
// module as the source images, a new series (Modality SR), the source instances in the
// Current Requested Procedure Evidence Sequence (a follow-up's prior study in Pertinent
// Other Evidence), and a content tree:
//   CONTAINER "Diagnostic Imaging Report" (LN 18748-4)
//     HAS OBS CONTEXT  observer: a device (m4cxr, model, version, observer UID)
//     CONTAINS CONTAINER "Findings" (DCM 121070)
//       CONTAINS TEXT "Finding" (DCM 121071): the report text
//       CONTAINS CODE <finding> = Present / Absent (SNOMED CT 52101004 / 2667000)
//         HAS PROPERTIES NUM "Model label score" (when scored)
//         INFERRED FROM SCOORD POLYLINE "Image Region" (DCM 111030): each box, closed
//           rectangle in the source image's pixel coordinates (PS3.3 C.18.6.1.2)
//           SELECTED FROM IMAGE: the source SOP instance
// Completion PARTIAL for a cancelled task, else COMPLETE; always UNVERIFIED (no
// physician signed it). Checked by dciodvfy and dsrdump in tests/report.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "report/structured_report.h"

namespace m4cxr {

// The Part-10 file (explicit VR little endian). Throws Error(invalid_argument) for an
// empty `issued`, Error(internal) if GDCM cannot write it.
std::vector<uint8_t> make_dicom_sr(const StructuredReportInput& in);

}  // namespace m4cxr
