#include "dicom/part10_structure.h"

#include <cstring>
#include <vector>

#include <zlib.h>

#include "common/error.h"

namespace m4cxr {

namespace {

constexpr uint32_t kUndefined = 0xFFFFFFFFu;
constexpr int kMaxDepth = 16;

// Attributes GDCM reads as typed values while building an image, with the VRs it accepts:
// it asserts (aborts) on any other VR in explicit VR data (found by fuzz_dicom).
struct TypedVr {
  uint32_t tag;
  const char* vrs;  // allowed VRs, two letters each
};
constexpr TypedVr kTypedVrs[] = {
    {0x00080016u, "UI"},   {0x00080060u, "CS"},   {0x00180050u, "DS"},   {0x00180088u, "DS"},
    {0x00181164u, "DS"},   {0x00185101u, "CS"},   {0x00200013u, "IS"},   {0x00200032u, "DS"},
    {0x00200037u, "DS"},   {0x00280002u, "US"},   {0x00280004u, "CS"},   {0x00280006u, "US"},
    {0x00280008u, "IS"},   {0x00280009u, "AT"},   {0x00280010u, "US"},   {0x00280011u, "US"},
    {0x00280030u, "DS"},   {0x00280034u, "IS"},   {0x00280100u, "US"},   {0x00280101u, "US"},
    {0x00280102u, "US"},   {0x00280103u, "US"},   {0x00280106u, "USSS"}, {0x00280107u, "USSS"},
    {0x00281050u, "DS"},   {0x00281051u, "DS"},   {0x00281052u, "DS"},   {0x00281053u, "DS"},
    {0x00281054u, "LO"},   {0x00281056u, "CS"},   {0x00282110u, "CS"},   {0x00283002u, "USSS"},
    {0x00283003u, "LO"},   {0x00283006u, "USOW"}, {0x00540081u, "US"},
};

bool typed_vr_ok(uint32_t tag, const char* vr) {
  for (const auto& t : kTypedVrs) {
    if (t.tag != tag) continue;
    for (const char* v = t.vrs; *v; v += 2)
      if (v[0] == vr[0] && v[1] == vr[1]) return true;
    return false;
  }
  return true;
}

[[noreturn]] void bad(const std::string& what, size_t at) {
  fail(Status::format_error, "malformed DICOM data at byte " + std::to_string(at) + ": " + what);
}

struct Walker {
  const uint8_t* d;
  size_t n;
  bool explicit_vr;
  size_t base;  // offset of d in the file, for messages
  bool meta_group = false;
  Part10Summary* summary = nullptr;  // receives the top-level pixel data's fragments
  size_t elements = 0;

  uint16_t u16(size_t p) const { return static_cast<uint16_t>(d[p] | (d[p + 1] << 8)); }
  uint32_t u32(size_t p) const { return static_cast<uint32_t>(u16(p)) | (static_cast<uint32_t>(u16(p + 2)) << 16); }

  // PS3.5 Table 6.2-1.
  static bool known_vr(const char* vr) {
    static const char* const kAll[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO",
                                       "LT", "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ",
                                       "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"};
    for (const char* k : kAll)
      if (vr[0] == k[0] && vr[1] == k[1]) return true;
    return false;
  }

  static bool long_vr(const char* vr) {
    static const char* const kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"};
    for (const char* l : kLong)
      if (vr[0] == l[0] && vr[1] == l[1]) return true;
    return false;
  }

