#include "report/dicom_sr.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <sstream>

#include <gdcmDataSet.h>
#include <gdcmFileMetaInformation.h>
#include <gdcmItem.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmWriter.h>

#include "common/error.h"

namespace m4cxr {

namespace {

const char* const kComprehensiveSr = "1.2.840.10008.5.1.4.1.1.88.33";
const char* const kLocalScheme = "99M4CXR";  // local coding scheme (PS3.16 8.2: "99" prefix)

struct Code {
  std::string value, scheme, meaning;
};

// Pads to even length as DICOM requires (NUL for UIDs, space otherwise).
void put(gdcm::DataSet& ds, uint16_t g, uint16_t e, gdcm::VR vr, std::string value) {
  if (value.size() % 2) value += (vr == gdcm::VR::UI) ? '\0' : ' ';
  gdcm::DataElement de(gdcm::Tag(g, e));
  de.SetVR(vr);
  de.SetByteValue(value.data(), static_cast<uint32_t>(value.size()));
  ds.Replace(de);
}

void put_sequence(gdcm::DataSet& ds, uint16_t g, uint16_t e, const std::vector<gdcm::DataSet>& items) {
  gdcm::SmartPointer<gdcm::SequenceOfItems> sq = new gdcm::SequenceOfItems;
  sq->SetLengthToUndefined();
  for (const auto& nested : items) {
    gdcm::Item item;
    item.SetVLToUndefined();
    item.SetNestedDataSet(nested);
    sq->AddItem(item);
  }
  gdcm::DataElement de(gdcm::Tag(g, e));
  de.SetVR(gdcm::VR::SQ);
  de.SetValue(*sq);
  de.SetVLToUndefined();
  ds.Replace(de);
}

std::string truncate(const std::string& s, size_t n) { return s.size() > n ? s.substr(0, n) : s; }

gdcm::DataSet code_item(const Code& c) {
  gdcm::DataSet ds;
  put(ds, 0x0008, 0x0100, gdcm::VR::SH, truncate(c.value, 16));
  put(ds, 0x0008, 0x0102, gdcm::VR::SH, c.scheme);
  put(ds, 0x0008, 0x0104, gdcm::VR::LO, truncate(c.meaning, 64));
  return ds;
}

// A content item: relationship (empty for the root), value type, concept name.
gdcm::DataSet content_item(const char* relationship, const char* value_type, const Code* concept) {
  gdcm::DataSet ds;
  if (*relationship) put(ds, 0x0040, 0xA010, gdcm::VR::CS, relationship);
  put(ds, 0x0040, 0xA040, gdcm::VR::CS, value_type);
  if (concept != nullptr) put_sequence(ds, 0x0040, 0xA043, {code_item(*concept)});
  return ds;
}

gdcm::DataSet text_item(const char* relationship, const Code& concept, const std::string& text) {
  gdcm::DataSet ds = content_item(relationship, "TEXT", &concept);
  put(ds, 0x0040, 0xA160, gdcm::VR::UT, text);
  return ds;
}

gdcm::DataSet code_value_item(const char* relationship, const Code& concept, const Code& value) {
  gdcm::DataSet ds = content_item(relationship, "CODE", &concept);
  put_sequence(ds, 0x0040, 0xA168, {code_item(value)});
  return ds;
}

// DS is at most 16 characters.
std::string ds_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.8g", v);
  if (std::string(buf).size() > 16) std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

gdcm::DataSet num_item(const char* relationship, const Code& concept, double value, const Code& unit) {
  gdcm::DataSet ds = content_item(relationship, "NUM", &concept);
  gdcm::DataSet measured;
  put_sequence(measured, 0x0040, 0x08EA, {code_item(unit)});
  put(measured, 0x0040, 0xA30A, gdcm::VR::DS, ds_number(value));
  put_sequence(ds, 0x0040, 0xA300, {measured});
  return ds;
}

gdcm::DataSet sop_reference(const ReportImage& im) {
  gdcm::DataSet ds;
  put(ds, 0x0008, 0x1150, gdcm::VR::UI, im.sop_class_uid);
  put(ds, 0x0008, 0x1155, gdcm::VR::UI, im.sop_instance_uid);
  return ds;
}

// A closed POLYLINE around the box: column\row pairs, (0,0) the top-left corner of the
// top-left pixel (PS3.3 C.18.6.1.2), which is how m4cxr's pixel boxes are measured.
gdcm::DataSet scoord_item(const ReportBox& b, const ReportImage& im) {
  const Code region{"111030", "DCM", "Image Region"};
  gdcm::DataSet ds = content_item("INFERRED FROM", "SCOORD", &region);
  put(ds, 0x0070, 0x0023, gdcm::VR::CS, "POLYLINE");
  const float pts[10] = {float(b.x1), float(b.y1), float(b.x2), float(b.y1), float(b.x2),
                         float(b.y2), float(b.x1), float(b.y2), float(b.x1), float(b.y1)};
  gdcm::DataElement de(gdcm::Tag(0x0070, 0x0022));
  de.SetVR(gdcm::VR::FL);
  de.SetByteValue(reinterpret_cast<const char*>(pts), sizeof pts);  // little endian host (x86, arm64)
  ds.Replace(de);
  gdcm::DataSet image = content_item("SELECTED FROM", "IMAGE", nullptr);
  put_sequence(image, 0x0008, 0x1199, {sop_reference(im)});
  put_sequence(ds, 0x0040, 0xA730, {image});
  return ds;
}

// A local code for a finding's name: the letters and digits, upper-case, at most 16.
Code finding_code(const std::string& label) {
  std::string v;
  for (char c : label)
    if (std::isalnum(static_cast<unsigned char>(c)) && v.size() < 16)
      v += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (v.empty()) v = "FINDING";
  return {v, kLocalScheme, label.empty() ? "finding" : label};
}

// Current Requested Procedure Evidence / Pertinent Other Evidence: study -> series -> SOP.
std::vector<gdcm::DataSet> evidence(const std::vector<const ReportImage*>& images) {
  std::vector<gdcm::DataSet> studies;
  std::vector<std::string> study_uids;
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string& st = images[i]->study_instance_uid;
    if (std::find(study_uids.begin(), study_uids.end(), st) != study_uids.end()) continue;
    study_uids.push_back(st);
    std::vector<std::string> series_uids;
    std::vector<gdcm::DataSet> series_items;
    for (size_t j = i; j < images.size(); ++j) {
      if (images[j]->study_instance_uid != st) continue;
      const std::string& se = images[j]->series_instance_uid;
      if (std::find(series_uids.begin(), series_uids.end(), se) != series_uids.end()) continue;
      series_uids.push_back(se);
      std::vector<gdcm::DataSet> sops;
      for (size_t k = j; k < images.size(); ++k)
        if (images[k]->study_instance_uid == st && images[k]->series_instance_uid == se)
          sops.push_back(sop_reference(*images[k]));
      gdcm::DataSet series;
      put(series, 0x0020, 0x000E, gdcm::VR::UI, se);
      put_sequence(series, 0x0008, 0x1199, sops);
      series_items.push_back(std::move(series));
    }
    gdcm::DataSet study;
    put(study, 0x0020, 0x000D, gdcm::VR::UI, st);
    put_sequence(study, 0x0008, 0x1115, series_items);
    studies.push_back(std::move(study));
  }
  return studies;
}

// "2026-12-05T03:52:36Z" -> DA "20261205", TM "035236".
void split_issued(const std::string& iso, std::string& da, std::string& tm) {
  std::string digits;
  for (char c : iso)
    if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
  if (digits.size() < 14) fail(Status::invalid_argument, "the report's issue time is not YYYY-MM-DDThh:mm:ss: " + iso);
  da = digits.substr(0, 8);
  tm = digits.substr(8, 6);
}

}  // namespace

