// The transfer syntaxes m4cxr accepts for DICOM input (issue 13): those chest
// radiographs arrive in. Pure lookup functions over a static table; thread-safe.
#pragma once

#include <string>

namespace m4cxr {

struct TransferSyntaxInfo {
  const char* uid;
  const char* name;
  bool lossy;  // the pixel data was compressed with loss (recorded for provenance)
};

// The accepted syntax with this UID (trailing NUL/space padding ignored), or nullptr.
const TransferSyntaxInfo* find_accepted_transfer_syntax(const std::string& uid);

// A name for any transfer syntax UID, for error messages: the accepted ones, the common
// refused ones (big endian, JPEG 2000 Part 2, HTJ2K, MPEG, ...), else "unknown".
std::string transfer_syntax_name(const std::string& uid);

// Throws Error(unsupported) naming the syntax (UID and name) and listing the accepted
// ones unless `uid` is accepted; returns its entry.
const TransferSyntaxInfo& require_accepted_transfer_syntax(const std::string& uid);

}  // namespace m4cxr
