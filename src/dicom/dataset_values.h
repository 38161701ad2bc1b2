// Reading attribute values from a GDCM data set, validated: strings are trimmed of DICOM
// padding, capped at 1024 characters and made printable ASCII ('?' elsewhere); numbers
// are parsed strictly. Internal to src/dicom (the only files that see GDCM types).
// Thread-safety: reads only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <gdcmDataSet.h>

namespace m4cxr::dicom_detail {

// The value of (group,element) as text; "" when absent, empty or not a byte value.
std::string get_string(const gdcm::DataSet& ds, uint16_t group, uint16_t element);

// The first value of a multi-valued string ("a\b" -> "a").
std::string first_value(const std::string& s);

// A US value (little endian, 2 bytes); nullopt when absent. Throws Error(format_error)
// naming `name` when present with another length.
std::optional<int> get_us(const gdcm::DataSet& ds, uint16_t group, uint16_t element, const char* name);

// A DS or IS value (first of several); nullopt when absent or empty. Throws
// Error(format_error) naming `name` when it is not a finite number.
std::optional<double> get_number(const gdcm::DataSet& ds, uint16_t group, uint16_t element, const char* name);

// The code meaning (0008,0104) of the first item of sequence (group,element); "" if none.
std::string first_item_string(const gdcm::DataSet& ds, uint16_t seq_group, uint16_t seq_element, uint16_t group,
                              uint16_t element);

// The raw bytes of (group,element) in the first item of sequence (seq_group,seq_element);
// nullopt when the sequence, its item or the element is absent (or not a byte value).
std::optional<std::vector<uint8_t>> first_item_bytes(const gdcm::DataSet& ds, uint16_t seq_group, uint16_t seq_element,
                                                     uint16_t group, uint16_t element);

}  // namespace m4cxr::dicom_detail
