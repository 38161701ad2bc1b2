// Shared helpers of the image tests: golden-data access and a tiny PNG writer
// (stb_image_write cannot write 16-bit PNGs, which the 16-bit rule needs).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace m4cxr::test {

inline std::string golden_dir() {
  const char* env = std::getenv("M4CXR_GOLDEN_DIR");
  if (env != nullptr && *env != '\0') return env;
  return std::string(M4CXR_TEST_DATA) + "/golden";
}

inline nlohmann::json golden_manifest() {
  std::ifstream f(golden_dir() + "/manifest.json");
  if (!f) throw std::runtime_error("cannot open " + golden_dir() + "/manifest.json");
  return nlohmann::json::parse(f);
}

// manifest["images"], loaded once. (Returned by reference: a range-for over a
// member of a temporary json would dangle.)
inline const nlohmann::json& golden_images() {
  static const nlohmann::json manifest = golden_manifest();
  return manifest.at("images");
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// "gray8_73x101.png" -> "<golden>/preprocess/gray8_73x101.<kind>.npy"
inline std::string golden_array_path(const std::string& image_name, const std::string& kind) {
  const std::string stem = image_name.substr(0, image_name.rfind('.'));
  return golden_dir() + "/preprocess/" + stem + "." + kind + ".npy";
}

// Pillow opens 16-bit grayscale PNGs as mode I / I;16*: upstream clamps those, m4cxr
// deliberately rescales, so the decoded golden is not a target for them.
inline bool golden_is_16bit(const nlohmann::json& meta) {
  const std::string mode = meta.value("pil_mode_on_open", "");
  return mode == "I" || mode.rfind("I;16", 0) == 0;
}

inline Status status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.status();
  }
  return Status::ok;
}

// ---- minimal PNG writer: zlib stored blocks, no filtering ----

inline uint32_t crc32_of(const uint8_t* p, size_t n, uint32_t crc = 0) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

inline void put_be32(std::vector<uint8_t>& o, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) o.push_back(uint8_t(v >> s));
}

inline void put_chunk(std::vector<uint8_t>& png, const char type[4], const std::vector<uint8_t>& data) {
  put_be32(png, uint32_t(data.size()));
  std::vector<uint8_t> body(type, type + 4);
  body.insert(body.end(), data.begin(), data.end());
  png.insert(png.end(), body.begin(), body.end());
  put_be32(png, crc32_of(body.data(), body.size()));
}

// `rows` holds height rows of packed samples (16-bit samples big-endian, as PNG stores
// them), without filter bytes. color_type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
inline std::vector<uint8_t> make_png(int width, int height, int bit_depth, int color_type,
                                     const std::vector<uint8_t>& rows,
                                     const std::vector<uint8_t>& palette = {}) {
  const size_t row_bytes = rows.size() / size_t(height);
  std::vector<uint8_t> raw;
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);  // filter: none
    raw.insert(raw.end(), rows.begin() + long(y * row_bytes), rows.begin() + long((y + 1) * row_bytes));
  }
  std::vector<uint8_t> z = {0x78, 0x01};
  for (size_t pos = 0; pos < raw.size() || pos == 0;) {
    const size_t n = std::min<size_t>(65535, raw.size() - pos);
    const bool last = pos + n == raw.size();
    z.push_back(last ? 1 : 0);
    z.push_back(uint8_t(n));
    z.push_back(uint8_t(n >> 8));
    z.push_back(uint8_t(~n));
    z.push_back(uint8_t(~n >> 8));
    z.insert(z.end(), raw.begin() + long(pos), raw.begin() + long(pos + n));
    pos += n;
    if (last) break;
  }
  uint32_t a = 1, b = 0;
  for (uint8_t c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  put_be32(z, (b << 16) | a);

  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<uint8_t> ihdr;
  put_be32(ihdr, uint32_t(width));
  put_be32(ihdr, uint32_t(height));
  ihdr.insert(ihdr.end(), {uint8_t(bit_depth), uint8_t(color_type), 0, 0, 0});
  put_chunk(png, "IHDR", ihdr);
  if (!palette.empty()) put_chunk(png, "PLTE", palette);
  put_chunk(png, "IDAT", z);
  put_chunk(png, "IEND", {});
  return png;
}

}  // namespace m4cxr::test
