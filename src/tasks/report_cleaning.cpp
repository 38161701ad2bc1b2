#include "tasks/report_cleaning.h"

#include <utility>
#include <vector>

#include "tasks/python_text.h"

namespace m4cxr {

namespace {

using pytext::replace_all;

bool is_deleted_char(char c) {
  // upstream: re.sub(r"[.,?;*!%^&_+():\[\]{}]", "", ...)
  switch (c) {
    case '.': case ',': case '?': case ';': case '*': case '!': case '%': case '^':
    case '&': case '_': case '+': case '(': case ')': case ':': case '[': case ']':
    case '{': case '}':
      return true;
    default:
      return false;
  }
}

std::string clean_piece(std::string_view piece) {
  std::string s;
  s.reserve(piece.size());
  for (char c : piece)
    if (c != '"' && c != '/' && c != '\\' && c != '\'') s.push_back(c);
  const std::string_view stripped = pytext::strip(s);
  std::string kept;
  kept.reserve(stripped.size());
  for (char c : stripped)  // ASCII only: never touches bytes of multi-byte characters
    if (!is_deleted_char(c)) kept.push_back(c);
  return pytext::collapse_whitespace(kept);
}

}  // namespace

std::string clean_report_mimic_cxr(std::string_view report) {
  std::string s = replace_all(report, "\n", " ");
  for (int i = 0; i < 7; ++i) s = replace_all(s, "__", "_");
  for (int i = 0; i < 6; ++i) s = replace_all(s, "  ", " ");
  for (int i = 0; i < 8; ++i) s = replace_all(s, "..", ".");
  static constexpr std::pair<std::string_view, std::string_view> kNumbering[] = {
      {"1. ", ""},     {". 2. ", ". "}, {". 3. ", ". "}, {". 4. ", ". "}, {". 5. ", ". "},
      {" 2. ", ". "},  {" 3. ", ". "},  {" 4. ", ". "},  {" 5. ", ". "}};
  for (const auto& [from, to] : kNumbering) s = replace_all(s, from, to);

  std::string out;
  bool first = true;
  for (const std::string& piece : pytext::split(pytext::strip(s), ". ")) {
    if (!first) out.append(". ");
    first = false;
    out.append(clean_piece(piece));
  }
  out.push_back('.');
  return out;
}

}  // namespace m4cxr
