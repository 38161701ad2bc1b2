// Structured reports through the C API (issue 13, parts 5-7): every promise of
// m4cxr_report_export_options_init, m4cxr_result_to_fhir, m4cxr_result_to_dicom_sr and
// m4cxr_free in m4cxr.h. The documents' validity against the FHIR R4 schema, dciodvfy and
// dsrdump is tested in tests/report and tests/cli (test_cli_dicom.py).
#include <cstring>
#include <set>
#include <string>

#include "capi_support.h"
#include "dicom_writer.h"

using namespace capi_test;
using namespace m4cxr_test;

namespace {

m4cxr_image* dicom_image(SyntheticDicom& s) {
  s.width = 48;
  s.height = 40;
  s.sop_uid = "1.2.826.0.1.3680043.10.1234.8.1";
  s.values = synthetic_values(s.width, s.height, 0, 4095, 81);
  const auto bytes = make_dicom(s);
  m4cxr_image* im = nullptr;
  REQUIRE_MESSAGE(m4cxr_image_from_dicom_memory(model(), bytes.data(), bytes.size(), nullptr, &im) == M4CXR_OK,
                  m4cxr_last_error());
  return im;
}

nlohmann::json fhir_of(const m4cxr_result* r, const m4cxr_report_export_options* o = nullptr) {
  char* json = nullptr;
  REQUIRE_MESSAGE(m4cxr_result_to_fhir(r, o, &json) == M4CXR_OK, m4cxr_last_error());
  REQUIRE(json != nullptr);
  auto j = nlohmann::json::parse(json);
  m4cxr_free(json);
  return j;
}

std::string sr_of(const m4cxr_result* r) {
  uint8_t* data = nullptr;
  size_t size = 0;
  REQUIRE_MESSAGE(m4cxr_result_to_dicom_sr(r, nullptr, &data, &size) == M4CXR_OK, m4cxr_last_error());
  REQUIRE(data != nullptr);
  std::string bytes(reinterpret_cast<const char*>(data), size);
  m4cxr_free(data);
  return bytes;
}

bool ai_asserted(const nlohmann::json& resource) {
  for (const auto& s : resource["meta"]["security"])
    if (s["code"] == "AIAST" && s["system"] == "http://terminology.hl7.org/CodeSystem/v3-ObservationValue") return true;
  return false;
}

}  // namespace

