// src/report: the findings a structured report lists, the identifiers it makes, and the
// SR read back by GDCM (the validators themselves run in validate_reports.py).
#include <doctest/doctest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "report/dicom_sr.h"
#include "report/fhir_report.h"

using namespace m4cxr;

TEST_CASE("findings: label scores, then unscored findings, then box labels; boxes by label") {
  const auto f = report_findings({"edema", "Nodule"}, {"Edema", "Atelectasis"}, {0.8, 0.2}, {true, false},
                                 {{"EDEMA", 1, 2, 3, 4, 0.5}, {"", 5, 6, 7, 8, 0.25}});
  REQUIRE(f.size() == 4);
  CHECK(f[0].label == "Edema");
  CHECK(f[0].present);
  CHECK(f[0].scored);
  CHECK(f[0].score == 0.8);
  REQUIRE(f[0].boxes.size() == 1);  // "EDEMA" matched case-insensitively
  CHECK(f[0].boxes[0].x2 == 3);
  CHECK_FALSE(f[1].present);
  CHECK(f[2].label == "Nodule");
  CHECK(f[2].present);
  CHECK_FALSE(f[2].scored);
  CHECK(f[3].label == "unspecified region");
  CHECK(f[3].boxes.size() == 1);
}

TEST_CASE("new UIDs are 2.25 decimal UUIDs of at most 64 characters, and distinct") {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const std::string uid = random_dicom_uid();
    CHECK(uid.rfind("2.25.", 0) == 0);
    CHECK(uid.size() <= 64);
    CHECK(uid.find_first_not_of("0123456789", 5) == std::string::npos);
    CHECK((uid.size() == 5 || uid[5] != '0'));
    seen.insert(uid);
  }
  CHECK(seen.size() == 200);
  const std::string u = random_uuid();
  CHECK(u.size() == 36);
  CHECK(u[14] == '4');
}

TEST_CASE("base64 as RFC 4648's test vectors") {
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("foobar") == "Zm9vYmFy");
  CHECK(base64_encode("\xff\xfe") == "//4=");
}

TEST_CASE("the writers refuse a report without an issue time") {
  StructuredReportInput in;
  CHECK_THROWS_AS(make_fhir_bundle(in), Error);
  CHECK_THROWS_AS(make_dicom_sr(in), Error);
  in.issued = "soon";
  CHECK_THROWS_AS(make_dicom_sr(in), Error);
}

TEST_CASE("FHIR: the report text, its findings in order and the study of the last image") {
  StructuredReportInput in;
  in.issued = "2026-01-02T03:04:05Z";
  in.text = "No acute process.";
  in.engine_version = "9.9.9";
  ReportImage prior, cur;
  prior.dicom = cur.dicom = true;
  prior.study_instance_uid = "1.2.3";
  cur.study_instance_uid = "1.2.4";
  cur.patient_id = prior.patient_id = "P1";
  in.images = {prior, cur};
  in.findings = report_findings({}, {"Edema"}, {0.1}, {false}, {});
  const auto j = nlohmann::json::parse(make_fhir_bundle(in));
  const auto& report = j["entry"][0]["resource"];
  CHECK(report["conclusion"] == "No acute process.");
  CHECK(report["imagingStudy"][0]["identifier"]["value"] == "urn:oid:1.2.4");
  CHECK(report["result"].size() == 1);
  CHECK(report["result"][0]["display"] == "Edema");
  CHECK(j["entry"].size() == 3);  // report, observation, device
}

TEST_CASE("document text: control characters and broken UTF-8 become U+FFFD, odd spaces a space") {
  CHECK(document_text("a\tb\nc\r") == "a\tb\nc\r");
  CHECK(document_text(std::string("E~\0 N\x1d", 6)) == "E~\xEF\xBF\xBD N\xEF\xBF\xBD");
  CHECK(document_text("x\xC2\xA0y\xE3\x80\x80z") == "x y z");  // no-break and ideographic spaces
  CHECK(document_text("\xC3\xA9\xE2\x9C\x93") == "\xC3\xA9\xE2\x9C\x93");  // é ✓ kept
  CHECK(document_text("\xC3") == "\xEF\xBF\xBD");          // truncated sequence
  CHECK(document_text("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  CHECK(document_text("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  // Finding names are document text and never blank.
  const auto f = report_findings({" ", std::string("a\x01", 2)}, {}, {}, {}, {});
  REQUIRE(f.size() == 2);
  CHECK(f[0].label == "unspecified finding");
  CHECK(f[1].label == "a\xEF\xBF\xBD");
}
