#include "report/fhir_report.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace m4cxr {

namespace {

using Json = nlohmann::ordered_json;

const char* const kAiAsserted = "AIAST";
// Extension carrying a box on a source image (no FHIR R4 element holds image regions).
const char* const kImageRegionUrl = "urn:m4cxr:fhir:StructureDefinition:image-region";

Json ai_meta() {
  return {{"security",
           Json::array({{{"system", "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"},
                         {"code", kAiAsserted},
                         {"display", "artificial intelligence asserted"}}})}};
}

// DICOM UIDs are OIDs; FHIR writes them "urn:oid:..." (FHIR oid type: no leading zeros).
bool is_oid(const std::string& uid) {
  if (uid.empty() || uid.size() > 64) return false;
  size_t start = 0;
  for (;;) {
    const size_t dot = uid.find('.', start);
    const std::string part = uid.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos) return false;
    if (part.size() > 1 && part[0] == '0') return false;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return uid[0] >= '0' && uid[0] <= '2';
}

// DICOM DA (YYYYMMDD) -> FHIR date; "" when not a plain date.
std::string fhir_date(const std::string& da) {
  if (da.size() != 8 || da.find_first_not_of("0123456789") != std::string::npos) return "";
  return da.substr(0, 4) + "-" + da.substr(4, 2) + "-" + da.substr(6, 2);
}

Json study_reference(const ReportImage& im) {
  Json ref{{"type", "ImagingStudy"}};
  ref["identifier"] = {{"system", "urn:dicom:uid"}, {"value", "urn:oid:" + im.study_instance_uid}};
  return ref;
}

Json patient_reference(const ReportImage& im) {
  return {{"type", "Patient"}, {"identifier", {{"value", im.patient_id}}}};
}

Json box_extension(const ReportBox& b, const ReportImage* image) {
  Json parts = Json::array();
  if (image != nullptr && is_oid(image->sop_instance_uid))
    parts.push_back({{"url", "sopInstanceUid"}, {"valueOid", "urn:oid:" + image->sop_instance_uid}});
  parts.push_back({{"url", "x1"}, {"valueDecimal", b.x1}});
  parts.push_back({{"url", "y1"}, {"valueDecimal", b.y1}});
  parts.push_back({{"url", "x2"}, {"valueDecimal", b.x2}});
  parts.push_back({{"url", "y2"}, {"valueDecimal", b.y2}});
  parts.push_back({{"url", "probability"}, {"valueDecimal", b.probability}});
  return {{"url", kImageRegionUrl}, {"extension", std::move(parts)}};
}

}  // namespace

