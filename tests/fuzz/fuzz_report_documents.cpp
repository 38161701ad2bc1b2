// Fuzz target: the structured documents made from a model's output (src/report). The
// input, split at 0x1E bytes, is the report text and then finding labels (every other one
// "written"); each label gets a box. Invariants: document_text gives valid UTF-8 without
// control characters other than tab, LF and CR, and is idempotent; the FHIR bundle is JSON
// whose conclusion is the document text of the input; the DICOM SR is a Part-10 file that
// carries that text.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_support.h"
#include "report/dicom_sr.h"
#include "report/fhir_report.h"

using namespace m4cxr;

namespace {

bool clean_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    for (size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c >> 6) != 2) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || (cp >= 0x7F && cp <= 0x9F)) return false;
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
    i += len;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> parts(1);
  for (size_t i = 0; i < size && parts.size() < 16; ++i) {
    if (data[i] == 0x1E) parts.emplace_back();
    else parts.back() += static_cast<char>(data[i]);
  }
  const std::string cleaned = document_text(parts[0]);
  FUZZ_CHECK(clean_utf8(cleaned));
  FUZZ_CHECK(document_text(cleaned) == cleaned);

  StructuredReportInput in;
  in.task = "report";
  in.text = cleaned;
  in.issued = "2026-01-02T03:04:05Z";
  in.engine_version = "0.0.0";
  in.model_name = "fuzz";
  ReportImage im;
  im.dicom = true;
  im.study_instance_uid = "1.2.3";
  im.series_instance_uid = "1.2.3.1";
  im.sop_instance_uid = "1.2.3.1.1";
  im.sop_class_uid = "1.2.840.10008.5.1.4.1.1.1.1";
  im.patient_id = "FUZZ";
  in.images = {im};
  std::vector<std::string> labels(parts.begin() + 1, parts.end());
  std::vector<double> scores(labels.size(), 0.5);
  std::vector<bool> written;
  std::vector<ReportBox> boxes;
  for (size_t i = 0; i < labels.size(); ++i) {
    written.push_back(i % 2 == 0);
    boxes.push_back({labels[i], 1.0 * i, 2, 3.0 + i, 4, 0.25});
  }
  m4cxr::fuzz::accepts([&] {
    in.findings = report_findings({}, labels, scores, written, boxes);
    for (const auto& f : in.findings) FUZZ_CHECK(clean_utf8(f.label) && !f.label.empty());
    const auto bundle = nlohmann::json::parse(make_fhir_bundle(in));
    const auto& report = bundle.at("entry").at(0).at("resource");
    FUZZ_CHECK(report.at("resourceType") == "DiagnosticReport");
    FUZZ_CHECK(cleaned.empty() ? !report.contains("conclusion") : report.at("conclusion") == cleaned);
    const auto sr = make_dicom_sr(in);
    FUZZ_CHECK(sr.size() > 132 && std::string(sr.begin() + 128, sr.begin() + 132) == "DICM");
    if (!cleaned.empty()) FUZZ_CHECK(std::string(sr.begin(), sr.end()).find(cleaned) != std::string::npos);
  });
  return 0;
}
