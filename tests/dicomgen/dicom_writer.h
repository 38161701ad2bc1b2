// Synthetic DICOM files for the tests (no patient data anywhere: every image and
// identifier is made up here). Written with GDCM's own writer and encoders
// (ImageChangeTransferSyntax: JPEG, JPEG-LS, JPEG 2000, RLE); the deflated syntax is made
// with zlib from the explicit little endian file, as PS3.5 §A.5 describes. Test-only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace m4cxr_test {

namespace ts {
inline const char* const implicit_le = "1.2.840.10008.1.2";
inline const char* const explicit_le = "1.2.840.10008.1.2.1";
inline const char* const deflated = "1.2.840.10008.1.2.1.99";
inline const char* const big_endian = "1.2.840.10008.1.2.2";
inline const char* const jpeg_baseline = "1.2.840.10008.1.2.4.50";
inline const char* const jpeg_extended = "1.2.840.10008.1.2.4.51";
inline const char* const jpeg_lossless_p14 = "1.2.840.10008.1.2.4.57";
inline const char* const jpeg_lossless_sv1 = "1.2.840.10008.1.2.4.70";
inline const char* const jpegls_lossless = "1.2.840.10008.1.2.4.80";
inline const char* const jpegls_near = "1.2.840.10008.1.2.4.81";
inline const char* const j2k_lossless = "1.2.840.10008.1.2.4.90";
inline const char* const j2k = "1.2.840.10008.1.2.4.91";
inline const char* const rle = "1.2.840.10008.1.2.5";
}  // namespace ts

struct SyntheticDicom {
  int width = 24, height = 16, frames = 1;
  int bits_allocated = 16, bits_stored = 12, high_bit = 11;
  bool is_signed = false;
  std::string photometric = "MONOCHROME2";  // or MONOCHROME1, RGB
  // Stored sample values, frame after frame (RGB: interleaved). Written into the low
  // bits_stored bits above high_bit - bits_stored + 1; bits above are filled with
  // `garbage_high_bits` to check that readers mask them.
  std::vector<int32_t> values;
  uint16_t garbage_high_bits = 0;
  std::string modality = "DX", view_position = "PA";
  std::string patient_id = "SYNTH-0001", study_uid = "1.2.826.0.1.3680043.10.1234.1",
              series_uid = "1.2.826.0.1.3680043.10.1234.1.1", sop_uid = "1.2.826.0.1.3680043.10.1234.1.1.1";
  std::string study_date = "20200101", study_time = "120000";
  std::string series_description;
  std::string slope, intercept;            // DS text, omitted when empty
  std::string window_center, window_width, voi_function;  // omitted when empty
  std::string transfer_syntax = ts::explicit_le;
  std::vector<uint16_t> voi_lut;  // VOI LUT Sequence (0028,3010) with this LUT when not empty
  int voi_lut_first = 0, voi_lut_bits = 16;
  std::string sop_class;  // (0008,0016); empty: DX (CR for modality CR), multi-frame secondary capture
  bool omit_pixel_data = false;
};

// Values v(x, y) = pattern over [lo, hi] that hits both ends (a gradient with a
// pseudo-random texture), seeded.
std::vector<int32_t> synthetic_values(int width, int height, int32_t lo, int32_t hi, uint32_t seed);

// A MONOCHROME2 image of `bits` stored bits (8 bits allocated up to 8, else 16) in transfer
// syntax `uid`, its values synthetic_values over the whole range.
SyntheticDicom gray_image(const char* uid, int bits, int width, int height, uint32_t seed);

// The Part-10 file. Throws std::runtime_error when GDCM cannot write or encode it.
std::vector<uint8_t> make_dicom(const SyntheticDicom& spec);

void write_file(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace m4cxr_test
