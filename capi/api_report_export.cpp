// C ABI: a result as a FHIR R4 Bundle or a DICOM Comprehensive SR (issue 13, parts 5-7).
// Gathers what the writers in src/report need from the result: its outcome (text,
// findings, label scores, boxes, the images' DICOM source records) and, from its replay
// record, the engine version and model that produced it.
#include <cctype>
#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

#include "api_internal.h"
#include "report/dicom_sr.h"
#include "report/fhir_report.h"

using namespace m4cxr;
using namespace m4cxr_capi;

namespace {

constexpr size_t kExportOptionsV1Size = sizeof(m4cxr_report_export_options);

std::string json_string(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

ReportImage report_image(const std::string& source_json) {
  ReportImage im;
  if (source_json.empty()) return im;
  const auto source = nlohmann::json::parse(source_json);
  const auto& id = source.at("identity");
  im.dicom = true;
  im.study_instance_uid = json_string(id, "study_instance_uid");
  im.series_instance_uid = json_string(id, "series_instance_uid");
  im.sop_instance_uid = json_string(id, "sop_instance_uid");
  im.sop_class_uid = json_string(id, "sop_class_uid");
  im.patient_id = json_string(id, "patient_id");
  im.study_date = json_string(id, "study_date");
  im.study_time = json_string(id, "study_time");
  im.modality = json_string(id, "modality");
  im.view = json_string(id, "view");
  if (auto ps = source.find("patient_study"); ps != source.end()) {
    im.patient_name = json_string(*ps, "patient_name");
    im.patient_birth_date = json_string(*ps, "patient_birth_date");
    im.patient_sex = json_string(*ps, "patient_sex");
    im.accession_number = json_string(*ps, "accession_number");
    im.study_id = json_string(*ps, "study_id");
    im.referring_physician_name = json_string(*ps, "referring_physician_name");
  }
  return im;
}

// "YYYY-MM-DDThh:mm:ssZ" with plausible fields.
bool is_utc_timestamp(const std::string& s) {
  if (s.size() != 20) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const char want = i == 4 || i == 7 ? '-' : i == 10 ? 'T' : i == 13 || i == 16 ? ':' : i == 19 ? 'Z' : '0';
    if (want == '0' ? !std::isdigit(static_cast<unsigned char>(c)) : c != want) return false;
  }
  auto num = [&](size_t at) { return (s[at] - '0') * 10 + (s[at + 1] - '0'); };
  return num(5) >= 1 && num(5) <= 12 && num(8) >= 1 && num(8) <= 31 && num(11) <= 23 && num(14) <= 59 && num(17) <= 59;
}

StructuredReportInput report_input(const ResultObject& res, const m4cxr_report_export_options* options) {
  m4cxr_report_export_options o;
  m4cxr_report_export_options_init(&o, sizeof o);
  if (options != nullptr) read_struct(options, kExportOptionsV1Size, &o, "m4cxr_report_export_options");
  StructuredReportInput in;
  if (o.issued != nullptr) {
    if (!is_utc_timestamp(o.issued))
      fail(Status::invalid_argument, std::string("m4cxr_report_export_options.issued is '") + o.issued +
                                         "'; expected YYYY-MM-DDThh:mm:ssZ (UTC)");
    in.issued = o.issued;
  } else {
    in.issued = utc_now_iso8601();
  }
  const TaskOutcome& out = res.outcome;
  in.task = out.task;
  in.text = document_text(out.text);
  in.cancelled = out.cancelled;
  std::vector<std::string> labels;
  std::vector<double> scores;
  std::vector<bool> written;
  for (const auto& ls : out.label_scores) {
    labels.push_back(ls.label);
    scores.push_back(ls.score);
    written.push_back(ls.written);
  }
  std::vector<ReportBox> boxes;
  for (const auto& b : out.boxes)
    boxes.push_back({b.label, b.pixels.x1, b.pixels.y1, b.pixels.x2, b.pixels.y2, b.probability});
  in.findings = report_findings(out.findings, labels, scores, written, boxes);
  for (const auto& s : out.image_sources) in.images.push_back(report_image(s));
  // Who made it: the result's replay record.
  const auto replay = nlohmann::json::parse(res.json).at("replay");
  in.engine_version = json_string(replay, "m4cxr_version");
  std::string dir = json_string(replay, "model_dir");
  while (!dir.empty() && dir.back() == '/') dir.pop_back();
  in.model_name = dir.substr(dir.find_last_of('/') == std::string::npos ? 0 : dir.find_last_of('/') + 1);
  in.runtime_dtype = json_string(replay, "runtime_dtype");
  return in;
}

// A copy the caller frees with m4cxr_free.
void* malloc_copy(const void* data, size_t size, bool nul) {
  void* p = std::malloc(size + (nul ? 1 : 0) + (size == 0 && !nul ? 1 : 0));
  if (p == nullptr) throw std::bad_alloc();
  if (size) std::memcpy(p, data, size);
  if (nul) static_cast<char*>(p)[size] = '\0';
  return p;
}

}  // namespace

extern "C" {

m4cxr_status m4cxr_report_export_options_init(m4cxr_report_export_options* o, size_t struct_size) {
  return guarded([&]() -> m4cxr_status {
    m4cxr_report_export_options d;
    std::memset(static_cast<void*>(&d), 0, sizeof d);
    return init_struct(o, struct_size, kExportOptionsV1Size, d);
  });
}

m4cxr_status m4cxr_result_to_fhir(const m4cxr_result* r, const m4cxr_report_export_options* options, char** json) {
  return guarded([&]() -> m4cxr_status {
    if (json == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "json is NULL");
    *json = nullptr;
    auto res = require<ResultObject>(r);
    const std::string doc = make_fhir_bundle(report_input(*res, options));
    *json = static_cast<char*>(malloc_copy(doc.data(), doc.size(), true));
    return M4CXR_OK;
  });
}

m4cxr_status m4cxr_result_to_dicom_sr(const m4cxr_result* r, const m4cxr_report_export_options* options, uint8_t** data,
                                      size_t* size) {
  return guarded([&]() -> m4cxr_status {
    if (data == nullptr || size == nullptr) return set_error(M4CXR_ERR_INVALID_ARGUMENT, "data or size is NULL");
    *data = nullptr;
    *size = 0;
    auto res = require<ResultObject>(r);
    const std::vector<uint8_t> file = make_dicom_sr(report_input(*res, options));
    *data = static_cast<uint8_t*>(malloc_copy(file.data(), file.size(), false));
    *size = file.size();
    return M4CXR_OK;
  });
}

void m4cxr_free(void* p) { std::free(p); }

}  // extern "C"
