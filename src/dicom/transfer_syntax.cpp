#include "dicom/transfer_syntax.h"

#include <cstring>

#include "common/error.h"

namespace m4cxr {

namespace {

// DICOM PS3.6 Table A-1. Accepted: what chest radiographs arrive in (issue 13).
constexpr TransferSyntaxInfo kAccepted[] = {
    {"1.2.840.10008.1.2", "Implicit VR Little Endian", false},
    {"1.2.840.10008.1.2.1", "Explicit VR Little Endian", false},
    {"1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", false},
    {"1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", true},
    {"1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)", true},
    {"1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", false},
    {"1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])", false},
    {"1.2.840.10008.1.2.4.80", "JPEG-LS Lossless", false},
    {"1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless)", true},
    {"1.2.840.10008.1.2.4.90", "JPEG 2000 (Lossless Only)", false},
    {"1.2.840.10008.1.2.4.91", "JPEG 2000", true},
    {"1.2.840.10008.1.2.5", "RLE Lossless", false},
};

struct Named {
  const char* uid;
  const char* name;
};
constexpr Named kRefused[] = {
    {"1.2.840.10008.1.2.2", "Explicit VR Big Endian (retired)"},
    {"1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component (Lossless Only)"},
    {"1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component"},
    {"1.2.840.10008.1.2.4.94", "JPIP Referenced"},
    {"1.2.840.10008.1.2.4.95", "JPIP Referenced Deflate"},
    {"1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level"},
    {"1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1"},
    {"1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 (Lossless Only)"},
    {"1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options (Lossless Only)"},
    {"1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000"},
    {"1.2.840.10008.1.2.4.52", "JPEG Extended (Process 3 & 5) (retired)"},
    {"1.2.840.10008.1.2.4.53", "JPEG Spectral Selection, Non-Hierarchical (retired)"},
    {"1.2.840.10008.1.2.4.55", "JPEG Full Progression, Non-Hierarchical (retired)"},
};

std::string trimmed(const std::string& uid) {
  size_t n = uid.size();
  while (n > 0 && (uid[n - 1] == '\0' || uid[n - 1] == ' ')) --n;
  return uid.substr(0, n);
}

}  // namespace

const TransferSyntaxInfo* find_accepted_transfer_syntax(const std::string& uid) {
  const std::string u = trimmed(uid);
  for (const auto& t : kAccepted)
    if (u == t.uid) return &t;
  return nullptr;
}

std::string transfer_syntax_name(const std::string& uid) {
  if (const auto* t = find_accepted_transfer_syntax(uid)) return t->name;
  const std::string u = trimmed(uid);
  for (const auto& t : kRefused)
    if (u == t.uid) return t.name;
  return "unknown transfer syntax";
}

const TransferSyntaxInfo& require_accepted_transfer_syntax(const std::string& uid) {
  if (const auto* t = find_accepted_transfer_syntax(uid)) return *t;
  std::string accepted;
  for (const auto& t : kAccepted) accepted += std::string(accepted.empty() ? "" : "; ") + t.name;
  std::string shown;
  for (char c : trimmed(uid)) shown += (c >= 0x20 && c < 0x7f) ? c : '?';
  fail(Status::unsupported, "DICOM transfer syntax " + (shown.empty() ? std::string("(none)") : shown) + " (" +
                                transfer_syntax_name(uid) + ") is not supported; accepted: " + accepted);
}

}  // namespace m4cxr
