// MIMIC-CXR report normalisation, upstream `data_utils.utils.clean_report_mimic_cxr`
// (docs/upstream-tasks.md §8). The model was trained on reports cleaned this way, and prior reports
// inserted into multi-study prompts (R5/R6) must be cleaned the same way at inference.
#pragma once

#include <string>
#include <string_view>

namespace m4cxr {

// Exactly upstream's function, quirks included:
//  1. "\n" -> " "; then str.replace in this order: "__"->"_" x7, "  "->" " x6,
//     ".."->"." x8, "1. "->"", ". 2. "->". ", ". 3. "->". ", ". 4. "->". ",
//     ". 5. "->". ", " 2. "->". ", " 3. "->". ", " 4. "->". ", " 5. "->". "; strip;
//     split on ". ".
//  2. per piece: delete '"' '/' '\' '\''; strip; delete every one of . , ? ; * ! % ^ &
//     _ + ( ) : [ ] { }; collapse whitespace runs to one space (no strip afterwards,
//     so "compared to ___." gives "compared to ." and "Dr. ___ at" gives "Dr.  at").
//  3. join the pieces (empty ones kept) with ". " and append ".".
// Case is preserved; '-' and '>' survive. The empty string gives ".".
// Pure and reentrant; never throws (except std::bad_alloc); any byte string is
// accepted (malformed UTF-8 bytes are kept and never count as whitespace).
std::string clean_report_mimic_cxr(std::string_view report);

}  // namespace m4cxr