TEST_CASE("capi report export: options init as the other option structs") {
  m4cxr_report_export_options o;
  std::memset(&o, 0x5a, sizeof o);
  REQUIRE(m4cxr_report_export_options_init(&o, sizeof o) == M4CXR_OK);
  CHECK(o.struct_size == sizeof o);
  CHECK(o.issued == nullptr);
  CHECK(m4cxr_report_export_options_init(nullptr, sizeof o) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(m4cxr_report_export_options_init(&o, sizeof o + 8) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(m4cxr_report_export_options_init(&o, 4) == M4CXR_ERR_INVALID_ARGUMENT);
  m4cxr_free(nullptr);  // ignored
}

TEST_CASE("capi report export: a grounded DICOM image to FHIR and SR, with its study, patient and boxes") {
  SyntheticDicom s;
  m4cxr_image* im = dicom_image(s);
  m4cxr_session* session = nullptr;
  REQUIRE(m4cxr_session_create(model(), &session) == M4CXR_OK);
  m4cxr_generation_options g = greedy(40);
  g.constrained = 1;
  m4cxr_task* task = nullptr;
  REQUIRE_MESSAGE(m4cxr_ground_organ(session, im, "lung", &g, &task) == M4CXR_OK, m4cxr_last_error());
  Run run;
  drive(task, run);
  const size_t boxes = m4cxr_result_box_count(run.result);

  m4cxr_report_export_options o;
  m4cxr_report_export_options_default(&o);
  o.issued = "2026-02-03T04:05:06Z";
  const auto bundle = fhir_of(run.result, &o);
  CHECK(bundle["resourceType"] == "Bundle");
  CHECK(bundle["timestamp"] == "2026-02-03T04:05:06Z");
  const auto& report = bundle["entry"][0]["resource"];
  CHECK(report["resourceType"] == "DiagnosticReport");
  CHECK(report["status"] == "preliminary");
  CHECK(report["issued"] == "2026-02-03T04:05:06Z");
  CHECK(ai_asserted(report));
  CHECK(report["conclusion"] == m4cxr_result_text(run.result));
  CHECK(report["imagingStudy"][0]["identifier"]["value"] == "urn:oid:" + s.study_uid);
  CHECK(report["subject"]["identifier"]["value"] == s.patient_id);
  size_t drawn = 0;
  std::string device_version;
  for (const auto& e : bundle["entry"]) {
    const auto& r = e["resource"];
    if (r["resourceType"] == "Device") device_version = r["version"][0]["value"];
    if (r["resourceType"] != "Observation") continue;
    CHECK(ai_asserted(r));
    for (const auto& ext : r.value("extension", nlohmann::json::array())) {
      ++drawn;
      CHECK(ext["extension"][0]["valueOid"] == "urn:oid:" + s.sop_uid);
    }
  }
  CHECK(drawn == boxes);
  CHECK(device_version == m4cxr_version_string());
  // New UUIDs on every call.
  CHECK(fhir_of(run.result, &o)["entry"][0]["fullUrl"] != bundle["entry"][0]["fullUrl"]);
  CHECK(bundle["entry"][0]["fullUrl"].get<std::string>().rfind("urn:uuid:", 0) == 0);

  const std::string sr = sr_of(run.result);
  REQUIRE(sr.size() > 132);
  CHECK(sr.compare(128, 4, "DICM") == 0);
  CHECK(sr.find("1.2.840.10008.5.1.4.1.1.88.33") != std::string::npos);  // Comprehensive SR
  CHECK(sr.find(s.study_uid) != std::string::npos);
  CHECK(sr.find(s.sop_uid) != std::string::npos);
  CHECK(sr.find("SYNTHETIC^IMAGE") != std::string::npos);  // the patient module is copied ...
  CHECK(run.json.dump().find("SYNTHETIC^IMAGE") == std::string::npos);  // ... but names stay out of results
  // New UIDs every call.
  CHECK(sr_of(run.result) != sr);

  m4cxr_image_free(im);
  m4cxr_session_free(session);
}

TEST_CASE("capi report export: a classification of a non-DICOM image has no subject and one observation per label") {
  m4cxr_image* png = image("gray8_73x101.png");
  m4cxr_session* session = nullptr;
  REQUIRE(m4cxr_session_create(model(), &session) == M4CXR_OK);
  m4cxr_generation_options g = greedy(20);
  g.constrained = 1;
  const char* labels[] = {"edema", "nodule", "pneumothorax"};
  m4cxr_task* task = nullptr;
  REQUIRE(m4cxr_classify(session, png, labels, 3, &g, &task) == M4CXR_OK);
  Run run;
  drive(task, run);
  const auto bundle = fhir_of(run.result);
  const auto& report = bundle["entry"][0]["resource"];
  CHECK_FALSE(report.contains("subject"));
  CHECK_FALSE(report.contains("imagingStudy"));
  CHECK(report["code"]["coding"][0]["code"] == "18748-4");
  REQUIRE(report["result"].size() == 3);
  std::set<std::string> present;
  for (size_t i = 0; i < m4cxr_result_finding_count(run.result); ++i) present.insert(m4cxr_result_finding(run.result, i));
  for (const auto& e : bundle["entry"]) {
    const auto& r = e["resource"];
    if (r["resourceType"] != "Observation") continue;
    const bool is_present = r["valueCodeableConcept"]["coding"][0]["code"] == "52101004";
    CHECK(is_present == (present.count(r["code"]["text"]) == 1));
    CHECK(r["component"][0]["valueQuantity"]["value"].get<double>() >= 0);
  }
  const std::string sr = sr_of(run.result);
  CHECK(sr.compare(128, 4, "DICM") == 0);
  m4cxr_image_free(png);
  m4cxr_session_free(session);
}

TEST_CASE("capi report export: errors") {
  char* json = reinterpret_cast<char*>(1);
  CHECK(m4cxr_result_to_fhir(nullptr, nullptr, &json) == M4CXR_ERR_INVALID_HANDLE);
  CHECK(json == nullptr);
  uint8_t* data = reinterpret_cast<uint8_t*>(1);
  size_t size = 7;
  CHECK(m4cxr_result_to_dicom_sr(nullptr, nullptr, &data, &size) == M4CXR_ERR_INVALID_HANDLE);
  CHECK(data == nullptr);
  CHECK(size == 0);

  m4cxr_image* png = image("gray8_73x101.png");
  m4cxr_session* session = nullptr;
  REQUIRE(m4cxr_session_create(model(), &session) == M4CXR_OK);
  const m4cxr_generation_options g = greedy(2);
  m4cxr_task* task = nullptr;
  REQUIRE(m4cxr_vqa(session, png, "Is there a pneumothorax?", &g, &task) == M4CXR_OK);
  Run run;
  drive(task, run);
  CHECK(m4cxr_result_to_fhir(run.result, nullptr, nullptr) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(m4cxr_result_to_dicom_sr(run.result, nullptr, &data, nullptr) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(m4cxr_result_to_dicom_sr(run.result, nullptr, nullptr, &size) == M4CXR_ERR_INVALID_ARGUMENT);
  m4cxr_report_export_options o;
  m4cxr_report_export_options_default(&o);
  for (const char* bad : {"2026-02-03", "2026-02-03T04:05:06", "2026-13-03T04:05:06Z", "2026-02-03T04:05:06+01:00", ""}) {
    o.issued = bad;
    CHECK(m4cxr_result_to_fhir(run.result, &o, &json) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(std::string(m4cxr_last_error()).find("issued") != std::string::npos);
    CHECK(m4cxr_result_to_dicom_sr(run.result, &o, &data, &size) == M4CXR_ERR_INVALID_ARGUMENT);
  }
  o.issued = nullptr;
  o.struct_size = sizeof o + 4;
  CHECK(m4cxr_result_to_fhir(run.result, &o, &json) == M4CXR_ERR_INVALID_ARGUMENT);
  // A freed result
  m4cxr_result* freed = run.result;
  run.result = nullptr;
  m4cxr_result_free(freed);
  CHECK(m4cxr_result_to_fhir(freed, nullptr, &json) == M4CXR_ERR_INVALID_HANDLE);
  m4cxr_image_free(png);
  m4cxr_session_free(session);
}
