// Minimal .npy reader for the image tests only (little-endian, C order, the dtypes the
// goldens use). Not library code: src/io will get the real reader.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace m4cxr::test {

struct NpyArray {
  std::string descr;           // e.g. "|u1", "<f4"
  std::vector<size_t> shape;
  std::vector<uint8_t> bytes;  // raw little-endian data

  size_t count() const {
    size_t n = 1;
    for (size_t d : shape) n *= d;
    return n;
  }
  std::vector<float> as_f32() const {
    if (descr != "<f4") throw std::runtime_error("npy: expected <f4, got " + descr);
    std::vector<float> v(count());
    std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
    return v;
  }
  const std::vector<uint8_t>& as_u8() const {
    if (descr != "|u1" && descr != "<u1") throw std::runtime_error("npy: expected u1, got " + descr);
    return bytes;
  }
};

inline std::string npy_header_value(const std::string& header, const std::string& key) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) throw std::runtime_error("npy: header lacks " + key);
  size_t p = header.find(':', k) + 1;
  while (header[p] == ' ') ++p;
  if (header[p] == '\'') return header.substr(p + 1, header.find('\'', p + 1) - p - 1);
  if (header[p] == '(') return header.substr(p + 1, header.find(')', p) - p - 1);
  return header.substr(p, header.find_first_of(",}", p) - p);
}

inline NpyArray read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("npy: cannot open " + path);
  std::vector<uint8_t> raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (raw.size() < 10 || std::memcmp(raw.data(), "\x93NUMPY", 6) != 0) {
    throw std::runtime_error("npy: bad magic in " + path);
  }
  const int major = raw[6];
  size_t header_len, offset;
  if (major == 1) {
    header_len = raw[8] | (size_t(raw[9]) << 8);
    offset = 10;
  } else {
    header_len = raw[8] | (size_t(raw[9]) << 8) | (size_t(raw[10]) << 16) | (size_t(raw[11]) << 24);
    offset = 12;
  }
  if (offset + header_len > raw.size()) throw std::runtime_error("npy: truncated header " + path);
  const std::string header(raw.begin() + long(offset), raw.begin() + long(offset + header_len));
  NpyArray a;
  a.descr = npy_header_value(header, "descr");
  if (npy_header_value(header, "fortran_order") != "False") {
    throw std::runtime_error("npy: fortran order not supported: " + path);
  }
  const std::string shape = npy_header_value(header, "shape");
  size_t p = 0;
  while (p < shape.size()) {
    while (p < shape.size() && (shape[p] == ' ' || shape[p] == ',')) ++p;
    if (p >= shape.size()) break;
    size_t used = 0;
    a.shape.push_back(std::stoul(shape.substr(p), &used));
    p += used;
  }
  const size_t item = a.descr == "<f4" ? 4 : (a.descr == "|u1" || a.descr == "<u1") ? 1 : 0;
  if (item == 0) throw std::runtime_error("npy: unsupported dtype " + a.descr);
  const size_t data_bytes = a.count() * item;
  if (offset + header_len + data_bytes != raw.size()) {
    throw std::runtime_error("npy: data size mismatch in " + path);
  }
  a.bytes.assign(raw.begin() + long(offset + header_len), raw.end());
  return a;
}

}  // namespace m4cxr::test
