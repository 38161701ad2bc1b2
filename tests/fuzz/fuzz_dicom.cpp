// Fuzz target: DICOM input (src/dicom). First input byte: the conversion (mod 3) and the
// overrides (bits 2..4: multiframe, any modality, colour); the rest is a Part-10 file ->
// read_dicom_memory. Invariants: an accepted image is within the limits, holds exactly
// width * height * 3 bytes, gray conversions give R = G = B, and every identifier is
// printable ASCII. GDCM must never be reached with input that makes it abort (its
// assertions are on in Debian): the structure and codec-header checks stand before it.
#include "dicom/dicom_reader.h"
#include "fuzz_support.h"

using namespace m4cxr;

namespace {

void check_text(const std::string& s) {
  for (char c : s) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in{data, size};
  const uint8_t mode = in.take_byte();
  DicomOptions o;
  o.conversion = static_cast<DicomConversion>((mode & 3) % 3);
  o.allow_multiframe = (mode & 4) != 0;
  o.allow_any_modality = (mode & 8) != 0;
  o.allow_color = (mode & 16) != 0;
  DecodeLimits l;
  l.max_pixels = 1 << 22;
  l.max_side = 8192;
  l.max_file_bytes = size_t{16} << 20;
  const std::vector<uint8_t> bytes(in.data, in.data + in.size);
  fuzz::accepts([&] {
    const DicomImage d = read_dicom_memory(bytes.data(), bytes.size(), o, l);
    FUZZ_CHECK(d.rgb.width >= 1 && d.rgb.height >= 1);
    FUZZ_CHECK(int64_t{d.rgb.width} * d.rgb.height <= l.max_pixels);
    FUZZ_CHECK(d.rgb.pixels.size() == size_t(d.rgb.width) * size_t(d.rgb.height) * 3);
    if (d.record.conversion != "color") {
      for (size_t i = 0; i < d.rgb.pixels.size(); i += 3)
        FUZZ_CHECK(d.rgb.pixels[i] == d.rgb.pixels[i + 1] && d.rgb.pixels[i] == d.rgb.pixels[i + 2]);
    }
    const DicomIdentity& id = d.identity;
    for (const auto* s : {&id.study_instance_uid, &id.series_instance_uid, &id.sop_instance_uid, &id.patient_id,
                          &id.view_position, &id.study_date, &id.modality})
      check_text(*s);
  });
  return 0;
}
