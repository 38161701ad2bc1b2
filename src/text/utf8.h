// UTF-8 scanning with SentencePiece's exact rules, used to turn runs of byte-fallback
// pieces (<0x00>..<0xFF>) into text. SentencePiece (and therefore upstream decode)
// replaces every byte that does not start a valid character with one U+FFFD and
// resumes at the next byte; Python's "replace" policy would differ, so it is
// reimplemented here instead of borrowed from elsewhere.
//
// Pure functions, no state: safe from any thread. Never throws.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace m4cxr::utf8 {

// U+FFFD REPLACEMENT CHARACTER.
inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// One step of sentencepiece::string_util::IsValidDecodeUTF8 on s (must be non-empty):
// returns the bytes consumed (1 for an invalid byte, else the character length) and
// sets *valid. Incomplete sequences at the end of s are invalid (1 byte).
size_t decode_step(std::string_view s, bool* valid);

// True when decode_step(s) can no longer change if more bytes are appended to s
// (s non-empty). Lets a streaming decoder emit a character as soon as it is complete
// and hold back only a possibly-incomplete tail.
bool step_is_final(std::string_view s);

// Appends the text of a run of raw bytes exactly as SentencePiece's decoder does:
// valid characters verbatim, each invalid byte as U+FFFD.
void append_bytes(std::string_view bytes, std::string* out);

// Whole string valid by the rules above (no U+FFFD would be produced).
bool is_valid(std::string_view s);

}  // namespace m4cxr::utf8
