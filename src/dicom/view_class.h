// Which view a chest radiograph is: ViewPosition (0018,5101) first, then the View Code
// Sequence's code meaning (0054,0220 > 0008,0104), then words in Series Description /
// Protocol Name / Acquisition Device Processing Description. Pure functions; reentrant.
#pragma once

#include <string>

#include "dicom/dicom_image.h"

namespace m4cxr {

struct ViewTags {
  std::string view_position;       // (0018,5101)
  std::string view_code_meaning;   // (0054,0220) item 1 (0008,0104)
  std::string series_description;  // (0008,103E)
  std::string protocol_name;       // (0018,1030)
  std::string acquisition_description;  // (0018,1400)
};

// ViewPosition values: PA, AP, LL/RL/LATERAL/LAT -> lateral; other non-empty
// values (e.g. LLD, RLD, OBL) -> other. Code meanings: "postero-anterior",
// "antero-posterior", "... lateral". Free text: the words PA, AP, LAT / LATERAL / LL /
// RL (case-insensitive, whole words). Sets identity.view and identity.view_source.
void resolve_view(const ViewTags& tags, DicomIdentity& identity);

}  // namespace m4cxr
