#include "report/structured_report.h"

#include <algorithm>
#include <cctype>
#include <ctime>

namespace m4cxr {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

ReportFinding* find_label(std::vector<ReportFinding>& all, const std::string& label) {
  const std::string l = lower(label);
  for (auto& f : all)
    if (lower(f.label) == l) return &f;
  return nullptr;
}

// A finding's name as documents show it: document text, never blank.
std::string finding_name(const std::string& raw) {
  std::string s = document_text(raw);
  return s.find_first_not_of(" \t\r\n") == std::string::npos ? "unspecified finding" : s;
}

}  // namespace

std::vector<ReportFinding> report_findings(const std::vector<std::string>& findings,
                                           const std::vector<std::string>& scored_labels,
                                           const std::vector<double>& scores, const std::vector<bool>& written,
                                           const std::vector<ReportBox>& boxes) {
  std::vector<ReportFinding> out;
  for (size_t i = 0; i < scored_labels.size(); ++i) {
    ReportFinding f;
    f.label = finding_name(scored_labels[i]);
    f.scored = i < scores.size();
    f.score = f.scored ? scores[i] : 0;
    f.present = i < written.size() && written[i];
    out.push_back(std::move(f));
  }
  for (const auto& raw : findings) {
    const std::string name = finding_name(raw);
    if (ReportFinding* f = find_label(out, name)) {
      f->present = true;
      continue;
    }
    ReportFinding f;
    f.label = name;
    f.present = true;
    out.push_back(std::move(f));
  }
  for (const auto& b : boxes) {
    const std::string label = b.label.empty() ? "unspecified region" : finding_name(b.label);
    ReportFinding* f = find_label(out, label);
    if (f == nullptr) {
      out.push_back(ReportFinding{label, true, false, 0, {}});
      f = &out.back();
    }
    f->present = true;  // a box drawn for it: the model located it
    f->boxes.push_back(b);
  }
  return out;
}

std::vector<const ReportImage*> current_study_images(const StructuredReportInput& in) {
  std::vector<const ReportImage*> out;
  if (in.images.empty() || !in.images.back().dicom) return out;
  const std::string& study = in.images.back().study_instance_uid;
  for (const auto& im : in.images)
    if (im.dicom && im.study_instance_uid == study) out.push_back(&im);
  return out;
}

std::string utc_now_iso8601() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace m4cxr

#include <array>
#include <random>

namespace m4cxr {

namespace {

std::array<uint8_t, 16> random_uuid_bytes() {
  static thread_local std::mt19937_64 gen([] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }());
  std::array<uint8_t, 16> b{};
  for (size_t i = 0; i < 16; i += 8) {
    const uint64_t v = gen();
    for (size_t k = 0; k < 8; ++k) b[i + k] = static_cast<uint8_t>(v >> (8 * k));
  }
  b[6] = static_cast<uint8_t>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return b;
}

}  // namespace

std::string random_uuid() {
  const auto b = random_uuid_bytes();
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += hex[b[i] >> 4];
    s += hex[b[i] & 15];
  }
  return s;
}

std::string random_dicom_uid() {
  auto b = random_uuid_bytes();
  // The 128-bit big-endian integer in decimal: repeated division by 10.
  std::string digits;
  bool zero = false;
  while (!zero) {
    uint32_t rem = 0;
    zero = true;
    for (auto& byte : b) {
      const uint32_t cur = (rem << 8) | byte;
      byte = static_cast<uint8_t>(cur / 10);
      rem = cur % 10;
      if (byte != 0) zero = false;
    }
    digits += static_cast<char>('0' + rem);
  }
  std::reverse(digits.begin(), digits.end());
  return "2.25." + digits;
}

std::string base64_encode(const std::string& bytes) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += t[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint8_t(bytes[i]) << 16;
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += t[v >> 18];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

}  // namespace m4cxr

namespace m4cxr {

std::string document_text(const std::string& s) {
  static const char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    uint32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      ok = (c >> 6) == 2;
      cp = (cp << 6) | (c & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8 either.
    ok = ok && !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) && !(len == 4 && cp < 0x10000) &&
         !(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF;
    if (!ok) {
      out += kReplacement;
      ++i;
      continue;
    }
    if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || (cp >= 0x7F && cp <= 0x9F)) {
      out += kReplacement;
    } else if (cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
               cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF) {
      out += ' ';
    } else {
      out.append(s, i, len);
    }
    i += len;
  }
  return out;
}

}  // namespace m4cxr
