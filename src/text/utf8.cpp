#include "text/utf8.h"

#include <cstdint>

namespace m4cxr::utf8 {

namespace {

bool is_trail(unsigned char c) { return (c & 0xC0) == 0x80; }

bool is_valid_codepoint(uint32_t c) { return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF); }

// Bytes a character starting with `lead` occupies if it is well formed; 1 for bytes
// that can never start a character (SentencePiece rejects them after one byte).
size_t expected_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

}  // namespace

size_t decode_step(std::string_view s, bool* valid) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  *valid = true;
  if (p[0] < 0x80) return 1;
  if (n >= 2 && (p[0] & 0xE0) == 0xC0) {
    const uint32_t cp = ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    if (is_trail(p[1]) && cp >= 0x80 && is_valid_codepoint(cp)) return 2;
  } else if (n >= 3 && (p[0] & 0xF0) == 0xE0) {
    const uint32_t cp = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
    if (is_trail(p[1]) && is_trail(p[2]) && cp >= 0x800 && is_valid_codepoint(cp)) return 3;
  } else if (n >= 4 && (p[0] & 0xF8) == 0xF0) {
    const uint32_t cp = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) |
                        ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
    if (is_trail(p[1]) && is_trail(p[2]) && is_trail(p[3]) && cp >= 0x10000 &&
        is_valid_codepoint(cp))
      return 4;
  }
  // SentencePiece's DecodeUTF8 returns U+FFFD with length 1 here; IsValidDecodeUTF8
  // calls that invalid (a literal EF BF BD is valid: it is consumed as 3 bytes above).
  *valid = false;
  return 1;
}

bool step_is_final(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t need = expected_length(p[0]);
  if (s.size() >= need) return true;  // decode_step only looks at the first `need` bytes
  // Too short: the answer is already "invalid" for good if a present continuation byte
  // is not a trail byte; otherwise more bytes may complete the character.
  for (size_t i = 1; i < s.size(); ++i)
    if (!is_trail(p[i])) return true;
  return false;
}

void append_bytes(std::string_view bytes, std::string* out) {
  size_t off = 0;
  while (off < bytes.size()) {
    bool valid = false;
    const size_t k = decode_step(bytes.substr(off), &valid);
    if (valid)
      out->append(bytes.data() + off, k);
    else
      out->append(kReplacement);
    off += k;
  }
}

bool is_valid(std::string_view s) {
  size_t off = 0;
  while (off < s.size()) {
    bool valid = false;
    off += decode_step(s.substr(off), &valid);
    if (!valid) return false;
  }
  return true;
}

}  // namespace m4cxr::utf8
