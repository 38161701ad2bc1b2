// Every accepted transfer syntax: a synthetic file is encoded with GDCM's own encoders,
// read back and compared with the conversion of the values it was made from (exactly
// for lossless syntaxes, within a tolerance for lossy ones).
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "common/error.h"
#include "dicom/dicom_reader.h"
#include "dicom/transfer_syntax.h"
#include "dicom_reference.h"
#include "dicom_writer.h"

using namespace m4cxr;
using namespace m4cxr_test;

namespace {

struct Case {
  const char* uid;
  bool lossy;
  int bits;  // bits stored the syntax is used with here
};

std::vector<uint8_t> gray_of(const RgbImage& im) {
  std::vector<uint8_t> g(static_cast<size_t>(im.width) * im.height);
  for (size_t i = 0; i < g.size(); ++i) g[i] = im.pixels[3 * i];
  return g;
}

}  // namespace

TEST_CASE("each transfer syntax chest radiographs arrive in decodes to the expected pixels") {
  const Case cases[] = {
      {ts::implicit_le, false, 12},      {ts::explicit_le, false, 12},       {ts::deflated, false, 12},
      {ts::jpeg_baseline, true, 8},      {ts::jpeg_extended, true, 12},      {ts::jpeg_lossless_p14, false, 12},
      {ts::jpeg_lossless_sv1, false, 12}, {ts::jpegls_lossless, false, 12},  {ts::jpegls_near, true, 12},
      {ts::j2k_lossless, false, 12},     {ts::j2k, true, 12},                {ts::rle, false, 12},
  };
  for (const Case& c : cases) {
    const std::string uid = c.uid;
    CAPTURE(uid);
    const SyntheticDicom s = gray_image(c.uid, c.bits, 64, 48, 21);
    const auto bytes = make_dicom(s);
    DicomOptions o;
    o.conversion = DicomConversion::min_max;
    const DicomImage d = read_dicom_memory(bytes.data(), bytes.size(), o);
    CHECK(d.record.transfer_syntax_uid == c.uid);
    CHECK(d.record.transfer_syntax_name == transfer_syntax_name(c.uid));
    CHECK(d.record.lossy_compression == c.lossy);
    REQUIRE(d.rgb.width == s.width);
    REQUIRE(d.rgb.height == s.height);
    const auto expected = reference_min_max(reference_modality(s.values, 1, 0), false);
    const auto got = gray_of(d.rgb);
    if (!c.lossy) {
      CHECK(got == expected);
    } else {
      double sum = 0;
      for (size_t i = 0; i < got.size(); ++i) sum += std::abs(int(got[i]) - int(expected[i]));
      CHECK(sum / got.size() < 6.0);  // lossy: close, not equal
    }
    CHECK(d.identity.sop_instance_uid == s.sop_uid);
  }
}

TEST_CASE("other transfer syntaxes are refused with an error naming them") {
  SyntheticDicom s;
  s.values = synthetic_values(s.width, s.height, 0, 4095, 22);
  s.transfer_syntax = ts::big_endian;
  const auto bytes = make_dicom(s);
  try {
    read_dicom_memory(bytes.data(), bytes.size());
    FAIL("big endian was accepted");
  } catch (const Error& e) {
    CHECK(e.status() == Status::unsupported);
    CHECK(std::string(e.what()).find("1.2.840.10008.1.2.2") != std::string::npos);
    CHECK(std::string(e.what()).find("Big Endian") != std::string::npos);
  }
  CHECK_THROWS_AS(require_accepted_transfer_syntax("1.2.840.10008.1.2.4.201"), Error);
  CHECK(transfer_syntax_name("1.2.840.10008.1.2.4.201").find("High-Throughput") != std::string::npos);
  CHECK(find_accepted_transfer_syntax(std::string("1.2.840.10008.1.2.1") + '\0') != nullptr);
}
