// Truncated, garbage and bit-flipped DICOM: always an m4cxr::Error with FORMAT (or
// UNSUPPORTED/LIMIT for a well-formed part), never a crash or another exception.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <random>
#include <string>

#include "common/error.h"
#include "dicom/dicom_reader.h"
#include "dicom_writer.h"

using namespace m4cxr;
using namespace m4cxr_test;

namespace {

// ok or an m4cxr::Error; anything else fails the test.
Status outcome(const std::vector<uint8_t>& bytes) {
  try {
    read_dicom_memory(bytes.data(), bytes.size());
    return Status::ok;
  } catch (const Error& e) {
    return e.status();
  }
}

// A small 8-bit JPEG baseline file, as GDCM's encoder writes it.
std::vector<uint8_t> baseline_jpeg(uint32_t seed) {
  SyntheticDicom s;
  s.width = 16;
  s.height = 16;
  s.bits_allocated = s.bits_stored = 8, s.high_bit = 7;
  s.values = synthetic_values(s.width, s.height, 0, 255, seed);
  s.transfer_syntax = ts::jpeg_baseline;
  return make_dicom(s);
}

}  // namespace

TEST_CASE("not DICOM, empty, garbage: FORMAT errors") {
  CHECK(outcome({}) == Status::format_error);
  CHECK(outcome(std::vector<uint8_t>(100, 0)) == Status::format_error);
  std::vector<uint8_t> junk(4000);
  std::mt19937 rng(1);
  for (auto& b : junk) b = static_cast<uint8_t>(rng());
  CHECK(outcome(junk) == Status::format_error);
  junk[128] = 'D', junk[129] = 'I', junk[130] = 'C', junk[131] = 'M';
  const Status s = outcome(junk);
  CHECK((s == Status::format_error || s == Status::unsupported));
}

TEST_CASE("truncated files of every syntax give a clear error, never a crash") {
  for (const char* uid : {ts::explicit_le, ts::implicit_le, ts::deflated, ts::jpeg_lossless_sv1, ts::jpegls_lossless,
                          ts::j2k_lossless, ts::rle, ts::jpeg_baseline}) {
    CAPTURE(uid);
    SyntheticDicom s;
    s.width = 32;
    s.height = 32;
    if (std::string(uid) == ts::jpeg_baseline) s.bits_allocated = s.bits_stored = 8, s.high_bit = 7;
    s.values = synthetic_values(s.width, s.height, 0, (1 << s.bits_stored) - 1, 50);
    s.transfer_syntax = uid;
    const auto full = make_dicom(s);
    REQUIRE(outcome(full) == Status::ok);
    for (size_t cut = 0; cut < full.size(); cut += 1 + full.size() / 97) {
      const std::vector<uint8_t> part(full.begin(), full.begin() + static_cast<long>(cut));
      const Status st = outcome(part);
      CAPTURE(cut);
      CHECK(st != Status::ok);
    }
  }
}

// GDCM reads group 0002 elements until it meets another group, and asserts (aborting the
// process) when the data ends first: a file that stops right after its meta information,
// or a few bytes into the data set, must be refused before it gets there (found by fuzz_dicom).
TEST_CASE("a file that ends at or just after its meta information: FORMAT, never GDCM's abort") {
  for (const char* uid : {ts::explicit_le, ts::implicit_le, ts::deflated, ts::jpeg_baseline}) {
    CAPTURE(uid);
    SyntheticDicom s;
    s.width = 8;
    s.height = 8;
    s.bits_allocated = s.bits_stored = 8, s.high_bit = 7;
    s.values = synthetic_values(s.width, s.height, 0, 255, 7);
    s.transfer_syntax = uid;
    const auto full = make_dicom(s);
    REQUIRE(outcome(full) == Status::ok);
    // (0002,0000) UL at byte 132: its value at 140 is the length of the rest of the group.
    const size_t meta_end = 144 + (full[140] | (full[141] << 8) | (full[142] << 16) | (size_t(full[143]) << 24));
    REQUIRE(meta_end < full.size());
    for (size_t extra : {size_t(0), size_t(1), size_t(3), size_t(4), size_t(7)}) {
      CAPTURE(extra);
      const std::vector<uint8_t> part(full.begin(), full.begin() + static_cast<long>(meta_end + extra));
      CHECK(outcome(part) == Status::format_error);
    }
  }
}

