// The Python str helpers behind report cleaning and parsing.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tasks/python_text.h"

using namespace m4cxr::pytext;

TEST_CASE("pytext: strip / collapse / replace / split / lower") {
  CHECK(strip("  a b \t\n") == "a b");
  CHECK(strip("\x1c\x1f a \xC2\x85") == "a");
  CHECK(strip("\xE2\x80\xA8x\xE2\x80\xAF") == "x");
  CHECK(strip("") == "");
  CHECK(strip(" \xFF ") == "\xFF");
  CHECK(strip("\xC2") == "\xC2");  // truncated character: not whitespace
  CHECK(collapse_whitespace(" a \t\n b ") == " a b ");
  CHECK(collapse_whitespace("a\xC2\xA0\xE3\x80\x80" "b") == "a b");
  CHECK(replace_all("___", "__", "_") == "__");  // non-overlapping, left to right
  CHECK(replace_all("aaa", "", "x") == "aaa");
  CHECK(replace_all("a.b.c", ".", "") == "abc");
  CHECK(split("a. b. ", ". ") == std::vector<std::string>{"a", "b", ""});
  CHECK(split("", ". ") == std::vector<std::string>{""});
  CHECK(split(". ", ". ") == std::vector<std::string>{"", ""});
  CHECK(lower("Pleural Effusion ABC xyz") == "pleural effusion abc xyz");
  CHECK(lower("\xC3\x84\xC3\x96\xC3\x9C\xC3\x97") == "\xC3\xA4\xC3\xB6\xC3\xBC\xC3\x97");  // ÄÖÜ× -> äöü×
  CHECK(lower("\xCE\x91\xD0\x90\xD0\x81") == "\xCE\xB1\xD0\xB0\xD1\x91");  // Α А Ё -> α а ё
  CHECK(lower("\xFF" "A") == "\xFF" "a");
  CHECK(is_space(0x3000));
  CHECK_FALSE(is_space(0x200B));  // zero-width space is not whitespace in Python
}
