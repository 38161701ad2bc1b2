#include "dicom/codec_headers.h"

#include <cstring>

#include "common/error.h"

namespace m4cxr {

namespace {

[[noreturn]] void bad(const std::string& codec, const std::string& what) {
  fail(Status::format_error, "DICOM " + codec + " frame header: " + what);
}

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t be32(const uint8_t* p) { return (static_cast<uint32_t>(be16(p)) << 16) | be16(p + 2); }
uint32_t le32(const uint8_t* p) { return static_cast<uint32_t>(p[0] | (p[1] << 8) | (p[2] << 16)) | (static_cast<uint32_t>(p[3]) << 24); }

void check_sizes(const std::string& codec, int64_t w, int64_t h, int64_t comps, int64_t precision, const FrameExpectation& e) {
  if (w != e.width || h != e.height) {
    bad(codec, "codestream is " + std::to_string(w) + "x" + std::to_string(h) + ", the attributes say " +
                   std::to_string(e.width) + "x" + std::to_string(e.height));
  }
  if (comps != e.samples) bad(codec, std::to_string(comps) + " components, SamplesPerPixel is " + std::to_string(e.samples));
  if (precision < 1 || precision > e.bits_allocated) {
    bad(codec, "sample precision " + std::to_string(precision) + " does not fit BitsAllocated " + std::to_string(e.bits_allocated));
  }
}

// JPEG, after the first scan header: libjpeg skips every later marker segment by its
// length, and GDCM's source manager loops for ever on a skip past the end of the data
// (found by fuzz_dicom), so each segment up to EOI must fit in the fragment. In the
// entropy-coded data FF is followed by 00 (stuffing), FF (fill) or a restart marker.
void check_jpeg_after_scan(const uint8_t* d, size_t n, size_t p) {
  while (p + 1 < n) {
    if (d[p] != 0xFF) {
      ++p;
      continue;
    }
    const uint8_t m = d[p + 1];
    if (m == 0xFF) {
      ++p;
      continue;
    }
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
      p += 2;
      continue;
    }
    if (m == 0xD9) return;  // end of image
    if (m == 0xD8) bad("JPEG", "start-of-image marker inside the compressed data");
    if (n - p < 4) bad("JPEG", "marker segment after the scan cut off");
    const size_t len = be16(d + p + 2);
    if (len < 2 || len > n - p - 2) bad("JPEG", "marker segment after the scan runs past the fragment");
    p += 2 + len;
  }
}

// JPEG and JPEG-LS: every marker segment from SOI up to the first scan (SOS). They must
// follow each other with nothing in between and be known: GDCM's IJG codec asserts (aborts)
// when libjpeg warns while reading this header (extraneous bytes before a marker, a JFIF
// major version other than 1, an unknown Adobe transform). One frame header, components
// with sampling factors 1..4 and quantisation tables 0..3; a scan header that fits.
void check_jpeg(const uint8_t* d, size_t n, bool jpeg_ls, const FrameExpectation& e) {
  const std::string codec = jpeg_ls ? "JPEG-LS" : "JPEG";
  if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) bad(codec, "no start-of-image marker");
  size_t p = 2;
  bool sof_seen = false;
  while (true) {
    if (n - p < 2 || d[p] != 0xFF) bad(codec, "bytes between marker segments, or the header is cut off");
    while (n - p >= 2 && d[p + 1] == 0xFF) ++p;  // fill bytes
    if (n - p < 4) bad(codec, "header cut off");
    const uint8_t m = d[p + 1];
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD9)) bad(codec, "unexpected marker before the first scan");
    const size_t len = be16(d + p + 2);
    if (len < 2 || len > n - p - 2) bad(codec, "marker segment runs past the fragment");
    const uint8_t* seg = d + p + 4;
    const size_t body = len - 2;
    const bool sof = jpeg_ls ? m == 0xF7 : (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC);
    if (sof) {
      if (sof_seen) bad(codec, "two frame headers");
      sof_seen = true;
      if (body < 6) bad(codec, "frame header too short");
      const int comps = seg[5];
      if (body != 6 + 3u * comps) bad(codec, "frame header length does not match its components");
      check_sizes(codec, be16(seg + 3), be16(seg + 1), comps, seg[0], e);
      // The JPEG transfer syntaxes accepted (baseline, extended, lossless) use sequential
      // Huffman frames: C0, C1 (DCT) and C3 (lossless). DCT frames carry 8 or 12 bits
      // (ITU T.81; GDCM's 16-bit libjpeg also reads 16). GDCM's codec asserts on other
      // precisions and on a progressive 16-bit frame (both found by fuzz_dicom).
      if (!jpeg_ls && m != 0xC0 && m != 0xC1 && m != 0xC3)
        bad(codec, "a frame of a JPEG process DICOM's accepted syntaxes do not use (only baseline, extended and lossless)");
      if (!jpeg_ls && m != 0xC3 && seg[0] != 8 && seg[0] != 12 && seg[0] != 16)
        bad(codec, "sample precision " + std::to_string(seg[0]) + " in a DCT frame (8, 12 or 16 only)");
      for (int c = 0; c < comps; ++c) {
        const uint8_t hv = seg[6 + 3 * c + 1], tq = seg[6 + 3 * c + 2];
        if ((hv >> 4) < 1 || (hv >> 4) > 4 || (hv & 15) < 1 || (hv & 15) > 4 || (!jpeg_ls && tq > 3))
          bad(codec, "invalid component sampling or table in the frame header");
      }
    } else if (m == 0xDA) {
      if (!sof_seen) bad(codec, "scan before the frame header");
      if (body < 1 || seg[0] < 1 || seg[0] > 4 || body != 4 + 2u * seg[0]) bad(codec, "malformed scan header");
      if (n - p - 2 - len < 2) bad(codec, "no compressed data after the scan header");
      if (!jpeg_ls) check_jpeg_after_scan(d, n, p + 2 + len);
      return;
    } else if (m == 0xE0 && body >= 7 && std::memcmp(seg, "JFIF\0", 5) == 0 && seg[5] != 1) {
      bad(codec, "JFIF version " + std::to_string(seg[5]) + " (only 1.x)");
    } else if (m == 0xEE && body >= 12 && std::memcmp(seg, "Adobe", 5) == 0 && seg[11] > 2) {
      bad(codec, "unknown Adobe colour transform");
    } else if (!(m == 0xC4 || m == 0xDB || m == 0xDD || m == 0xCC || m == 0xFE || (m >= 0xE0 && m <= 0xEF) ||
                 (jpeg_ls && m == 0xF8))) {
      bad(codec, "unexpected marker before the first scan");
    }
    p += 2 + len;
  }
}

