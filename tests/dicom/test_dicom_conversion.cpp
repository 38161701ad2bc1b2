// 8-bit conversion of DICOM pixels against independent per-pixel computations
// (dicom_reference.h): MIMIC-CXR-JPG default, min-max, VOI window; Modality LUT,
// MONOCHROME1, BitsStored/HighBit masking and signed pixels.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include "dicom/dicom_reader.h"
#include "common/error.h"
#include "dicom/equalize_hist.h"
#include "dicom/stored_pixels.h"
#include "dicom_reference.h"
#include "dicom_writer.h"

using namespace m4cxr;
using namespace m4cxr_test;

namespace {

std::vector<uint8_t> red_channel(const RgbImage& im) {
  std::vector<uint8_t> g(static_cast<size_t>(im.width) * im.height);
  for (size_t i = 0; i < g.size(); ++i) {
    REQUIRE(im.pixels[3 * i] == im.pixels[3 * i + 1]);
    REQUIRE(im.pixels[3 * i] == im.pixels[3 * i + 2]);
    g[i] = im.pixels[3 * i];
  }
  return g;
}

DicomImage read(const SyntheticDicom& s, DicomConversion c = DicomConversion::mimic_jpg) {
  const auto bytes = make_dicom(s);
  DicomOptions o;
  o.conversion = c;
  return read_dicom_memory(bytes.data(), bytes.size(), o);
}

}  // namespace

TEST_CASE("equalize_hist matches a per-pixel computation of OpenCV's equalizeHist") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<uint8_t> img(300 + trial * 37);
    const int lo = static_cast<int>(rng() % 100), span = 1 + static_cast<int>(rng() % 150);
    for (auto& v : img) v = static_cast<uint8_t>(lo + rng() % span);
    auto ours = img;
    equalize_hist(ours);
    CHECK(ours == reference_equalize(img));
    CHECK(*std::max_element(ours.begin(), ours.end()) == 255);
    CHECK(*std::min_element(ours.begin(), ours.end()) == 0);
  }
  std::vector<uint8_t> flat(50, 77);
  auto f = flat;
  equalize_hist(f);
  CHECK(f == flat);  // one value: OpenCV leaves it as it is
}

TEST_CASE("default conversion is MIMIC-CXR-JPG's: min-max to 8 bits, then histogram equalisation") {
  SyntheticDicom s;
  s.width = 40;
  s.height = 30;
  s.values = synthetic_values(s.width, s.height, 37, 3900, 3);
  const DicomImage d = read(s);
  const auto expected = reference_equalize(reference_min_max(reference_modality(s.values, 1, 0), false));
  CHECK(red_channel(d.rgb) == expected);
  CHECK(d.record.conversion == "mimic_jpg");
  CHECK(d.record.equalized);
  CHECK_FALSE(d.record.inverted);
  CHECK(d.rgb.source_depth == SourceDepth::bits16);
}

TEST_CASE("MONOCHROME1 is inverted before the equalisation") {
  SyntheticDicom s;
  s.photometric = "MONOCHROME1";
  s.values = synthetic_values(s.width, s.height, 0, 4095, 4);
  const DicomImage d = read(s);
  CHECK(red_channel(d.rgb) == reference_equalize(reference_min_max(reference_modality(s.values, 1, 0), true)));
  CHECK(d.record.inverted);
  const DicomImage mm = read(s, DicomConversion::min_max);
  CHECK(red_channel(mm.rgb) == reference_min_max(reference_modality(s.values, 1, 0), true));
  CHECK_FALSE(mm.record.equalized);
}

TEST_CASE("Modality LUT (rescale slope/intercept, also negative) comes before min-max") {
  SyntheticDicom s;
  s.values = synthetic_values(s.width, s.height, 100, 2000, 5);
  s.slope = "-0.5";
  s.intercept = "1024";
  const DicomImage d = read(s, DicomConversion::min_max);
  CHECK(red_channel(d.rgb) == reference_min_max(reference_modality(s.values, -0.5, 1024), false));
  CHECK(d.record.rescale_slope == -0.5);
  CHECK(d.record.rescale_intercept == 1024);
  CHECK(d.record.value_min == doctest::Approx(1024 - 0.5 * 2000));
}

TEST_CASE("bits outside BitsStored are masked off") {
  SyntheticDicom s;
  s.bits_stored = 10;
  s.high_bit = 9;
  s.garbage_high_bits = 0xFC00;
  s.values = synthetic_values(s.width, s.height, 0, 1023, 6);
  const DicomImage d = read(s, DicomConversion::min_max);
  CHECK(red_channel(d.rgb) == reference_min_max(reference_modality(s.values, 1, 0), false));
}

TEST_CASE("extract_stored_values: HighBit positions the value, signed values are sign-extended") {
  PixelLayout l;
  l.width = 3;
  l.height = 1;
  l.bits_allocated = 16;
  l.bits_stored = 10;
  l.high_bit = 12;  // bits 3..12
  l.is_signed = true;
  const int32_t values[3] = {-512, 0, 511};
  std::vector<uint8_t> buf;
  for (int32_t v : values) {
    const uint16_t w = static_cast<uint16_t>(((static_cast<uint32_t>(v) & 0x3ff) << 3) | 0xE007);
    buf.push_back(static_cast<uint8_t>(w & 0xff));
    buf.push_back(static_cast<uint8_t>(w >> 8));
  }
  CHECK(extract_stored_values(buf.data(), buf.size(), l) == std::vector<int32_t>{-512, 0, 511});
  CHECK_THROWS_AS(extract_stored_values(buf.data(), buf.size() - 1, l), Error);
  l.high_bit = 8;  // below BitsStored - 1
  CHECK_THROWS_AS(validate_pixel_layout(l), Error);
}