  // Walks the data set in [pos, end) (end == npos: until an item delimiter, whose end is
  // returned); returns the position after it.
  size_t dataset(size_t pos, size_t end, int depth, bool until_delimiter) {
    if (depth > kMaxDepth) bad("sequences nested more than 16 deep", base + pos);
    uint32_t last_tag = 0;
    bool first = true;
    const size_t limit = until_delimiter ? n : end;
    while (pos < limit) {
      if (limit - pos < 8) bad("element header cut off", base + pos);
      const uint16_t group = u16(pos), elem = u16(pos + 2);
      const uint32_t tag = (static_cast<uint32_t>(group) << 16) | elem;
      if (tag == 0xFFFEE00Du) {  // item delimitation
        if (!until_delimiter) bad("item delimiter outside an undefined-length item", base + pos);
        if (u32(pos + 4) != 0) bad("item delimiter with a non-zero length", base + pos);
        return pos + 8;
      }
      if (group == 0xFFFE) bad("item tag where an element was expected", base + pos);
      if (!first && tag <= last_tag) bad("element tags not in ascending order", base + pos);
      first = false;
      last_tag = tag;
      ++elements;
      char vr[2] = {0, 0};
      uint32_t len;
      size_t header;
      if (explicit_vr) {
        vr[0] = static_cast<char>(d[pos + 4]);
        vr[1] = static_cast<char>(d[pos + 5]);
        if (!known_vr(vr)) bad("invalid VR", base + pos);
        if (!typed_vr_ok(tag, vr)) bad("unexpected VR " + std::string(vr, 2) + " for an image attribute", base + pos);
        if (meta_group && (group != 0x0002 || (vr[0] == 'S' && vr[1] == 'Q'))) bad("invalid element in the file meta group", base + pos);
        if (long_vr(vr)) {
          if (limit - pos < 12) bad("element header cut off", base + pos);
          len = u32(pos + 8);
          header = 12;
        } else {
          len = u16(pos + 6);
          header = 8;
        }
      } else {
        len = u32(pos + 4);
        header = 8;
      }
      pos += header;
      const bool sq = explicit_vr ? (vr[0] == 'S' && vr[1] == 'Q') : false;
      if (len == kUndefined) {
        if (meta_group) bad("undefined length in the file meta group", base + pos - header);
        // Undefined length: a sequence (SQ, or UN holding one), or encapsulated pixel data
        // as OB/OW in explicit VR (GDCM asserts on any other VR with it; fuzz_dicom).
        const bool ob_ow = vr[0] == 'O' && (vr[1] == 'B' || vr[1] == 'W');
        if (tag == 0x7FE00010u) {
          if (!explicit_vr || !ob_ow) bad("encapsulated pixel data that is not OB/OW in explicit VR", base + pos - header);
          pos = fragments(pos, depth == 0);
        } else if (!explicit_vr || sq || (vr[0] == 'U' && vr[1] == 'N')) {
          pos = sequence(pos, 0, depth, true);
        } else {
          bad("undefined length on a value that is not a sequence", base + pos - header);
        }
        continue;
      }
      if (len > limit - pos) bad("value length " + std::to_string(len) + " runs past the end of its container", base + pos - header);
      // A defined-length sequence (explicit SQ, or an implicit value that starts with an
      // item) is walked too; GDCM parses its items.
      if (sq || (!explicit_vr && len >= 8 && u16(pos) == 0xFFFE && u16(pos + 2) == 0xE000)) {
        sequence(pos, pos + len, depth, false);
      }
      pos += len;
    }
    if (until_delimiter) bad("undefined-length item not closed", base + pos);
    if (pos != end) bad("data set overruns its container", base + pos);
    return pos;
  }

  // Items of a sequence: [pos, end) or until the sequence delimiter.
  size_t sequence(size_t pos, size_t end, int depth, bool until_delimiter) {
    const size_t limit = until_delimiter ? n : end;
    while (pos < limit) {
      if (limit - pos < 8) bad("item header cut off", base + pos);
      const uint32_t tag = (static_cast<uint32_t>(u16(pos)) << 16) | u16(pos + 2);
      const uint32_t len = u32(pos + 4);
      if (tag == 0xFFFEE0DDu) {
        if (!until_delimiter) bad("sequence delimiter in a defined-length sequence", base + pos);
        if (len != 0) bad("sequence delimiter with a non-zero length", base + pos);
        return pos + 8;
      }
      if (tag != 0xFFFEE000u) bad("expected an item in a sequence", base + pos);
      pos += 8;
      if (len == kUndefined) {
        pos = dataset(pos, 0, depth + 1, true);
      } else {
        if (len > limit - pos) bad("item length runs past the end of its sequence", base + pos - 8);
        dataset(pos, pos + len, depth + 1, false);
        pos += len;
      }
    }
    if (until_delimiter) bad("undefined-length sequence not closed", base + pos);
    return pos;
  }