// JPEG 2000: the codestream (or a JP2 file's) SIZ marker segment.
void check_j2k(const uint8_t* d, size_t n, const FrameExpectation& e) {
  size_t p = 0;
  // A JP2 wrapper: find the contiguous codestream box ("jp2c").
  if (n >= 12 && be32(d) == 12 && be32(d + 4) == 0x6A502020u) {
    size_t q = 0;
    bool found = false;
    while (q + 8 <= n) {
      uint64_t box = be32(d + q);
      const uint32_t type = be32(d + q + 4);
      size_t header = 8;
      if (box == 1) {
        if (q + 16 > n) break;
        box = (static_cast<uint64_t>(be32(d + q + 8)) << 32) | be32(d + q + 12);
        header = 16;
      } else if (box == 0) {
        box = n - q;
      }
      if (box < header || box > n - q) break;
      if (type == 0x6A703263u) {
        p = q + header;
        found = true;
        break;
      }
      q += box;
    }
    if (!found) bad("JPEG 2000", "JP2 file without a codestream box");
  }
  if (n - p < 4 || be16(d + p) != 0xFF4F || be16(d + p + 2) != 0xFF51) bad("JPEG 2000", "no SOC and SIZ markers");
  const uint8_t* s = d + p + 4;
  if (n - p - 4 < 40) bad("JPEG 2000", "SIZ marker cut off");
  const uint16_t lsiz = be16(s);
  const uint32_t xsiz = be32(s + 4), ysiz = be32(s + 8), xo = be32(s + 12), yo = be32(s + 16);
  const uint16_t csiz = be16(s + 36);
  if (csiz == 0 || lsiz != 38 + 3u * csiz || n - p - 4 < lsiz) bad("JPEG 2000", "SIZ marker length does not match its components");
  if (xo >= xsiz || yo >= ysiz) bad("JPEG 2000", "image offset outside the image");
  int max_precision = 0;
  for (int c = 0; c < csiz; ++c) {
    const uint8_t* comp = s + 38 + 3 * c;
    const int precision = (comp[0] & 0x7F) + 1;
    if (comp[1] != 1 || comp[2] != 1) bad("JPEG 2000", "subsampled components are not supported");
    max_precision = precision > max_precision ? precision : max_precision;
  }
  check_sizes("JPEG 2000", static_cast<int64_t>(xsiz) - xo, static_cast<int64_t>(ysiz) - yo, csiz, max_precision, e);
  // The rest of the main header and every tile-part must lie inside the fragment: GDCM's
  // in-memory stream for OpenJPEG does not bound a marker's length (a corrupt one made
  // it read outside the buffer under ASan).
  size_t q = p + 4 + lsiz;  // after SOC (2), the SIZ marker (2) and its segment (Lsiz)
  bool cod = false, qcd = false;
  while (true) {
    if (n - q < 4 || d[q] != 0xFF) bad("JPEG 2000", "main header cut off or malformed");
    const uint8_t m = d[q + 1];
    if (m == 0x90) break;  // first SOT
    const size_t len = be16(d + q + 2);
    if (len < 2 || len > n - q - 2) bad("JPEG 2000", "marker segment runs past the fragment");
    cod = cod || m == 0x52;
    qcd = qcd || m == 0x5C;
    q += 2 + len;
  }
  if (!cod || !qcd) bad("JPEG 2000", "main header without COD or QCD");
  while (true) {  // tile-parts: SOT (Lsot 10, Isot, Psot, TPsot, TNsot) ... up to EOC
    if (n - q >= 2 && be16(d + q) == 0xFFD9) return;
    if (n - q < 12 || be16(d + q) != 0xFF90 || be16(d + q + 2) != 10) bad("JPEG 2000", "tile-part header cut off or malformed");
    const uint32_t psot = be32(d + q + 6);
    if (psot == 0) return;  // the last tile-part runs to the end of the codestream
    if (psot < 14 || psot > n - q) bad("JPEG 2000", "tile-part length runs past the fragment");
    q += psot;
  }
}

