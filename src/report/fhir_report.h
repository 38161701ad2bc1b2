// A FHIR R4 Bundle (type "collection") for a result: a DiagnosticReport (status
// preliminary, category radiology, a LOINC code for a chest X-ray report, the text as
// conclusion and as a text/plain presentedForm, the study and the patient referenced by
// their DICOM identifiers when the images came from DICOM), one Observation per finding
// (present/absent, the model's label score as a component, boxes as an extension), and a
// Device naming the engine and model. Every resource the model asserted carries the
// security label AIAST ("artificial intelligence asserted", v3-ObservationValue).
// Checked against the official FHIR R4 JSON schema by tests/report/validate_fhir.py.
#pragma once

#include <string>

#include "report/structured_report.h"

namespace m4cxr {

// The bundle as JSON text (2-space indent). Throws Error(invalid_argument) for an empty
// `issued`.
std::string make_fhir_bundle(const StructuredReportInput& in);

}  // namespace m4cxr
