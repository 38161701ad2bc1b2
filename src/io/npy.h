// NumPy .npy (format 1.0/2.0) reader and writer for little-endian f4, f8, i8, i4, u1,
// C order. Used by the golden tests and by the stage trace (`m4cxr trace`).
// Errors: Error(io_error) for unreadable files, Error(format_error) for malformed ones.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace m4cxr {

struct NpyArray {
  std::string descr;            // '<f4', '<i8', '|u1', ...
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;   // raw C-order data

  int64_t numel() const;
  size_t item_size() const;
  // Typed copies; throw format_error when the dtype does not convert losslessly.
  std::vector<float> as_float() const;
  std::vector<int64_t> as_int64() const;
};

NpyArray read_npy(const std::string& path);
NpyArray parse_npy(const uint8_t* data, size_t size, const std::string& label);

void write_npy(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
               const void* data, size_t nbytes);

}  // namespace m4cxr
