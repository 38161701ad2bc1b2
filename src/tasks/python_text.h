// The few Python `str` operations that upstream M4CXR's prompt building, report
// cleaning and evaluation parsing rely on, reproduced on UTF-8 byte strings so that
// m4cxr gives the same text: str.strip(), re.sub(r"\s+", " "), str.replace(),
// str.split(sep) and (a subset of) str.lower().
//
// Bytes that do not form valid UTF-8 are carried through unchanged and never count as
// whitespace (upstream only ever sees valid text, so this only decides robustness).
// Pure functions on plain values: reentrant, thread-safe, never throw (except
// std::bad_alloc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace m4cxr::pytext {

// Python's str.isspace() for one code point (also what re's \s matches in a str
// pattern): ASCII \t\n\v\f\r and space, U+001C..U+001F, U+0085, U+00A0, U+1680,
// U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
bool is_space(uint32_t cp);

// str.strip(): removes leading and trailing whitespace (is_space code points).
std::string_view strip(std::string_view s);

// re.sub(r"\s+", " ", s): every run of whitespace code points becomes one ASCII space
// (leading/trailing runs included; nothing is stripped).
std::string collapse_whitespace(std::string_view s);

// str.replace(from, to): every non-overlapping occurrence, scanned left to right.
// An empty `from` returns s unchanged (Python would insert `to` everywhere; no caller
// needs that).
std::string replace_all(std::string_view s, std::string_view from, std::string_view to);

// str.split(sep) with a non-empty separator: always at least one (possibly empty) piece.
std::vector<std::string> split(std::string_view s, std::string_view sep);

// str.lower() for ASCII, Latin-1 Supplement, basic Greek and Cyrillic capitals; every
// other code point is kept. (Python lowers all of Unicode; model outputs, label names
// and answers are English, so the subset only matters for exotic input.)
std::string lower(std::string_view s);

}  // namespace m4cxr::pytext
