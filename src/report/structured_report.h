// What a structured report (FHIR DiagnosticReport bundle, DICOM SR) is made from: the
// task's text, findings, label scores and boxes, the DICOM identifiers of its images,
// and who produced it (engine version, model). Plain value types, filled by the C ABI
// from a result (capi/api_report_export.cpp); the writers only read them.
#pragma once

#include <string>
#include <vector>

namespace m4cxr {

// One image of the task. `dicom` false: not read from DICOM (no identifiers).
struct ReportImage {
  bool dicom = false;
  std::string study_instance_uid, series_instance_uid, sop_instance_uid, sop_class_uid;
  std::string patient_id, patient_name, patient_birth_date, patient_sex;
  std::string study_date, study_time, accession_number, study_id, referring_physician_name;
  std::string modality, view;  // view: "PA", "AP", "LATERAL", "OTHER" or ""
};

struct ReportBox {
  std::string label;                 // "" when the task names none
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // original pixels of the task's first image
  double probability = 0;
};

// One finding of the report: a candidate label with its verdict, from the label scores
// (present = the answer names it), the findings list, or the boxes' labels.
struct ReportFinding {
  std::string label;
  bool present = false;
  bool scored = false;  // `score` is the model's label score (tasks/answer_confidence.h)
  double score = 0;
  std::vector<ReportBox> boxes;  // boxes with this label
};

struct StructuredReportInput {
  std::string task;  // "report", "report_followup", "classify", "ground_findings", ...
  std::string text;  // the report / answer text
  std::vector<ReportFinding> findings;
  std::vector<ReportImage> images;  // in the task's image order (a follow-up: prior first)
  std::string engine_version;       // m4cxr_version_string()
  std::string model_name;           // the checkpoint folder's name
  std::string runtime_dtype;        // "bfloat16", "float32", "int8"
  std::string issued;               // when the report was made: YYYY-MM-DDThh:mm:ssZ (UTC)
  bool cancelled = false;           // the task was stopped: the text is incomplete
};

// The findings of a result: one per label score (present when written), then findings
// not among them (present), then box labels not among either (present; "" becomes
// "unspecified region"); each with the boxes whose label matches (case-insensitive).
std::vector<ReportFinding> report_findings(const std::vector<std::string>& findings,
                                           const std::vector<std::string>& scored_labels,
                                           const std::vector<double>& scores, const std::vector<bool>& written,
                                           const std::vector<ReportBox>& boxes);

// The images of the study the report is about: those sharing the study of the task's
// last image (a follow-up lists the prior study first), in task order. Empty when the
// last image was not read from DICOM.
std::vector<const ReportImage*> current_study_images(const StructuredReportInput& in);

// The current UTC time as YYYY-MM-DDThh:mm:ssZ.
std::string utc_now_iso8601();

}  // namespace m4cxr

namespace m4cxr {

// Text as documents may carry it (model output can hold anything): control characters
// other than tab, LF and CR, and bytes that are not UTF-8, become U+FFFD; Unicode spaces
// other than ' ' (no-break, ideographic, line separator, ...) become ' '. FHIR strings
// and DICOM UT/LO values allow neither.
std::string document_text(const std::string& s);

// A random (version 4) UUID, lower-case hex with dashes.
std::string random_uuid();

// A new DICOM UID under 2.25 (PS3.5 B.2: the decimal value of a random UUID).
std::string random_dicom_uid();

// Standard base64 (RFC 4648, with padding).
std::string base64_encode(const std::string& bytes);

}  // namespace m4cxr