TEST_CASE("HighBit other than BitsStored - 1 is refused before GDCM sees it (GDCM asserts on it)") {
  SyntheticDicom s;
  s.bits_stored = 10;
  s.high_bit = 12;
  s.values = synthetic_values(s.width, s.height, 0, 1023, 6);
  const auto bytes = make_dicom(s);
  try {
    read_dicom_memory(bytes.data(), bytes.size());
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.status() == Status::unsupported);
    CHECK(std::string(e.what()).find("HighBit 12") != std::string::npos);
  }
}

TEST_CASE("signed pixels are sign-extended from BitsStored") {
  SyntheticDicom s;
  s.bits_stored = 12;
  s.high_bit = 11;
  s.is_signed = true;
  s.garbage_high_bits = 0xF000;
  s.values = synthetic_values(s.width, s.height, -2048, 2047, 8);
  const DicomImage d = read(s, DicomConversion::min_max);
  CHECK(red_channel(d.rgb) == reference_min_max(reference_modality(s.values, 1, 0), false));
  CHECK(d.record.signed_pixels);
  CHECK(d.record.value_min == -2048);
}

TEST_CASE("8-bit pixel data") {
  SyntheticDicom s;
  s.bits_allocated = 8;
  s.bits_stored = 8;
  s.high_bit = 7;
  s.values = synthetic_values(s.width, s.height, 20, 200, 9);
  const DicomImage d = read(s);
  CHECK(red_channel(d.rgb) == reference_equalize(reference_min_max(reference_modality(s.values, 1, 0), false)));
  CHECK(d.rgb.source_depth == SourceDepth::bits8);
}

TEST_CASE("voi: the file's window centre/width (LINEAR), min-max when there is none") {
  SyntheticDicom s;
  s.values = synthetic_values(s.width, s.height, 0, 4095, 10);
  s.slope = "2";
  s.intercept = "-100";
  s.window_center = "3000\\2000";  // the first of several windows is used
  s.window_width = "2500\\1000";
  const DicomImage d = read(s, DicomConversion::voi);
  std::vector<uint8_t> expected;
  for (double m : reference_modality(s.values, 2, -100)) expected.push_back(reference_linear_window(m, 3000, 2500));
  CHECK(red_channel(d.rgb) == expected);
  CHECK(d.record.conversion == "voi");
  CHECK(d.record.window_center == 3000);
  CHECK(d.record.window_width == 2500);
  CHECK(d.record.voi_function == "LINEAR");

  s.window_center.clear();
  s.window_width.clear();
  const DicomImage none = read(s, DicomConversion::voi);
  CHECK(none.record.conversion == "min_max");
  CHECK(red_channel(none.rgb) == reference_min_max(reference_modality(s.values, 2, -100), false));
}

TEST_CASE("voi: SIGMOID and LINEAR_EXACT follow PS3.3 C.11.2.1.3") {
  SyntheticDicom s;
  s.values = synthetic_values(s.width, s.height, 0, 4095, 11);
  s.window_center = "2048";
  s.window_width = "1000";
  s.voi_function = "SIGMOID";
  const DicomImage d = read(s, DicomConversion::voi);
  const auto g = red_channel(d.rgb);
  for (size_t i = 0; i < g.size(); ++i) {
    const double y = 255.0 / (1 + std::exp(-4 * (s.values[i] - 2048.0) / 1000));
    CHECK(g[i] == static_cast<uint8_t>(std::floor(y + 0.5)));
  }
  s.voi_function = "LINEAR_EXACT";
  const auto e = red_channel(read(s, DicomConversion::voi).rgb);
  for (size_t i = 0; i < e.size(); ++i) {
    const double x = s.values[i];
    const double y = x <= 2048 - 500 ? 0 : x > 2048 + 500 ? 255 : ((x - 2048) / 1000 + 0.5) * 255;
    CHECK(e[i] == static_cast<uint8_t>(std::floor(y + 0.5)));
  }
}

TEST_CASE("voi: the VOI LUT Sequence comes before the window (PS3.3 C.11.2.1.1)") {
  SyntheticDicom s;
  s.values = synthetic_values(s.width, s.height, 0, 4095, 12);
  s.slope = "1";
  s.intercept = "-1000";  // the LUT maps modality values -1000 .. 3095
  s.window_center = "100";
  s.window_width = "50";
  s.voi_lut_first = static_cast<int>(static_cast<int16_t>(-800));
  s.voi_lut_bits = 12;
  for (int i = 0; i < 3000; ++i) s.voi_lut.push_back(static_cast<uint16_t>((i * 7919) % 4096));  // not monotone
  const DicomImage d = read(s, DicomConversion::voi);
  CHECK(d.record.conversion == "voi");
  CHECK(d.record.voi_function == "LUT");
  const auto g = red_channel(d.rgb);
  for (size_t i = 0; i < g.size(); ++i) {
    const int64_t m = s.values[i] - 1000;
    int64_t k = m - (-800);
    k = k < 0 ? 0 : (k > 2999 ? 2999 : k);
    const double y = 255.0 * s.voi_lut[static_cast<size_t>(k)] / 4095.0;
    CHECK(g[i] == static_cast<uint8_t>(std::floor(y + 0.5)));
  }
  // the default conversion ignores it
  CHECK(read(s).record.conversion == "mimic_jpg");
  // a LUT whose data does not match its descriptor is FORMAT
  s.voi_lut_bits = 17;
  const auto bytes = make_dicom(s);
  DicomOptions o;
  o.conversion = DicomConversion::voi;
  CHECK_THROWS_AS(read_dicom_memory(bytes.data(), bytes.size(), o), Error);
}