std::string make_fhir_bundle(const StructuredReportInput& in) {
  if (in.issued.empty()) fail(Status::invalid_argument, "the report's issue time is empty");
  const auto study = current_study_images(in);
  const ReportImage* first = study.empty() ? nullptr : study.front();
  // Boxes refer to the task's first image.
  const ReportImage* box_image = !in.images.empty() && in.images.front().dicom ? &in.images.front() : nullptr;
  const bool has_patient = first != nullptr && !first->patient_id.empty();
  const bool has_study = first != nullptr && is_oid(first->study_instance_uid);
  const std::string date = first != nullptr ? fhir_date(first->study_date) : "";

  Json entries = Json::array();
  auto add = [&](Json resource) {
    const std::string url = "urn:uuid:" + random_uuid();
    entries.push_back({{"fullUrl", url}, {"resource", std::move(resource)}});
    return url;
  };

  Json device{{"resourceType", "Device"}};
  device["status"] = "active";
  device["manufacturer"] = "m4cxr";
  device["deviceName"] = Json::array({{{"name", "m4cxr"}, {"type", "manufacturer-name"}},
                                      {{"name", "M4CXR " + in.model_name}, {"type", "model-name"}}});
  device["type"] = {{"text", "AI model generating chest radiograph reports (M4CXR multimodal LLM)"}};
  device["version"] = Json::array({{{"type", {{"text", "m4cxr engine"}}}, {"value", in.engine_version}},
                                   {{"type", {{"text", "model checkpoint"}}}, {"value", in.model_name}},
                                   {{"type", {{"text", "runtime dtype"}}}, {"value", in.runtime_dtype}}});
  const std::string device_url = add(std::move(device));

  Json results = Json::array();
  for (const auto& f : in.findings) {
    Json obs{{"resourceType", "Observation"}, {"meta", ai_meta()}, {"status", "preliminary"}};
    obs["category"] = Json::array({{{"coding", Json::array({{{"system", "http://terminology.hl7.org/CodeSystem/observation-category"},
                                                            {"code", "imaging"},
                                                            {"display", "Imaging"}}})}}});
    obs["code"] = {{"text", f.label}};
    if (has_patient) obs["subject"] = patient_reference(*first);
    if (!date.empty()) obs["effectiveDateTime"] = date;
    obs["issued"] = in.issued;
    obs["valueCodeableConcept"] = {
        {"coding", Json::array({{{"system", "http://snomed.info/sct"},
                                 {"code", f.present ? "52101004" : "2667000"},
                                 {"display", f.present ? "Present" : "Absent"}}})},
        {"text", f.present ? "present" : "absent"}};
    if (has_study) obs["derivedFrom"] = Json::array({study_reference(*first)});
    obs["device"] = {{"reference", device_url}};
    if (f.scored)
      obs["component"] = Json::array(
          {{{"code", {{"text", "model label score (probability the model names this finding)"}}},
            {"valueQuantity", {{"value", f.score}, {"unit", "1"}, {"system", "http://unitsofmeasure.org"}, {"code", "1"}}}}});
    if (!f.boxes.empty()) {
      Json ext = Json::array();
      for (const auto& b : f.boxes) ext.push_back(box_extension(b, box_image));
      obs["extension"] = std::move(ext);
    }
    results.push_back({{"reference", add(std::move(obs))}, {"display", f.label}});
  }

  Json report{{"resourceType", "DiagnosticReport"}, {"meta", ai_meta()}};
  report["status"] = in.cancelled ? "partial" : "preliminary";
  report["category"] = Json::array({{{"coding", Json::array({{{"system", "http://terminology.hl7.org/CodeSystem/v2-0074"},
                                                             {"code", "RAD"},
                                                             {"display", "Radiology"}}})}}});
  // Two or more views: LOINC's "XR Chest 2 Views"; one view (or not DICOM, views unknown):
  // the generic imaging-study document code, with the body part in the text.
  if (study.size() >= 2)
    report["code"] = {{"coding", Json::array({{{"system", "http://loinc.org"}, {"code", "36643-5"}, {"display", "XR Chest 2 Views"}}})},
                      {"text", "Chest X-ray report"}};
  else
    report["code"] = {{"coding", Json::array({{{"system", "http://loinc.org"}, {"code", "18748-4"}, {"display", "Diagnostic imaging study"}}})},
                      {"text", "Chest X-ray report"}};
  if (has_patient) report["subject"] = patient_reference(*first);
  if (!date.empty()) report["effectiveDateTime"] = date;
  report["issued"] = in.issued;
  if (!results.empty()) report["result"] = std::move(results);
  if (has_study) report["imagingStudy"] = Json::array({study_reference(*first)});
  if (!in.text.empty()) report["conclusion"] = in.text;
  Json form{{"contentType", "text/plain; charset=utf-8"}, {"language", "en"}};
  if (!in.text.empty()) form["data"] = base64_encode(in.text);  // base64Binary may not be empty
  form["title"] = "AI-generated preliminary report (m4cxr " + in.engine_version + ")";
  report["presentedForm"] = Json::array({std::move(form)});
  const std::string report_url = add(std::move(report));
  (void)report_url;
  // The report first: readers expect the bundle's main resource at the top.
  std::rotate(entries.begin(), entries.end() - 1, entries.end());

  Json bundle{{"resourceType", "Bundle"}, {"meta", ai_meta()}, {"type", "collection"}, {"timestamp", in.issued}};
  bundle["entry"] = std::move(entries);
  return bundle.dump(2);
}

}  // namespace m4cxr
