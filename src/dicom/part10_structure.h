// Structural check of a DICOM Part-10 byte stream before GDCM parses it (PS3.10 §7,
// PS3.5 §7 and §A.4). Debian's GDCM is built with assertions on, and some malformed
// input (a value running past the end of the data, a truncated item) makes it abort the
// process instead of failing, so m4cxr walks every element first: lengths inside their
// container, items and delimiters well-formed, sequences nested at most 16 deep, tags
// ascending, encapsulated pixel data made of defined-length fragments, the file meta
// group's length right; the deflated syntax is inflated (with a size cap) and walked.
// Pure function; reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace m4cxr {

struct Part10Summary {
  std::string transfer_syntax_uid;  // trimmed; "" when the meta group has none
  size_t elements = 0;              // elements walked (all levels)
  // Encapsulated pixel data (7FE0,0010) of the top-level data set: where its first
  // fragment after the basic offset table lies in the input (offset, length).
  bool encapsulated = false;
  std::vector<std::pair<size_t, size_t>> fragments;  // (offset, length), after the offset table
};

// Throws Error(format_error) saying what is wrong and where (byte offset), or
// Error(limit_exceeded) when a deflated data set inflates past `max_inflated_bytes`.
// Transfer syntaxes are not judged here, except that only little endian ones are walked:
// for any other syntax only the meta group is checked.
Part10Summary check_part10_structure(const uint8_t* data, size_t size, size_t max_inflated_bytes);

}  // namespace m4cxr
