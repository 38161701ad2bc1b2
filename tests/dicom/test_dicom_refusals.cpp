// What is refused unless overridden (multi-frame, modality, colour), what is always
// refused (no pixel data, not Part-10), identifiers and the resolved view.
#include <doctest/doctest.h>

#include <string>

#include "common/error.h"
#include "dicom/dicom_reader.h"
#include "dicom_writer.h"

using namespace m4cxr;
using namespace m4cxr_test;

namespace {

SyntheticDicom base(uint32_t seed = 31) {
  SyntheticDicom s;
  s.values = synthetic_values(s.width, s.height, 0, 4095, seed);
  return s;
}

Status status_of(const std::vector<uint8_t>& bytes, const DicomOptions& o, std::string* message = nullptr) {
  try {
    read_dicom_memory(bytes.data(), bytes.size(), o);
    return Status::ok;
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.status();
  }
}

}  // namespace

TEST_CASE("identifiers and view are kept") {
  SyntheticDicom s = base();
  s.view_position = "LL";
  const auto bytes = make_dicom(s);
  const DicomImage d = read_dicom_memory(bytes.data(), bytes.size());
  CHECK(d.identity.study_instance_uid == s.study_uid);
  CHECK(d.identity.series_instance_uid == s.series_uid);
  CHECK(d.identity.sop_instance_uid == s.sop_uid);
  CHECK(d.identity.patient_id == s.patient_id);
  CHECK(d.identity.view_position == "LL");
  CHECK(d.identity.view == ViewClass::lateral);
  CHECK(d.identity.view_source == "ViewPosition");
  CHECK(d.identity.study_date == s.study_date);
  CHECK(d.identity.modality == "DX");
}

TEST_CASE("multi-frame objects are refused unless allow_multiframe, which uses the first frame") {
  SyntheticDicom s;
  s.frames = 3;
  for (int f = 0; f < 3; ++f) {
    auto v = synthetic_values(s.width, s.height, 0, 4095, 40 + f);
    s.values.insert(s.values.end(), v.begin(), v.end());
  }
  const auto bytes = make_dicom(s);
  std::string msg;
  CHECK(status_of(bytes, DicomOptions{}, &msg) == Status::unsupported);
  CHECK(msg.find("3 frames") != std::string::npos);
  DicomOptions o;
  o.allow_multiframe = true;
  o.conversion = DicomConversion::min_max;
  const DicomImage d = read_dicom_memory(bytes.data(), bytes.size(), o);
  CHECK(d.record.frames == 3);
  SyntheticDicom first = s;
  first.frames = 1;
  first.values.resize(static_cast<size_t>(s.width) * s.height);
  const auto one = make_dicom(first);
  CHECK(read_dicom_memory(one.data(), one.size(), o).rgb.pixels == d.rgb.pixels);
}

TEST_CASE("non-radiograph modalities are refused unless allow_any_modality") {
  SyntheticDicom s = base();
  s.modality = "CT";
  const auto bytes = make_dicom(s);
  std::string msg;
  CHECK(status_of(bytes, DicomOptions{}, &msg) == Status::unsupported);
  CHECK(msg.find("'CT'") != std::string::npos);
  DicomOptions o;
  o.allow_any_modality = true;
  CHECK(status_of(bytes, o) == Status::ok);
  s.modality = "CR";
  CHECK(status_of(make_dicom(s), DicomOptions{}) == Status::ok);
}

TEST_CASE("SOP classes other than CR, DX and secondary capture are refused, even with allow_any_modality") {
  SyntheticDicom s = base();
  s.sop_class = "1.2.840.10008.5.1.4.1.1.2";  // CT Image Storage
  s.modality = "CT";
  const auto bytes = make_dicom(s);
  DicomOptions o;
  o.allow_any_modality = true;
  std::string msg;
  CHECK(status_of(bytes, o, &msg) == Status::unsupported);
  CHECK(msg.find("1.2.840.10008.5.1.4.1.1.2") != std::string::npos);
}

TEST_CASE("colour images are refused unless allow_color (8-bit RGB, used as it is)") {
  SyntheticDicom s;
  s.photometric = "RGB";
  s.bits_allocated = s.bits_stored = 8;
  s.high_bit = 7;
  const size_t n = static_cast<size_t>(s.width) * s.height;
  for (size_t i = 0; i < 3 * n; ++i) s.values.push_back(static_cast<int32_t>((i * 7) % 256));
  const auto bytes = make_dicom(s);
  std::string msg;
  CHECK(status_of(bytes, DicomOptions{}, &msg) == Status::unsupported);
  CHECK(msg.find("RGB") != std::string::npos);
  DicomOptions o;
  o.allow_color = true;
  const DicomImage d = read_dicom_memory(bytes.data(), bytes.size(), o);
  REQUIRE(d.rgb.pixels.size() == 3 * n);
  for (size_t i = 0; i < 3 * n; ++i) CHECK(d.rgb.pixels[i] == s.values[i]);
  CHECK(d.record.conversion == "color");
}

TEST_CASE("missing pixel data is refused") {
  SyntheticDicom s = base();
  s.omit_pixel_data = true;
  std::string msg;
  const Status st = status_of(make_dicom(s), DicomOptions{}, &msg);
  CHECK(st == Status::unsupported);
  CHECK(msg.find("no pixel data") != std::string::npos);
}

TEST_CASE("the view falls back to other tags, then stays unknown") {
  SyntheticDicom s = base();
  s.view_position = "";
  s.series_description = "CHEST PA";
  const auto a = make_dicom(s);
  const DicomImage d = read_dicom_memory(a.data(), a.size());
  CHECK(d.identity.view == ViewClass::pa);
  CHECK(d.identity.view_source == "SeriesDescription");
  s.series_description = "CHEST";
  const auto b = make_dicom(s);
  CHECK(read_dicom_memory(b.data(), b.size()).identity.view == ViewClass::unknown);
}

TEST_CASE("sizes over the limits are refused before decoding") {
  SyntheticDicom s = base();
  const auto bytes = make_dicom(s);
  DecodeLimits l;
  l.max_pixels = 100;
  try {
    read_dicom_memory(bytes.data(), bytes.size(), DicomOptions{}, l);
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.status() == Status::limit_exceeded);
  }
  l = DecodeLimits{};
  l.max_file_bytes = 100;
  CHECK_THROWS_AS(read_dicom_memory(bytes.data(), bytes.size(), DicomOptions{}, l), Error);
}

TEST_CASE("files: missing is an IO error, the message names the path") {
  try {
    read_dicom_file("/nonexistent/x.dcm");
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.status() == Status::io_error);
    CHECK(std::string(e.what()).find("/nonexistent/x.dcm") != std::string::npos);
  }
}
