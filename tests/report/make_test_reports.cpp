// Writes FHIR bundles and DICOM SR files from made-up results (no patient data) for
// validate_reports.py: a grounded finding on one DICOM image, a follow-up report over a
// prior and a current two-view study, and a cancelled classification of a non-DICOM image.
// Usage: make_test_reports OUTDIR  (writes OUTDIR/<case>.json and OUTDIR/<case>.dcm).
#include <cstdio>
#include <fstream>
#include <string>

#include "report/dicom_sr.h"
#include "report/fhir_report.h"

using namespace m4cxr;

namespace {

ReportImage dicom_image(const std::string& study, const std::string& series, const std::string& sop,
                        const std::string& date, const std::string& view) {
  ReportImage im;
  im.dicom = true;
  im.study_instance_uid = study;
  im.series_instance_uid = series;
  im.sop_instance_uid = sop;
  im.sop_class_uid = "1.2.840.10008.5.1.4.1.1.1.1";  // DX for presentation
  im.patient_id = "SYNTH-0001";
  im.patient_name = "SYNTHETIC^PATIENT";
  im.patient_birth_date = "19700101";
  im.patient_sex = "O";
  im.study_date = date;
  im.study_time = "120000";
  im.accession_number = "ACC0001";
  im.study_id = "S1";
  im.modality = "DX";
  im.view = view;
  return im;
}

StructuredReportInput base(const std::string& task) {
  StructuredReportInput in;
  in.task = task;
  in.engine_version = "0.2.0";
  in.model_name = "merged_fp32";
  in.runtime_dtype = "float32";
  in.issued = "2026-01-02T03:04:05Z";
  return in;
}

void write(const std::string& dir, const std::string& name, const StructuredReportInput& in) {
  std::ofstream(dir + "/" + name + ".json", std::ios::binary) << make_fhir_bundle(in);
  const auto sr = make_dicom_sr(in);
  std::ofstream(dir + "/" + name + ".dcm", std::ios::binary)
      .write(reinterpret_cast<const char*>(sr.data()), static_cast<std::streamsize>(sr.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_test_reports OUTDIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  try {
    StructuredReportInput grounded = base("ground_findings");
    grounded.text = "Cardiomegaly [12,30,80,75]";
    grounded.images = {dicom_image("1.2.826.0.1.3680043.10.1234.1", "1.2.826.0.1.3680043.10.1234.1.1",
                                   "1.2.826.0.1.3680043.10.1234.1.1.1", "20200101", "PA")};
    grounded.findings = report_findings({"Cardiomegaly"}, {"Cardiomegaly", "Pleural Effusion"}, {0.91, 0.07},
                                        {true, false}, {{"Cardiomegaly", 24.5, 60, 160, 150, 0.8},
                                                        {"Cardiomegaly", 30, 62, 150, 148, 0.4}});
    write(dir, "grounded", grounded);

    StructuredReportInput followup = base("report_followup");
    followup.text = "Compared with the prior study, the cardiac silhouette is unchanged.\nNo pleural effusion. Ünïcode ✓.";
    followup.images = {dicom_image("1.2.826.0.1.3680043.10.1234.4", "1.2.826.0.1.3680043.10.1234.4.1",
                                   "1.2.826.0.1.3680043.10.1234.4.1.1", "20190101", "PA"),
                       dicom_image("1.2.826.0.1.3680043.10.1234.5", "1.2.826.0.1.3680043.10.1234.5.1",
                                   "1.2.826.0.1.3680043.10.1234.5.1.1", "20200101", "PA"),
                       dicom_image("1.2.826.0.1.3680043.10.1234.5", "1.2.826.0.1.3680043.10.1234.5.2",
                                   "1.2.826.0.1.3680043.10.1234.5.2.1", "20200101", "LATERAL")};
    followup.findings = report_findings({"Cardiomegaly", "Support Devices"}, {"Cardiomegaly", "Edema", "Support Devices"},
                                        {0.7, 0.1, 0.55}, {true, false, true}, {});
    write(dir, "followup", followup);

    // A DICOM image without series or SOP class UID (and no study UID): it cannot be
    // referenced, so no evidence or region; the SR gets a study of its own.
    StructuredReportInput sparse = base("ground_finding");
    sparse.text = "Yes. [10,10,40,40].";
    sparse.images = {dicom_image("", "", "1.2.826.0.1.3680043.10.1234.2.1.1", "20200101", "PA")};
    sparse.images[0].sop_class_uid.clear();
    sparse.findings = report_findings({}, {}, {}, {}, {{"edema", 5, 5, 20, 20, 0.5}});
    write(dir, "sparse", sparse);

    StructuredReportInput plain = base("classify");
    plain.text = "";
    plain.cancelled = true;
    plain.images = {ReportImage{}};
    plain.findings = report_findings({}, {"Atelectasis", "Pneumothorax"}, {0.2, 0.01}, {false, false}, {});
    write(dir, "plain", plain);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_test_reports: %s\n", e.what());
    return 1;
  }
  return 0;
}