// GDCM asserts when a file it reads as an image carries the retired Recognition Code
// (0008,0010) with a value that is not ACR-NEMA's: the fuzzer made one by turning the SOP
// Class UID's tag (0008,0016) into (0008,0010).
TEST_CASE("a Recognition Code (0008,0010) that is not ACR-NEMA's: FORMAT, never GDCM's abort") {
  SyntheticDicom s;
  s.width = 8;
  s.height = 8;
  s.values = synthetic_values(s.width, s.height, 0, 4095, 3);
  std::vector<uint8_t> bytes = make_dicom(s);
  REQUIRE(outcome(bytes) == Status::ok);
  const uint8_t sop_class[] = {0x08, 0x00, 0x16, 0x00, 'U', 'I'};
  const auto at = std::search(bytes.begin() + 132, bytes.end(), std::begin(sop_class), std::end(sop_class));
  REQUIRE(at != bytes.end());
  at[2] = 0x10;
  CHECK(outcome(bytes) == Status::format_error);
}

// GDCM's JPEG codec asserts on a DCT frame whose sample precision is not 8, 12 or 16 (ITU
// T.81 allows 8 and 12; GDCM's libjpeg also reads 16); the fuzzer made one with precision 10.
TEST_CASE("a DCT JPEG frame of precision other than 8, 12 or 16, or a progressive one: FORMAT, never GDCM's abort") {
  const std::vector<uint8_t> good = baseline_jpeg(5);
  REQUIRE(outcome(good) == Status::ok);
  const uint8_t sof0[] = {0xFF, 0xC0, 0x00, 0x0B, 0x08};
  const auto at = std::search(good.begin(), good.end(), std::begin(sof0), std::end(sof0));
  REQUIRE(at != good.end());
  const size_t precision = static_cast<size_t>(at - good.begin()) + 4;
  for (uint8_t p : {uint8_t(10), uint8_t(2), uint8_t(15)}) {
    CAPTURE(int(p));
    std::vector<uint8_t> bytes = good;
    bytes[precision] = p;
    CHECK(outcome(bytes) == Status::format_error);
  }
  // A progressive frame (C2) in a lossless file, 16-bit as the fuzzer made it: no accepted
  // syntax uses one (GDCM asserted on it).
  SyntheticDicom l;
  l.width = 16;
  l.height = 16;
  l.values = synthetic_values(l.width, l.height, 0, 4095, 5);
  l.transfer_syntax = ts::jpeg_lossless_sv1;
  std::vector<uint8_t> lossless = make_dicom(l);
  REQUIRE(outcome(lossless) == Status::ok);
  const uint8_t sof3[] = {0xFF, 0xC3, 0x00, 0x0B};
  const auto frame = std::search(lossless.begin(), lossless.end(), std::begin(sof3), std::end(sof3));
  REQUIRE(frame != lossless.end());
  frame[1] = 0xC2;
  frame[4] = 16;
  CHECK(outcome(lossless) == Status::format_error);
}

// GDCM's JPEG source manager loops for ever when libjpeg skips a marker segment past the
// end of the data: the fuzzer's file (tests/fuzz/regressions/dicom/timeout-21fe…) put an
// APP0 segment of 3409 bytes just before EOI. The same shape here is refused up front.
TEST_CASE("a JPEG marker segment after the scan that runs past the fragment: FORMAT, never a hang") {
  std::vector<uint8_t> bytes = baseline_jpeg(9);
  REQUIRE(outcome(bytes) == Status::ok);
  const uint8_t eoi[] = {0xFF, 0xD9};
  const auto end = std::find_end(bytes.begin(), bytes.end(), std::begin(eoi), std::end(eoi));
  REQUIRE(end != bytes.end());
  const size_t at = static_cast<size_t>(end - bytes.begin()) - 4;  // the last scan bytes become FF E0 0D 51
  bytes[at] = 0xFF, bytes[at + 1] = 0xE0, bytes[at + 2] = 0x0D, bytes[at + 3] = 0x51;
  CHECK(outcome(bytes) == Status::format_error);
}

