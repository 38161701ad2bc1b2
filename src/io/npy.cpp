#include "io/npy.h"

#include <cstdio>
#include <cstring>
#include <limits>

#include "common/error.h"
#include "common/shape_math.h"
#include "io/mapped_file.h"

namespace m4cxr {

namespace {
[[noreturn]] void bad(const std::string& label, const std::string& what) {
  fail(Status::format_error, "npy '" + label + "': " + what);
}

std::string dict_value(const std::string& h, const std::string& key, const std::string& label) {
  auto k = h.find("'" + key + "'");
  if (k == std::string::npos) bad(label, "header lacks '" + key + "'");
  auto c = h.find(':', k);
  if (c == std::string::npos) bad(label, "header entry '" + key + "' has no value");
  size_t p = c + 1;
  while (p < h.size() && h[p] == ' ') ++p;
  if (p >= h.size()) bad(label, "truncated header");
  if (h[p] == '\'') {
    auto e = h.find('\'', p + 1);
    if (e == std::string::npos) bad(label, "unterminated string in header");
    return h.substr(p + 1, e - p - 1);
  }
  if (h[p] == '(') {
    auto e = h.find(')', p);
    if (e == std::string::npos) bad(label, "unterminated shape tuple");
    return h.substr(p + 1, e - p - 1);
  }
  auto e = h.find_first_of(",}", p);
  return h.substr(p, e == std::string::npos ? std::string::npos : e - p);
}
}  // namespace

int64_t NpyArray::numel() const {
  const auto n = checked_numel(shape);
  if (!n) fail(Status::internal, "npy array has no valid element count");
  return *n;
}

size_t NpyArray::item_size() const {
  if (descr.size() < 3) return 1;
  return static_cast<size_t>(std::atoi(descr.c_str() + 2));
}

std::vector<float> NpyArray::as_float() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  if (descr == "<f4") {
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * 4);  // data() may be null
  } else if (descr == "<f8") {
    for (size_t i = 0; i < out.size(); ++i) {
      double d;
      std::memcpy(&d, bytes.data() + 8 * i, 8);
      out[i] = static_cast<float>(d);
    }
  } else if (descr == "|u1") {
    for (size_t i = 0; i < out.size(); ++i) out[i] = bytes[i];
  } else {
    fail(Status::format_error, "npy dtype " + descr + " cannot be read as float");
  }
  return out;
}

std::vector<int64_t> NpyArray::as_int64() const {
  std::vector<int64_t> out(static_cast<size_t>(numel()));
  if (descr == "<i8") {
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * 8);
  } else if (descr == "<i4") {
    for (size_t i = 0; i < out.size(); ++i) {
      int32_t v;
      std::memcpy(&v, bytes.data() + 4 * i, 4);
      out[i] = v;
    }
  } else if (descr == "|u1") {
    for (size_t i = 0; i < out.size(); ++i) out[i] = bytes[i];
  } else {
    fail(Status::format_error, "npy dtype " + descr + " cannot be read as int64");
  }
  return out;
}

NpyArray parse_npy(const uint8_t* data, size_t size, const std::string& label) {
  if (size < 10 || std::memcmp(data, "\x93NUMPY", 6) != 0) bad(label, "missing \\x93NUMPY magic");
  uint8_t major = data[6];
  size_t hlen, pos;
  if (major == 1) {
    hlen = data[8] | (data[9] << 8);
    pos = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) bad(label, "truncated header");
    hlen = data[8] | (data[9] << 8) | (size_t(data[10]) << 16) | (size_t(data[11]) << 24);
    pos = 12;
  } else {
    bad(label, "unsupported format version " + std::to_string(major));
  }
  if (hlen > size - pos) bad(label, "header runs past the end of the file");
  std::string h(reinterpret_cast<const char*>(data + pos), hlen);
  NpyArray a;
  a.descr = dict_value(h, "descr", label);
  if (dict_value(h, "fortran_order", label).find("True") != std::string::npos)
    bad(label, "fortran_order arrays are not supported");
  std::string shape = dict_value(h, "shape", label);
  size_t p = 0;
  while (p < shape.size()) {
    while (p < shape.size() && (shape[p] == ' ' || shape[p] == ',')) ++p;
    if (p >= shape.size()) break;
    char* end = nullptr;
    long long v = std::strtoll(shape.c_str() + p, &end, 10);
    if (end == shape.c_str() + p || v < 0) bad(label, "bad shape '" + shape + "'");
    a.shape.push_back(v);
    p = static_cast<size_t>(end - shape.c_str());
  }
  static const char* known[] = {"<f4", "<f8", "<i8", "<i4", "|u1", "<u2", "<f2"};
  bool ok = false;
  for (auto k : known) ok = ok || a.descr == k;
  if (!ok) bad(label, "unsupported dtype " + a.descr);
  // Item sizes are at most 8: bounding the element count by INT64_MAX / 16 keeps the byte
  // count from overflowing, and numel() too, wherever a zero dimension sits.
  const auto numel = checked_numel(a.shape, std::numeric_limits<int64_t>::max() / 16);
  if (!numel) bad(label, "shape overflows");
  uint64_t need = static_cast<uint64_t>(*numel) * a.item_size();
  if (need > size - pos - hlen)
    bad(label, "data is " + std::to_string(size - pos - hlen) + " bytes, shape needs " + std::to_string(need));
  a.bytes.assign(data + pos + hlen, data + pos + hlen + need);
  return a;
}

NpyArray read_npy(const std::string& path) {
  auto bytes = read_file_bytes(path, size_t{4} << 30);
  return parse_npy(bytes.data(), bytes.size(), path);
}

void write_npy(const std::string& path, const std::string& descr, const std::vector<int64_t>& shape,
               const void* data, size_t nbytes) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) dict += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dict += ",";
  dict += "), }";
  size_t total = 10 + dict.size() + 1;
  size_t pad = (64 - total % 64) % 64;
  dict.append(pad, ' ');
  dict += '\n';
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) fail(Status::io_error, "cannot write '" + path + "'");
  uint16_t hl = static_cast<uint16_t>(dict.size());
  unsigned char head[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<unsigned char>(hl & 0xff),
                            static_cast<unsigned char>(hl >> 8)};
  bool ok = std::fwrite(head, 1, 10, f) == 10 && std::fwrite(dict.data(), 1, dict.size(), f) == dict.size() &&
            (nbytes == 0 || std::fwrite(data, 1, nbytes, f) == nbytes);
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) fail(Status::io_error, "cannot write '" + path + "'");
}

}  // namespace m4cxr
