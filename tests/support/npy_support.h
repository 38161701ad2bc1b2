// .npy access for every test suite, built on the library's own reader (src/io/npy.h).
// The accessors insist on the exact dtype a golden file is expected to have, so a test
// never silently compares converted data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "io/npy.h"

namespace m4cxr::test {

using m4cxr::NpyArray;
using m4cxr::read_npy;

inline void require_npy_dtype(const NpyArray& a, const std::string& want) {
  if (a.descr != want) fail(Status::format_error, "npy dtype is " + a.descr + ", expected " + want);
}

// The raw samples of a uint8 array ('|u1').
inline const std::vector<uint8_t>& npy_u8(const NpyArray& a) {
  require_npy_dtype(a, "|u1");
  return a.bytes;
}

// The elements of a float32 array ('<f4').
inline std::vector<float> npy_f32(const NpyArray& a) {
  require_npy_dtype(a, "<f4");
  return a.as_float();
}

// The elements of an int64 array ('<i8').
inline std::vector<int64_t> npy_i64(const NpyArray& a) {
  require_npy_dtype(a, "<i8");
  return a.as_int64();
}

// Token ids: an int64 array ('<i8') narrowed to int32.
inline std::vector<int32_t> npy_ids(const NpyArray& a) {
  const std::vector<int64_t> v = npy_i64(a);
  return std::vector<int32_t>(v.begin(), v.end());
}

}  // namespace m4cxr::test