TEST_CASE("bit flips never crash") {
  SyntheticDicom s;
  s.values = synthetic_values(s.width, s.height, 0, 4095, 51);
  for (const char* uid : {ts::explicit_le, ts::jpegls_lossless, ts::j2k_lossless, ts::rle}) {
    s.transfer_syntax = uid;
    const auto full = make_dicom(s);
    std::mt19937 rng(2);
    for (int i = 0; i < 400; ++i) {
      auto b = full;
      const size_t at = 132 + rng() % (b.size() - 132);
      b[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
      (void)outcome(b);  // any status; an exception other than Error fails the test
    }
  }
}

TEST_CASE("pixel data shorter than Rows x Columns say is FORMAT (GDCM would read past it)") {
  SyntheticDicom s;
  s.values = synthetic_values(s.width, s.height, 0, 4095, 52);
  auto bytes = make_dicom(s);
  REQUIRE(outcome(bytes) == Status::ok);
  // Rows (0028,0010) US -> 4 more rows than the pixel data holds; the structure stays valid
  const uint8_t tag[8] = {0x28, 0x00, 0x10, 0x00, 'U', 'S', 2, 0};
  bool patched = false;
  for (size_t i = 132; i + 10 <= bytes.size() && !patched; ++i) {
    if (std::memcmp(&bytes[i], tag, 8) == 0) {
      bytes[i + 8] = static_cast<uint8_t>(s.height + 4);
      patched = true;
    }
  }
  REQUIRE(patched);
  CHECK(outcome(bytes) == Status::format_error);
}

namespace {

// The file's last JPEG end-of-image marker (FF D9), or npos.
size_t last_eoi(const std::vector<uint8_t>& bytes) {
  const uint8_t eoi[] = {0xFF, 0xD9};
  const auto at = std::find_end(bytes.begin(), bytes.end(), std::begin(eoi), std::end(eoi));
  return at == bytes.end() ? std::string::npos : static_cast<size_t>(at - bytes.begin());
}

// The file with its one pixel fragment split in two, the second holding its last `tail`
// bytes (even; a frame may span fragments, the end-of-image marker then in the last one).
std::vector<uint8_t> split_fragment(const std::vector<uint8_t>& bytes, size_t tail) {
  const uint8_t soi[] = {0xFF, 0xD8, 0xFF};
  const size_t data = static_cast<size_t>(std::search(bytes.begin(), bytes.end(), std::begin(soi), std::end(soi)) - bytes.begin());
  REQUIRE(data >= 8);
  REQUIRE((bytes[data - 8] == 0xFE && bytes[data - 7] == 0xFF && bytes[data - 6] == 0x00 && bytes[data - 5] == 0xE0));
  uint32_t len = 0;
  std::memcpy(&len, &bytes[data - 4], 4);
  REQUIRE(tail % 2 == 0);
  REQUIRE(tail < len);
  const size_t k = len - tail;
  auto le32 = [](uint32_t v) { return std::vector<uint8_t>{uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)}; };
  std::vector<uint8_t> out(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(data - 4));
  for (uint8_t b : le32(static_cast<uint32_t>(k))) out.push_back(b);
  out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(data), bytes.begin() + static_cast<std::ptrdiff_t>(data + k));
  for (uint8_t b : {0xFE, 0xFF, 0x00, 0xE0}) out.push_back(b);
  for (uint8_t b : le32(len - static_cast<uint32_t>(k))) out.push_back(b);
  out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(data + k), bytes.end());
  return out;
}

}  // namespace

// GDCM's IJG codec decodes a JPEG frame that stops short of its end-of-image marker (the rest
// filled in) and leaks its decompressor each time: about 750 KB a 12- or 16-bit frame (the
// fuzzer's memory limit found it; tests/fuzz/regressions/dicom/leak-6c65e1…). Such a frame
// is refused; one whose marker is in its last fragment, or followed by zero padding, is not.
TEST_CASE("a JPEG frame cut off before its end-of-image marker: FORMAT; one split over fragments decodes") {
  struct Case {
    const char* uid;
    int bits;
  };
  for (const Case& c : {Case{ts::jpeg_baseline, 8}, Case{ts::jpeg_extended, 12}, Case{ts::jpeg_lossless_p14, 12},
                        Case{ts::jpeg_lossless_sv1, 16}}) {
    const std::string uid = c.uid;
    CAPTURE(uid);
    const std::vector<uint8_t> good = make_dicom(gray_image(c.uid, c.bits, 32, 24, 13));
    REQUIRE(outcome(good) == Status::ok);
    const size_t eoi = last_eoi(good);
    REQUIRE(eoi != std::string::npos);
    std::vector<uint8_t> cut = good;
    cut[eoi] = cut[eoi + 1] = 0x00;  // the marker gone, the lengths unchanged
    std::string message;
    try {
      read_dicom_memory(cut.data(), cut.size());
    } catch (const Error& e) {
      CHECK(e.status() == Status::format_error);
      message = e.what();
    }
    CHECK(message.find("end-of-image") != std::string::npos);
    std::vector<uint8_t> junk = good;
    junk[eoi + 1] = 0xD0;  // a restart marker where the end should be
    CHECK(outcome(junk) == Status::format_error);
    // Split inside the scan: the first fragment has no end-of-image marker, the last has.
    const std::vector<uint8_t> split = split_fragment(good, 40);
    try {
      read_dicom_memory(split.data(), split.size());
    } catch (const Error& e) {
      FAIL_CHECK(std::string(e.what()));
    }
    CHECK(outcome(split_fragment(cut, 40)) == Status::format_error);
  }
}
