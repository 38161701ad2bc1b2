// Element counts of shapes read from files. A shape is only accepted when the product of
// its non-zero dimensions fits the bound: then every prefix product (what a numel() loop
// computes on the way) fits too, whatever the order of the dimensions, zeros included.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace m4cxr {

// The number of elements of `shape`, or nullopt when a dimension is negative or the
// product of the non-zero dimensions exceeds `bound` (INT64_MAX by default).
std::optional<int64_t> checked_numel(const std::vector<int64_t>& shape,
                                     int64_t bound = INT64_MAX) noexcept;

}  // namespace m4cxr