std::vector<uint8_t> make_dicom_sr(const StructuredReportInput& in) {
  if (in.issued.empty()) fail(Status::invalid_argument, "the report's issue time is empty");
  std::string content_date, content_time;
  split_issued(in.issued, content_date, content_time);
  // Only instances with all four UIDs can be referenced (evidence, IMAGE items: type 1).
  auto referable = [](const ReportImage& im) {
    return im.dicom && !im.study_instance_uid.empty() && !im.series_instance_uid.empty() &&
           !im.sop_instance_uid.empty() && !im.sop_class_uid.empty();
  };
  const auto all_current = current_study_images(in);
  const ReportImage* first = all_current.empty() ? nullptr : all_current.front();
  std::vector<const ReportImage*> study, other;
  for (const ReportImage* im : all_current)
    if (referable(*im)) study.push_back(im);
  for (const auto& im : in.images)
    if (referable(im) && (first == nullptr || im.study_instance_uid != first->study_instance_uid)) other.push_back(&im);
  // Boxes are drawn on the task's first image.
  const ReportImage* box_image = !in.images.empty() && referable(in.images.front()) ? &in.images.front() : nullptr;
  const std::string study_uid =
      first != nullptr && !first->study_instance_uid.empty() ? first->study_instance_uid : random_dicom_uid();

  gdcm::DataSet ds;
  put(ds, 0x0008, 0x0005, gdcm::VR::CS, "ISO_IR 192");  // UTF-8: the report text
  put(ds, 0x0008, 0x0012, gdcm::VR::DA, content_date);
  put(ds, 0x0008, 0x0013, gdcm::VR::TM, content_time);
  put(ds, 0x0008, 0x0016, gdcm::VR::UI, kComprehensiveSr);
  const std::string sop_instance = random_dicom_uid();
  put(ds, 0x0008, 0x0018, gdcm::VR::UI, sop_instance);
  // Patient and General Study modules: those of the source study (type 2: empty if unknown).
  put(ds, 0x0008, 0x0020, gdcm::VR::DA, first ? first->study_date : "");
  put(ds, 0x0008, 0x0023, gdcm::VR::DA, content_date);
  put(ds, 0x0008, 0x0030, gdcm::VR::TM, first ? first->study_time : "");
  put(ds, 0x0008, 0x0033, gdcm::VR::TM, content_time);
  put(ds, 0x0008, 0x0050, gdcm::VR::SH, first ? first->accession_number : "");
  put(ds, 0x0008, 0x0060, gdcm::VR::CS, "SR");
  put(ds, 0x0008, 0x0070, gdcm::VR::LO, "m4cxr");
  put(ds, 0x0008, 0x0090, gdcm::VR::PN, first ? first->referring_physician_name : "");
  put(ds, 0x0008, 0x103E, gdcm::VR::LO, "AI-generated preliminary report (M4CXR)");
  put(ds, 0x0008, 0x1090, gdcm::VR::LO, truncate("M4CXR " + in.model_name, 64));
  put_sequence(ds, 0x0008, 0x1111, {});  // Referenced Performed Procedure Step (type 2)
  put(ds, 0x0010, 0x0010, gdcm::VR::PN, first ? first->patient_name : "");
  put(ds, 0x0010, 0x0020, gdcm::VR::LO, first ? first->patient_id : "");
  put(ds, 0x0010, 0x0030, gdcm::VR::DA, first ? first->patient_birth_date : "");
  put(ds, 0x0010, 0x0040, gdcm::VR::CS, first ? first->patient_sex : "");
  put(ds, 0x0018, 0x1020, gdcm::VR::LO, truncate("m4cxr " + in.engine_version, 64));
  put(ds, 0x0020, 0x000D, gdcm::VR::UI, study_uid);
  put(ds, 0x0020, 0x000E, gdcm::VR::UI, random_dicom_uid());
  put(ds, 0x0020, 0x0010, gdcm::VR::SH, first ? first->study_id : "");
  put(ds, 0x0020, 0x0011, gdcm::VR::IS, "1");
  put(ds, 0x0020, 0x0013, gdcm::VR::IS, "1");
  // SR Document General module.
  put(ds, 0x0040, 0xA491, gdcm::VR::CS, in.cancelled ? "PARTIAL" : "COMPLETE");
  put(ds, 0x0040, 0xA493, gdcm::VR::CS, "UNVERIFIED");
  put_sequence(ds, 0x0040, 0xA372, {});  // Performed Procedure Code Sequence (type 2)
  {  // the local scheme of finding names, declared (SOP Common module)
    gdcm::DataSet scheme;
    put(scheme, 0x0008, 0x0102, gdcm::VR::SH, kLocalScheme);
    put(scheme, 0x0008, 0x0115, gdcm::VR::ST, "m4cxr finding names (labels as the model's questions list them)");
    put(scheme, 0x0008, 0x0116, gdcm::VR::ST, "m4cxr");
    put_sequence(ds, 0x0008, 0x0110, {scheme});
  }
  if (!study.empty()) put_sequence(ds, 0x0040, 0xA375, evidence(study));
  if (!other.empty()) put_sequence(ds, 0x0040, 0xA385, evidence(other));

  // SR Document Content module: the root container and its tree.
  const Code title{"18748-4", "LN", "Diagnostic Imaging Report"};
  put(ds, 0x0040, 0xA040, gdcm::VR::CS, "CONTAINER");
  put_sequence(ds, 0x0040, 0xA043, {code_item(title)});
  put(ds, 0x0040, 0xA050, gdcm::VR::CS, "SEPARATE");
  std::vector<gdcm::DataSet> root;
  // The observer is a device (TID 1004): who asserted every item below.
  root.push_back(code_value_item("HAS OBS CONTEXT", {"121005", "DCM", "Observer Type"}, {"121007", "DCM", "Device"}));
  {
    gdcm::DataSet uid = content_item("HAS OBS CONTEXT", "UIDREF", nullptr);
    put_sequence(uid, 0x0040, 0xA043, {code_item({"121012", "DCM", "Device Observer UID"})});
    put(uid, 0x0040, 0xA124, gdcm::VR::UI, random_dicom_uid());
    root.push_back(std::move(uid));
  }
  root.push_back(text_item("HAS OBS CONTEXT", {"121013", "DCM", "Device Observer Name"}, "m4cxr " + in.engine_version));
  root.push_back(text_item("HAS OBS CONTEXT", {"121014", "DCM", "Device Observer Manufacturer"}, "m4cxr"));
  root.push_back(text_item("HAS OBS CONTEXT", {"121015", "DCM", "Device Observer Model Name"}, "M4CXR " + in.model_name));

  const Code finding{"121071", "DCM", "Finding"};
  std::vector<gdcm::DataSet> findings;
  findings.push_back(text_item("CONTAINS", finding, in.text.empty() ? "(no text)" : in.text));
  const Code present{"52101004", "SCT", "Present"}, absent{"2667000", "SCT", "Absent"};
  const Code score{"SCORE", kLocalScheme, "Model label score"}, no_units{"1", "UCUM", "no units"};
  for (const auto& f : in.findings) {
    gdcm::DataSet item = code_value_item("CONTAINS", finding_code(f.label), f.present ? present : absent);
    std::vector<gdcm::DataSet> children;
    if (f.scored) children.push_back(num_item("HAS PROPERTIES", score, f.score, no_units));
    if (box_image != nullptr)
      for (const auto& b : f.boxes) children.push_back(scoord_item(b, *box_image));
    if (!children.empty()) put_sequence(item, 0x0040, 0xA730, children);
    findings.push_back(std::move(item));
  }
  gdcm::DataSet container = content_item("CONTAINS", "CONTAINER", nullptr);
  put_sequence(container, 0x0040, 0xA043, {code_item({"121070", "DCM", "Findings"})});
  put(container, 0x0040, 0xA050, gdcm::VR::CS, "SEPARATE");
  put_sequence(container, 0x0040, 0xA730, findings);
  root.push_back(std::move(container));
  put_sequence(ds, 0x0040, 0xA730, root);

  gdcm::Writer w;
  gdcm::File& file = w.GetFile();
  file.SetDataSet(ds);
  gdcm::FileMetaInformation& meta = file.GetHeader();
  meta.SetDataSetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  meta.SetSourceApplicationEntityTitle("M4CXR");
  std::ostringstream os;
  w.SetStream(os);
  w.SetCheckFileMetaInformation(true);  // fills group 0002 from the SOP class and instance
  if (!w.Write()) fail(Status::internal, "GDCM could not write the DICOM SR");
  const std::string bytes = os.str();
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

}  // namespace m4cxr
