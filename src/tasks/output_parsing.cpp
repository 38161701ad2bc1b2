#include "tasks/output_parsing.h"

#include <algorithm>
#include <cstddef>

#include "tasks/label_sets.h"
#include "tasks/python_text.h"

namespace m4cxr {

namespace {

// ---- box scanning -------------------------------------------------------------------

struct BoxSpan {
  size_t begin = 0, end = 0;  // byte range of the box text in the scanned string
  ModelBox box;
};

bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Cursor {
 public:
  Cursor(std::string_view s, size_t pos) : s_(s), pos_(pos) {}
  size_t pos() const { return pos_; }
  bool at_end() const { return pos_ >= s_.size(); }
  void skip_space() {
    while (!at_end() && is_ascii_space(s_[pos_])) ++pos_;
  }
  bool eat(char c) {
    if (at_end() || s_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  // [+-]? digits ('.' digits)? -> rounded (half to even), saturated integer value.
  bool number(int* out) {
    size_t p = pos_;
    bool negative = false;
    if (p < s_.size() && (s_[p] == '+' || s_[p] == '-')) negative = s_[p++] == '-';
    if (p >= s_.size() || !is_digit(s_[p])) return false;
    constexpr long kSaturate = 1000000;  // far outside 0..100; clamped later anyway
    long whole = 0;
    for (; p < s_.size() && is_digit(s_[p]); ++p) whole = std::min(kSaturate, whole * 10 + (s_[p] - '0'));
    double frac = 0;
    if (p + 1 < s_.size() && s_[p] == '.' && is_digit(s_[p + 1])) {
      double scale = 0.1;
      for (++p; p < s_.size() && is_digit(s_[p]); ++p, scale /= 10) frac += (s_[p] - '0') * scale;
    }
    // Round half to even like Python round(); frac is in [0, 1).
    long v = whole;
    if (frac > 0.5 || (frac == 0.5 && whole % 2 == 1)) ++v;
    *out = static_cast<int>(negative ? -v : v);
    pos_ = p;
    return true;
  }
  // Four comma-separated numbers, spaces allowed around each.
  bool four_numbers(int v[4]) {
    for (int i = 0; i < 4; ++i) {
      skip_space();
      if (i > 0) {
        if (!eat(',')) return false;
        skip_space();
      }
      if (!number(&v[i])) return false;
    }
    skip_space();
    return true;
  }
  // Only whitespace and '.' remain.
  bool only_trailer_left() const {
    for (size_t p = pos_; p < s_.size(); ++p)
      if (!is_ascii_space(s_[p]) && s_[p] != '.') return false;
    return true;
  }

 private:
  std::string_view s_;
  size_t pos_;
};

ModelBox repaired(const int v[4]) {
  auto clamp = [](int x) { return std::clamp(x, 0, 100); };
  ModelBox b{clamp(v[0]), clamp(v[1]), clamp(v[2]), clamp(v[3])};
  if (b.x1 > b.x2) std::swap(b.x1, b.x2);
  if (b.y1 > b.y2) std::swap(b.y1, b.y2);
  return b;
}

// Boxes in s (special tokens already removed). See parse_boxes() for the grammar.
std::vector<BoxSpan> scan_boxes(std::string_view s) {
  std::vector<BoxSpan> spans;
  int v[4];
  for (size_t pos = s.find('['); pos != std::string_view::npos; pos = s.find('[', pos + 1)) {
    Cursor c(s, pos + 1);
    if (!c.four_numbers(v)) continue;
    if (!c.eat(']') && !c.only_trailer_left()) continue;  // unclosed only at the very end
    spans.push_back({pos, c.pos(), repaired(v)});
    pos = c.pos() - 1;  // continue after this box
  }
  if (!spans.empty()) return spans;

  // Upstream also reads a bare "a,b,c,d" (it deletes brackets and dots, then splits).
  Cursor c(s, 0);
  c.skip_space();
  c.eat('[');
  if (c.four_numbers(v)) {
    c.eat(']');
    if (c.only_trailer_left()) spans.push_back({0, s.size(), repaired(v)});
  }
  return spans;
}

bool is_name_separator(char c) { return c == ',' || c == ';' || c == '.' || c == ':'; }

std::string trim_name(std::string_view s) {
  while (true) {
    s = pytext::strip(s);
    const size_t before = s.size();
    while (!s.empty() && is_name_separator(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_name_separator(s.back())) s.remove_suffix(1);
    if (s.size() == before) return std::string(s);
  }
}

}  // namespace

namespace {

// strip_special_text, also saying where each byte of the result came from in `text`
// (origin[i] = offset in `text` of result byte i). The deletions run one after the other,
// like upstream's successive str.replace calls, so a deletion can join a new marker.
std::string strip_special_mapped(std::string_view text, std::vector<size_t>* origin) {
  std::string s(text);
  origin->resize(s.size());
  for (size_t i = 0; i < s.size(); ++i) (*origin)[i] = i;
  for (std::string_view token : {"<s>", "</s>", "[INST]", "[/INST]"}) {
    std::string kept;
    std::vector<size_t> kept_origin;
    for (size_t pos = 0; pos < s.size();) {
      if (s.compare(pos, token.size(), token) == 0) {
        pos += token.size();  // str.replace: non-overlapping, left to right
        continue;
      }
      kept.push_back(s[pos]);
      kept_origin.push_back((*origin)[pos]);
      ++pos;
    }
    s = std::move(kept);
    *origin = std::move(kept_origin);
  }
  const std::string_view stripped = pytext::strip(s);
  const size_t first = static_cast<size_t>(stripped.data() - s.data());
  *origin = std::vector<size_t>(origin->begin() + static_cast<std::ptrdiff_t>(first),
                                origin->begin() + static_cast<std::ptrdiff_t>(first + stripped.size()));
  return std::string(stripped);
}

// lower() keeps byte lengths (it only maps code points to others of the same UTF-8
// length), so offsets found in the lowered text are offsets in the text.
size_t find_lowered(const std::string& lowered_text, std::string_view name) {
  if (name.empty()) return std::string::npos;
  return lowered_text.find(pytext::lower(name));
}

}  // namespace

std::string strip_special_text(std::string_view text) {
  std::vector<size_t> origin;
  return strip_special_mapped(text, &origin);
}

std::vector<std::string> parse_findings(std::string_view text,
                                        const std::vector<std::string>& candidates,
                                        MatchCase match) {
  const std::string haystack = match == MatchCase::insensitive ? pytext::lower(text) : std::string(text);
  std::vector<std::string> found;
  for (const std::string& name : candidates)
    if (find_lowered(haystack, name) != std::string::npos) found.push_back(name);
  return found;
}

size_t locate_finding(std::string_view text, std::string_view name) {
  const std::string lowered = pytext::lower(text);
  if (lowered.size() != text.size()) return std::string::npos;  // cannot happen (see find_lowered)
  return find_lowered(lowered, name);
}

std::vector<TextSpan> locate_boxes(std::string_view text) {
  std::vector<size_t> origin;
  const std::string s = strip_special_mapped(text, &origin);
  std::vector<TextSpan> out;
  for (const BoxSpan& span : scan_boxes(s))
    if (span.end > span.begin) out.push_back({origin[span.begin], origin[span.end - 1] + 1});
  return out;
}

ChexbertFindings parse_chexbert_findings(std::string_view text, MatchCase match) {
  ChexbertFindings out;
  const std::vector<std::string>& names = cot_findings();  // conditions 0..12, lower case
  const std::vector<std::string> found = parse_findings(text, names, match);
  bool any_disease = false;
  for (size_t i = 0; i < names.size(); ++i) {
    out.labels[i] = std::find(found.begin(), found.end(), names[i]) != found.end();
    if (out.labels[i] && static_cast<int>(i) != kSupportDevicesIndex) any_disease = true;
  }
  out.findings = found;
  out.no_finding = !any_disease;
  out.labels[kNoFindingIndex] = out.no_finding;
  return out;
}

std::vector<ModelBox> parse_boxes(std::string_view text) {
  std::vector<ModelBox> boxes;
  for (const BoxSpan& span : scan_boxes(strip_special_text(text))) boxes.push_back(span.box);
  return boxes;
}

std::vector<std::pair<std::string, std::vector<ModelBox>>> parse_named_boxes(std::string_view text) {
  const std::string s = strip_special_text(text);
  std::vector<std::pair<std::string, std::vector<ModelBox>>> groups;
  size_t prev_end = 0;
  for (const BoxSpan& span : scan_boxes(s)) {
    std::string name = trim_name(std::string_view(s).substr(prev_end, span.begin - prev_end));
    if (!name.empty() || groups.empty()) groups.emplace_back(std::move(name), std::vector<ModelBox>{});
    groups.back().second.push_back(span.box);
    prev_end = span.end;
  }
  return groups;
}

std::string normalize_vqa_answer(std::string_view text) {
  return pytext::lower(pytext::replace_all(strip_special_text(text), ".", ""));
}

bool is_not_present(std::string_view text) {
  const std::string s = pytext::lower(strip_special_text(text));
  std::string_view v = s;
  while (!v.empty() && (v.back() == '.' || is_ascii_space(v.back()))) v.remove_suffix(1);
  return v == "not present" || v == "not found";
}

}  // namespace m4cxr
