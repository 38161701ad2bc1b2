#include "dicom/view_class.h"

#include <cctype>
#include <vector>

namespace m4cxr {

namespace {

std::string upper(const std::string& s) {
  std::string u;
  for (char c : s) u += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : upper(s)) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      cur += c;
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

ViewClass from_view_position(const std::string& vp) {
  const std::string v = upper(vp);
  if (v.empty()) return ViewClass::unknown;
  if (v == "PA") return ViewClass::pa;
  if (v == "AP") return ViewClass::ap;
  if (v == "LL" || v == "RL" || v == "LATERAL" || v == "LAT" || v == "LLAT" || v == "RLAT") return ViewClass::lateral;
  return ViewClass::other;
}

ViewClass from_code_meaning(const std::string& meaning) {
  const std::string m = upper(meaning);
  if (m.find("POSTERO-ANTERIOR") != std::string::npos || m.find("POSTEROANTERIOR") != std::string::npos) return ViewClass::pa;
  if (m.find("ANTERO-POSTERIOR") != std::string::npos || m.find("ANTEROPOSTERIOR") != std::string::npos) return ViewClass::ap;
  if (m.find("LATERAL") != std::string::npos && m.find("DECUBITUS") == std::string::npos) return ViewClass::lateral;
  return m.empty() ? ViewClass::unknown : ViewClass::other;
}

ViewClass from_text(const std::string& text) {
  ViewClass found = ViewClass::unknown;
  for (const auto& w : words(text)) {
    ViewClass c = ViewClass::unknown;
    if (w == "PA") c = ViewClass::pa;
    else if (w == "AP") c = ViewClass::ap;
    else if (w == "LAT" || w == "LATERAL" || w == "LL" || w == "RL") c = ViewClass::lateral;
    if (c == ViewClass::unknown) continue;
    if (found != ViewClass::unknown && found != c) return ViewClass::unknown;  // ambiguous ("PA and LAT")
    found = c;
  }
  return found;
}

}  // namespace

void resolve_view(const ViewTags& t, DicomIdentity& id) {
  struct Source {
    ViewClass view;
    const char* tag;
  };
  const Source sources[] = {
      {from_view_position(t.view_position), "ViewPosition"},
      {from_code_meaning(t.view_code_meaning), "ViewCodeSequence"},
      {from_text(t.series_description), "SeriesDescription"},
      {from_text(t.protocol_name), "ProtocolName"},
      {from_text(t.acquisition_description), "AcquisitionDeviceProcessingDescription"},
  };
  for (const auto& s : sources) {
    if (s.view != ViewClass::unknown) {
      id.view = s.view;
      id.view_source = s.tag;
      return;
    }
  }
  id.view = ViewClass::unknown;
  id.view_source.clear();
}

}  // namespace m4cxr