// RLE (PS3.5 §G.5): 16 little-endian 32-bit words: segment count, then offsets.
void check_rle(const uint8_t* d, size_t n, const FrameExpectation& e) {
  if (n < 64) bad("RLE", "header cut off");
  const uint32_t segments = le32(d);
  const uint32_t expected = static_cast<uint32_t>(e.samples * (e.bits_allocated / 8));
  if (segments != expected) {
    bad("RLE", std::to_string(segments) + " segments, the attributes need " + std::to_string(expected));
  }
  uint32_t previous = 64;
  for (uint32_t i = 0; i < segments; ++i) {
    const uint32_t off = le32(d + 4 + 4 * i);
    if (off < previous || off >= n) bad("RLE", "segment offset outside the fragment or out of order");
    previous = off;
  }
}

}  // namespace

void check_codec_end(const std::string& uid, const uint8_t* d, size_t n) {
  if (uid == "1.2.840.10008.1.2.5" || uid == "1.2.840.10008.1.2.4.80" || uid == "1.2.840.10008.1.2.4.81" ||
      uid == "1.2.840.10008.1.2.4.90" || uid == "1.2.840.10008.1.2.4.91")
    return;
  size_t end = n;
  while (end > 0 && d[end - 1] == 0x00) --end;  // padding to an even length, or more
  // In entropy-coded data FF is always followed by 00 or a restart marker, so FF D9 here
  // can only be the end-of-image marker.
  if (end < 2 || d[end - 2] != 0xFF || d[end - 1] != 0xD9)
    fail(Status::format_error, "DICOM JPEG frame does not end in an end-of-image marker: its compressed data is cut off");
}

void check_codec_header(const std::string& uid, const uint8_t* fragment, size_t size, const FrameExpectation& e) {
  if (fragment == nullptr || size == 0) fail(Status::format_error, "DICOM compressed frame is empty");
  if (uid == "1.2.840.10008.1.2.5") return check_rle(fragment, size, e);
  if (uid == "1.2.840.10008.1.2.4.80" || uid == "1.2.840.10008.1.2.4.81") return check_jpeg(fragment, size, true, e);
  if (uid == "1.2.840.10008.1.2.4.90" || uid == "1.2.840.10008.1.2.4.91") return check_j2k(fragment, size, e);
  return check_jpeg(fragment, size, false, e);
}

}  // namespace m4cxr
