// Test-only reader for NumPy .npy files (format 1.0/2.0, C order, little endian):
// enough for the golden int64 id arrays ('<i8') and float32 arrays ('<f4').
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace m4cxr_test {

struct NpyArray {
  std::string descr;           // e.g. "<i8"
  std::vector<size_t> shape;   // () -> scalar
  std::vector<char> data;      // raw little-endian element bytes

  size_t count() const {
    size_t n = 1;
    for (size_t d : shape) n *= d;
    return n;
  }
  template <typename T>
  std::vector<T> as(const char* want) const {
    if (descr != want) throw std::runtime_error("npy dtype is " + descr + ", expected " + want);
    std::vector<T> out(count());
    std::memcpy(out.data(), data.data(), out.size() * sizeof(T));
    return out;
  }
  std::vector<int64_t> as_i64() const { return as<int64_t>("<i8"); }
  std::vector<float> as_f32() const { return as<float>("<f4"); }
};

namespace npy_detail {
// Value text of `'key': value` in the header dict.
inline std::string field(const std::string& header, const std::string& key) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) throw std::runtime_error("npy header lacks " + key);
  size_t p = header.find(':', k);
  if (p == std::string::npos) throw std::runtime_error("npy header malformed");
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  const char open = header[p];
  const char close = open == '(' ? ')' : open == '\'' ? '\'' : ',';
  const size_t e = header.find(close, p + 1);
  if (e == std::string::npos) throw std::runtime_error("npy header malformed");
  return open == '(' || open == '\'' ? header.substr(p + 1, e - p - 1) : header.substr(p, e - p);
}
}  // namespace npy_detail

inline NpyArray read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0)
    throw std::runtime_error(path + " is not a .npy file");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw std::runtime_error(path + ": truncated header");
    for (int i = 0; i < 4; ++i) header_len |= size_t{static_cast<unsigned char>(bytes[8 + i])} << (8 * i);
    offset = 12;
  } else {
    throw std::runtime_error(path + ": unsupported npy version");
  }
  if (offset + header_len > bytes.size()) throw std::runtime_error(path + ": truncated header");
  const std::string header(bytes.data() + offset, header_len);
  NpyArray a;
  a.descr = npy_detail::field(header, "descr");
  if (npy_detail::field(header, "fortran_order").find("False") == std::string::npos)
    throw std::runtime_error(path + ": fortran_order arrays are not supported");
  const std::string shape = npy_detail::field(header, "shape");
  size_t p = 0;
  while (p < shape.size()) {
    while (p < shape.size() && (shape[p] == ' ' || shape[p] == ',')) ++p;
    if (p >= shape.size()) break;
    size_t used = 0;
    a.shape.push_back(std::stoull(shape.substr(p), &used));
    p += used;
  }
  size_t elem = 0;
  if (a.descr == "<i8" || a.descr == "<f8") elem = 8;
  else if (a.descr == "<f4" || a.descr == "<i4") elem = 4;
  else if (a.descr == "|u1") elem = 1;
  else throw std::runtime_error(path + ": unsupported dtype " + a.descr);
  const size_t need = a.count() * elem;
  if (bytes.size() - offset - header_len < need) throw std::runtime_error(path + ": truncated data");
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(offset + header_len),
                bytes.begin() + static_cast<std::ptrdiff_t>(offset + header_len + need));
  return a;
}

}  // namespace m4cxr_test
