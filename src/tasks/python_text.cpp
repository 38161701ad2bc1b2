#include "tasks/python_text.h"

namespace m4cxr::pytext {

namespace {

bool is_trail(unsigned char c) { return (c & 0xC0) == 0x80; }

// Decodes one well-formed UTF-8 character at s[pos]; returns its length and sets *cp.
// A malformed byte is reported as length 1 with *cp = 0xFFFFFFFF (never whitespace,
// never lowered), so it is copied through untouched.
size_t decode(std::string_view s, size_t pos, uint32_t* cp) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + pos;
  const size_t n = s.size() - pos;
  *cp = 0xFFFFFFFFu;
  if (p[0] < 0x80) {
    *cp = p[0];
    return 1;
  }
  if (n >= 2 && (p[0] & 0xE0) == 0xC0 && is_trail(p[1])) {
    const uint32_t c = ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    if (c >= 0x80) *cp = c;
    return c >= 0x80 ? 2 : 1;
  }
  if (n >= 3 && (p[0] & 0xF0) == 0xE0 && is_trail(p[1]) && is_trail(p[2])) {
    const uint32_t c = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
    const bool ok = c >= 0x800 && (c < 0xD800 || c > 0xDFFF);
    if (ok) *cp = c;
    return ok ? 3 : 1;
  }
  if (n >= 4 && (p[0] & 0xF8) == 0xF0 && is_trail(p[1]) && is_trail(p[2]) && is_trail(p[3])) {
    const uint32_t c = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) |
                       ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
    const bool ok = c >= 0x10000 && c <= 0x10FFFF;
    if (ok) *cp = c;
    return ok ? 4 : 1;
  }
  return 1;
}

void append_utf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {  // lower() only produces code points below U+0800 from 2-byte input
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

uint32_t lower_cp(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 0x20;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;   // Latin-1 capitals
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;  // Greek capitals
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;                // Cyrillic А..Я
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;                // Cyrillic Ѐ..Џ
  return c;
}

}  // namespace

bool is_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string_view strip(std::string_view s) {
  size_t begin = 0;
  while (begin < s.size()) {
    uint32_t cp;
    const size_t len = decode(s, begin, &cp);
    if (!is_space(cp)) break;
    begin += len;
  }
  // Scan forward and remember where the last non-space character ends: UTF-8 cannot be
  // decoded backwards reliably when malformed bytes are present.
  size_t end = begin;
  for (size_t pos = begin; pos < s.size();) {
    uint32_t cp;
    const size_t len = decode(s, pos, &cp);
    pos += len;
    if (!is_space(cp)) end = pos;
  }
  return s.substr(begin, end - begin);
}

std::string collapse_whitespace(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool in_run = false;
  for (size_t pos = 0; pos < s.size();) {
    uint32_t cp;
    const size_t len = decode(s, pos, &cp);
    if (is_space(cp)) {
      if (!in_run) out.push_back(' ');
      in_run = true;
    } else {
      out.append(s.substr(pos, len));
      in_run = false;
    }
    pos += len;
  }
  return out;
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  if (from.empty()) return std::string(s);
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos)).append(to);
    pos = hit + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

std::vector<std::string> split(std::string_view s, std::string_view sep) {
  std::vector<std::string> out;
  if (sep.empty()) {
    out.emplace_back(s);
    return out;
  }
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(sep, pos);
    if (hit == std::string_view::npos) break;
    out.emplace_back(s.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  out.emplace_back(s.substr(pos));
  return out;
}

std::string lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) {
    uint32_t cp;
    const size_t len = decode(s, pos, &cp);
    const uint32_t low = cp == 0xFFFFFFFFu ? cp : lower_cp(cp);
    if (low == cp)
      out.append(s.substr(pos, len));
    else
      append_utf8(low, &out);
    pos += len;
  }
  return out;
}

}  // namespace m4cxr::pytext