  // Encapsulated pixel data (PS3.5 §A.4): the basic offset table item, then fragments,
  // then the sequence delimiter.
  size_t fragments(size_t pos, bool top_level) {
    int items = 0;
    while (true) {
      if (n - pos < 8) bad("encapsulated pixel data cut off", base + pos);
      const uint32_t tag = (static_cast<uint32_t>(u16(pos)) << 16) | u16(pos + 2);
      const uint32_t len = u32(pos + 4);
      if (tag == 0xFFFEE0DDu) {
        if (len != 0) bad("sequence delimiter with a non-zero length", base + pos);
        if (items < 2) bad("encapsulated pixel data without a compressed fragment", base + pos);
        return pos + 8;
      }
      if (tag != 0xFFFEE000u) bad("expected a pixel data fragment", base + pos);
      if (len == kUndefined || len > n - pos - 8) bad("pixel data fragment runs past the end of the data", base + pos);
      if (top_level && summary != nullptr) {
        summary->encapsulated = true;
        if (items >= 1) summary->fragments.emplace_back(base + pos + 8, len);
      }
      pos += 8 + len;
      ++items;
    }
  }
};

std::vector<uint8_t> inflate_raw(const uint8_t* d, size_t n, size_t cap) {
  z_stream z{};
  if (inflateInit2(&z, -15) != Z_OK) fail(Status::internal, "zlib inflateInit2 failed");
  std::vector<uint8_t> out;
  std::vector<uint8_t> chunk(1 << 16);
  z.next_in = const_cast<uint8_t*>(d);
  z.avail_in = static_cast<uInt>(n);  // n <= max_file_bytes < 4 GiB
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = chunk.data();
    z.avail_out = static_cast<uInt>(chunk.size());
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&z);
      fail(Status::format_error, "deflated DICOM data set is corrupt or truncated");
    }
    out.insert(out.end(), chunk.data(), chunk.data() + (chunk.size() - z.avail_out));
    if (out.size() > cap) {
      inflateEnd(&z);
      fail(Status::limit_exceeded, "deflated DICOM data set inflates past " + std::to_string(cap) + " bytes");
    }
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
      inflateEnd(&z);
      fail(Status::format_error, "deflated DICOM data set is truncated");
    }
  }
  inflateEnd(&z);
  return out;
}

}  // namespace

Part10Summary check_part10_structure(const uint8_t* data, size_t size, size_t max_inflated_bytes) {
  if (data == nullptr || size < 132 || std::memcmp(data + 128, "DICM", 4) != 0) {
    fail(Status::format_error, "not a DICOM Part-10 file (no \"DICM\" after the 128-byte preamble)");
  }
  Part10Summary summary;
  // File meta information: explicit VR little endian, group 0002 (PS3.10 §7.1).
  Walker meta{data, size, true, 0, true};
  size_t pos = 132;
  if (size - pos < 12 || meta.u16(pos) != 0x0002 || meta.u16(pos + 2) != 0x0000 || data[pos + 4] != 'U' ||
      data[pos + 5] != 'L' || meta.u16(pos + 6) != 4) {
    bad("the file meta information does not start with its group length (0002,0000) UL", pos);
  }
  const uint32_t group_len = meta.u32(pos + 8);
  pos += 12;
  if (group_len > size - pos) bad("file meta group length runs past the end of the data", pos - 4);
  const size_t meta_end = pos + group_len;
  meta.dataset(pos, meta_end, 0, false);
  // The transfer syntax UID, read from the walked group.
  for (size_t p = pos; p + 8 <= meta_end;) {
    const uint16_t e = meta.u16(p + 2);
    const bool lg = Walker::long_vr(reinterpret_cast<const char*>(data + p + 4));
    const uint32_t len = lg ? meta.u32(p + 8) : meta.u16(p + 6);
    const size_t h = lg ? 12 : 8;
    if (meta.u16(p) != 0x0002) bad("element of another group inside the file meta group", p);
    if (e == 0x0010) {
      std::string uid(reinterpret_cast<const char*>(data + p + h), len);
      while (!uid.empty() && (uid.back() == '\0' || uid.back() == ' ')) uid.pop_back();
      summary.transfer_syntax_uid = uid;
    }
    p += h + len;
  }
  if (size - meta_end >= 2 && meta.u16(meta_end) == 0x0002) bad("file meta group longer than its group length says", meta_end);
  // GDCM reads group 0002 until another group's tag and asserts when the data ends first.
  if (size - meta_end < 8) bad("no data set after the file meta information", meta_end);
  summary.elements = meta.elements;
  const std::string& ts = summary.transfer_syntax_uid;
  const bool implicit = ts == "1.2.840.10008.1.2";
  const bool deflated = ts == "1.2.840.10008.1.2.1.99";
  const bool big_endian = ts == "1.2.840.10008.1.2.2";
  if (big_endian || ts.empty()) return summary;  // refused by the transfer syntax check
  if (deflated) {
    const std::vector<uint8_t> body = inflate_raw(data + meta_end, size - meta_end, max_inflated_bytes);
    Walker w{body.data(), body.size(), true, meta_end};
    w.dataset(0, body.size(), 0, false);
    summary.elements += w.elements;
    return summary;
  }
  Walker w{data + meta_end, size - meta_end, !implicit, meta_end, false, &summary};
  w.dataset(0, size - meta_end, 0, false);
  summary.elements += w.elements;
  return summary;
}

}  // namespace m4cxr
