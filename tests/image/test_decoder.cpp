#include <doctest/doctest.h>
#include <stb_image.h>
#include <stb_image_write.h>
#include <turbojpeg.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <random>

#include "image/image_decoder.h"
#include "support/npy_support.h"
#include "test_support.h"

using namespace m4cxr;
using namespace m4cxr::test;

namespace {

std::vector<uint8_t> golden_file(const std::string& name) {
  return read_bytes(golden_dir() + "/" + golden_images()[name]["file"].get<std::string>());
}

std::string first_golden_with_format(const std::string& pil_format) {
  for (auto& [name, meta] : golden_images().items()) {
    if (meta.value("pil_format", "") == pil_format && !golden_is_16bit(meta)) return name;
  }
  return "";
}

RgbImage decode(const std::vector<uint8_t>& bytes, const DecodeLimits& limits = {}) {
  return decode_image_memory(bytes.data(), bytes.size(), limits);
}

void write_to_vector(void* ctx, void* data, int size) {
  auto* v = static_cast<std::vector<uint8_t>*>(ctx);
  v->insert(v->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}

std::vector<uint8_t> be16(const std::vector<uint16_t>& v) {
  std::vector<uint8_t> out;
  for (uint16_t s : v) {
    out.push_back(uint8_t(s >> 8));
    out.push_back(uint8_t(s));
  }
  return out;
}

}  // namespace

TEST_CASE("decode: every 8-bit golden image matches Pillow's convert('RGB') exactly") {
  int compared = 0;
  for (auto& [name, meta] : golden_images().items()) {
    CAPTURE(name);
    const RgbImage img = decode_image_file(golden_dir() + "/" + meta["file"].get<std::string>());
    CHECK(img.width == meta["size_wh"][0].get<int>());
    CHECK(img.height == meta["size_wh"][1].get<int>());
    if (golden_is_16bit(meta)) {
      CHECK(img.source_depth == SourceDepth::bits16);
      continue;  // upstream clamps 16-bit; m4cxr deliberately rescales
    }
    CHECK(img.source_depth == SourceDepth::bits8);
    if (meta["decoded_rgb"].is_null()) continue;
    const NpyArray ref = read_npy(golden_dir() + "/" + meta["decoded_rgb"].get<std::string>());
    REQUIRE(ref.shape == std::vector<int64_t>{img.height, img.width, 3});
    CHECK(img.pixels == npy_u8(ref));
    ++compared;
  }
  CHECK(compared >= 1);
}

TEST_CASE("decode: stb_image's JPEG decoder differs from libjpeg-turbo (why TurboJPEG is used)") {
  for (auto& [name, meta] : golden_images().items()) {
    if (meta.value("pil_format", "") != "JPEG" || meta["decoded_rgb"].is_null()) continue;
    const auto bytes = read_bytes(golden_dir() + "/" + meta["file"].get<std::string>());
    const NpyArray ref = read_npy(golden_dir() + "/" + meta["decoded_rgb"].get<std::string>());
    int w = 0, h = 0, c = 0;
    stbi_uc* px = stbi_load_from_memory(bytes.data(), int(bytes.size()), &w, &h, &c, 3);
    REQUIRE(px != nullptr);
    int max_diff = 0;
    size_t differing = 0;
    const auto& r = npy_u8(ref);
    for (size_t i = 0; i < r.size(); ++i) {
      const int d = std::abs(int(px[i]) - int(r[i]));
      max_diff = std::max(max_diff, d);
      differing += d != 0;
    }
    stbi_image_free(px);
    MESSAGE(name << ": stb_image vs Pillow/libjpeg-turbo: max |diff| " << max_diff << ", "
                 << differing << " of " << r.size() << " samples differ");
    CHECK(decode(bytes).pixels == r);
  }
}

TEST_CASE("decode: 16-bit samples map to round(v/257)") {
  for (uint32_t v = 0; v <= 65535; ++v) {
    const auto expected = uint8_t(std::floor(double(v) / 257.0 + 0.5));
    if (sample16_to_8(uint16_t(v)) != expected) {
      FAIL("sample16_to_8(" << v << ")");
    }
  }
  for (int k = 0; k < 256; ++k) CHECK(sample16_to_8(uint16_t(257 * k)) == k);
  CHECK(sample16_to_8(128) == 0);
  CHECK(sample16_to_8(129) == 1);
  CHECK(sample16_to_8(65535) == 255);
}

TEST_CASE("decode: a 16-bit PNG equal to 257 x an 8-bit PNG decodes to that 8-bit image") {
  const int w = 37, h = 23;
  std::mt19937 rng(7);
  for (int color_type : {0, 2, 4, 6}) {
    CAPTURE(color_type);
    const int ch = color_type == 0 ? 1 : color_type == 2 ? 3 : color_type == 4 ? 2 : 4;
    std::vector<uint8_t> s8(size_t(w * h * ch));
    for (auto& s : s8) s = uint8_t(rng());
    std::vector<uint16_t> s16(s8.begin(), s8.end());
    for (auto& s : s16) s = uint16_t(s * 257);
    const RgbImage a = decode(make_png(w, h, 8, color_type, s8));
    const RgbImage b = decode(make_png(w, h, 16, color_type, be16(s16)));
    CHECK(a.source_depth == SourceDepth::bits8);
    CHECK(b.source_depth == SourceDepth::bits16);
    CHECK(a.width == w);
    CHECK(b.height == h);
    CHECK(a.pixels == b.pixels);
  }
  // And values that are not multiples of 257 round to nearest.
  const RgbImage r = decode(make_png(3, 1, 16, 0, be16({128, 129, 65535})));
  CHECK(r.pixels == std::vector<uint8_t>{0, 0, 0, 1, 1, 1, 255, 255, 255});
}

TEST_CASE("decode: conversions follow Pillow's convert('RGB')") {
  SUBCASE("gray -> R=G=B") {
    const RgbImage img = decode(make_png(2, 1, 8, 0, {10, 200}));
    CHECK(img.pixels == std::vector<uint8_t>{10, 10, 10, 200, 200, 200});
  }
  SUBCASE("gray+alpha and RGBA: alpha dropped, no compositing") {
    CHECK(decode(make_png(2, 1, 8, 4, {10, 0, 200, 7})).pixels ==
          std::vector<uint8_t>{10, 10, 10, 200, 200, 200});
    CHECK(decode(make_png(1, 1, 8, 6, {1, 2, 3, 0})).pixels == std::vector<uint8_t>{1, 2, 3});
  }
  SUBCASE("palette expanded") {
    const RgbImage img = decode(make_png(3, 1, 8, 3, {2, 0, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
    CHECK(img.pixels == std::vector<uint8_t>{7, 8, 9, 1, 2, 3, 4, 5, 6});
  }
  SUBCASE("low bit depths scale to 0..255") {
    CHECK(decode(make_png(8, 1, 1, 0, {0xA0})).pixels[0] == 255);
    CHECK(decode(make_png(8, 1, 1, 0, {0xA0})).pixels[3] == 0);
    const RgbImage g4 = decode(make_png(2, 1, 4, 0, {0x1F}));
    CHECK(g4.pixels == std::vector<uint8_t>{17, 17, 17, 255, 255, 255});
  }
  SUBCASE("BMP") {
    const std::vector<uint8_t> rgb = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    std::vector<uint8_t> bmp;
    REQUIRE(stbi_write_bmp_to_func(write_to_vector, &bmp, 2, 2, 3, rgb.data()));
    const RgbImage img = decode(bmp);
    CHECK(img.width == 2);
    CHECK(img.pixels == rgb);
  }
  SUBCASE("grayscale JPEG -> R=G=B") {
    std::vector<uint8_t> gray(16 * 8);
    for (size_t i = 0; i < gray.size(); ++i) gray[i] = uint8_t(i * 2);
    std::vector<uint8_t> jpg;
    REQUIRE(stbi_write_jpg_to_func(write_to_vector, &jpg, 16, 8, 1, gray.data(), 95));
    const RgbImage img = decode(jpg);
    REQUIRE(img.width == 16);
    bool replicated = true;
    for (size_t i = 0; i < gray.size(); ++i) {
      replicated &= img.pixels[3 * i] == img.pixels[3 * i + 1] && img.pixels[3 * i] == img.pixels[3 * i + 2];
    }
    CHECK(replicated);
  }
}

TEST_CASE("decode: CMYK JPEG is rejected as unsupported") {
  tjhandle tj = tjInitCompress();
  REQUIRE(tj != nullptr);
  std::vector<uint8_t> cmyk(16 * 16 * 4, 100);
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  REQUIRE(tjCompress2(tj, cmyk.data(), 16, 0, 16, TJPF_CMYK, &jpeg, &size, TJSAMP_444, 90, 0) == 0);
  const std::vector<uint8_t> bytes(jpeg, jpeg + size);
  tjFree(jpeg);
  tjDestroy(tj);
  CHECK(status_of([&] { decode(bytes); }) == Status::unsupported);
}

TEST_CASE("decode: bad input is reported, never crashes") {
  CHECK(status_of([] { decode_image_memory(nullptr, 0, {}); }) == Status::format_error);
  CHECK(status_of([] { decode_image_memory(nullptr, 10, {}); }) == Status::invalid_argument);

  std::mt19937 rng(1);
  std::vector<uint8_t> noise(4096);
  for (auto& b : noise) b = uint8_t(rng());
  noise[0] = 0x00;  // not a known signature
  CHECK(status_of([&] { decode(noise); }) == Status::format_error);

  // Known signature followed by garbage.
  std::vector<uint8_t> fake_png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  fake_png.insert(fake_png.end(), noise.begin(), noise.end());
  CHECK(status_of([&] { decode(fake_png); }) == Status::format_error);
  std::vector<uint8_t> fake_jpg = {0xff, 0xd8, 0xff};
  fake_jpg.insert(fake_jpg.end(), noise.begin(), noise.end());
  CHECK(status_of([&] { decode(fake_jpg); }) == Status::format_error);
  std::vector<uint8_t> fake_bmp = {'B', 'M'};
  fake_bmp.insert(fake_bmp.end(), noise.begin(), noise.begin() + 40);
  CHECK(status_of([&] { decode(fake_bmp); }) != Status::ok);

  CHECK(status_of([] { decode_image_file("/nonexistent/x.png"); }) == Status::io_error);
  const std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0, 0, 0};
  CHECK(status_of([&] { decode(gif); }) == Status::unsupported);
}

TEST_CASE("decode: truncated golden files fail with format_error") {
  for (const std::string format : {"PNG", "JPEG"}) {
    CAPTURE(format);
    const std::string name = first_golden_with_format(format);
    REQUIRE(!name.empty());
    const auto bytes = golden_file(name);
    for (double frac : {0.6, 0.9, 0.02}) {
      CAPTURE(frac);
      const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + long(double(bytes.size()) * frac));
      std::string message;
      Status st = Status::ok;
      try {
        decode(cut);
      } catch (const Error& e) {
        st = e.status();
        message = e.what();
      }
      CHECK(st == Status::format_error);
      CHECK(!message.empty());
      MESSAGE(format << " cut at " << frac << ": " << message);
    }
  }
}

TEST_CASE("decode: oversized headers are rejected before allocation") {
  SUBCASE("PNG claiming 100000 x 100000") {
    auto png = golden_file(first_golden_with_format("PNG"));
    const uint8_t big[4] = {0x00, 0x01, 0x86, 0xA0};  // 100000 big-endian
    std::memcpy(&png[16], big, 4);
    std::memcpy(&png[20], big, 4);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(status_of([&] { decode(png); }) == Status::limit_exceeded);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(200));
  }
  SUBCASE("PNG of zero width") {
    auto png = make_png(1, 1, 8, 0, {0});
    std::memset(&png[16], 0, 4);
    CHECK(status_of([&] { decode(png); }) == Status::format_error);
  }
  SUBCASE("limits apply to every format") {
    DecodeLimits tiny;
    tiny.max_pixels = 100;
    for (auto& [name, meta] : golden_images().items()) {
      CAPTURE(name);
      const auto bytes = read_bytes(golden_dir() + "/" + meta["file"].get<std::string>());
      CHECK(status_of([&] { decode(bytes, tiny); }) == Status::limit_exceeded);
    }
    DecodeLimits narrow;
    narrow.max_side = 10;
    const auto jpg = golden_file(first_golden_with_format("JPEG"));
    CHECK(status_of([&] { decode(jpg, narrow); }) == Status::limit_exceeded);
    DecodeLimits small_file;
    small_file.max_file_bytes = 16;
    CHECK(status_of([&] { decode(jpg, small_file); }) == Status::limit_exceeded);
    const std::string path =
        golden_dir() + "/" + golden_images()[first_golden_with_format("JPEG")]["file"].get<std::string>();
    CHECK(status_of([&] { decode_image_file(path, small_file); }) == Status::limit_exceeded);
  }
  SUBCASE("BMP claiming 60000 x 60000") {
    const std::vector<uint8_t> rgb(12, 0);
    std::vector<uint8_t> bmp;
    REQUIRE(stbi_write_bmp_to_func(write_to_vector, &bmp, 2, 2, 3, rgb.data()));
    const uint8_t big[4] = {0x60, 0xEA, 0x00, 0x00};  // 60000 little-endian
    std::memcpy(&bmp[18], big, 4);
    std::memcpy(&bmp[22], big, 4);
    CHECK(status_of([&] { decode(bmp); }) == Status::limit_exceeded);
  }
}

TEST_CASE("image_from_pixels: formats, strides and validation") {
  SUBCASE("gray8 with row padding") {
    const uint8_t px[] = {1, 2, 99, 3, 4, 99};
    const RgbImage img = image_from_pixels(px, sizeof px, 2, 2, 3, PixelFormat::gray8);
    CHECK(img.pixels == std::vector<uint8_t>{1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4});
  }
  SUBCASE("last row needs only its own bytes") {
    const uint8_t px[] = {1, 2, 99, 3, 4};
    CHECK(image_from_pixels(px, sizeof px, 2, 2, 3, PixelFormat::gray8).pixels.size() == 12);
  }
  SUBCASE("rgb8") {
    const uint8_t px[] = {1, 2, 3, 4, 5, 6};
    CHECK(image_from_pixels(px, 6, 2, 1, 6, PixelFormat::rgb8).pixels ==
          std::vector<uint8_t>(px, px + 6));
  }
  SUBCASE("16-bit native endian") {
    const uint16_t g[] = {257 * 9, 65535};
    const RgbImage a = image_from_pixels(g, sizeof g, 2, 1, sizeof g, PixelFormat::gray16);
    CHECK(a.pixels == std::vector<uint8_t>{9, 9, 9, 255, 255, 255});
    CHECK(a.source_depth == SourceDepth::bits16);
    const uint16_t c[] = {0, 257, 514};
    CHECK(image_from_pixels(c, sizeof c, 1, 1, sizeof c, PixelFormat::rgb16).pixels ==
          std::vector<uint8_t>{0, 1, 2});
  }
  SUBCASE("invalid arguments") {
    const uint8_t px[16] = {};
    auto st = [&](const void* d, size_t n, int w, int h, size_t stride, PixelFormat f) {
      return status_of([&] { image_from_pixels(d, n, w, h, stride, f); });
    };
    CHECK(st(px, 16, 0, 1, 4, PixelFormat::gray8) == Status::invalid_argument);
    CHECK(st(px, 16, 1, -1, 4, PixelFormat::gray8) == Status::invalid_argument);
    CHECK(st(nullptr, 16, 1, 1, 4, PixelFormat::gray8) == Status::invalid_argument);
    CHECK(st(px, 16, 2, 2, 5, PixelFormat::rgb8) == Status::invalid_argument);   // stride < row
    CHECK(st(px, 16, 2, 2, 6, PixelFormat::rgb16) == Status::invalid_argument);  // stride < row
    CHECK(st(px, 11, 2, 2, 6, PixelFormat::rgb8) == Status::invalid_argument);   // buffer short
    CHECK(st(px, 16, 2, 3, SIZE_MAX / 2, PixelFormat::gray8) == Status::invalid_argument);
    CHECK(st(px, 16, 1, 1, 1, static_cast<PixelFormat>(42)) == Status::invalid_argument);
    CHECK(st(px, 16, 100000, 100000, 100000, PixelFormat::gray8) == Status::limit_exceeded);
  }
}

TEST_CASE("decode: mutated golden files fail cleanly or decode") {
  std::mt19937 rng(2024);
  int decoded = 0, rejected = 0;
  for (auto& [name, meta] : golden_images().items()) {
    const auto bytes = read_bytes(golden_dir() + "/" + meta["file"].get<std::string>());
    for (int t = 0; t < 150; ++t) {
      std::vector<uint8_t> m = bytes;
      const int flips = 1 + int(rng() % 8);
      for (int f = 0; f < flips; ++f) {
        // Keep the signature so the real decoders are exercised.
        m[8 + rng() % uint32_t(m.size() - 8)] = uint8_t(rng());
      }
      if (rng() % 4 == 0) m.resize(8 + rng() % uint32_t(m.size() - 8));
      try {
        const RgbImage img = decode(m);
        CHECK(img.pixels.size() == size_t(img.width) * size_t(img.height) * 3);
        ++decoded;
      } catch (const Error&) {
        ++rejected;
      }
    }
  }
  MESSAGE("mutations: " << decoded << " decoded, " << rejected << " rejected");
  CHECK(decoded + rejected > 0);
}

TEST_CASE("decode: a top-down BMP (negative height) decodes upright (issue 9, finding 3)") {
  // 7 x 2 RGB, odd width so rows are padded; stb writes it bottom-up.
  std::vector<uint8_t> rgb(7 * 2 * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = uint8_t(i * 11);
  std::vector<uint8_t> bottom_up;
  REQUIRE(stbi_write_bmp_to_func(write_to_vector, &bottom_up, 7, 2, 3, rgb.data()));
  // The same picture stored top-down: height negated, pixel rows in the other order.
  int32_t height = 0, offset = 0;
  std::memcpy(&height, &bottom_up[22], 4);
  std::memcpy(&offset, &bottom_up[10], 4);
  REQUIRE(height == 2);
  const size_t row = (7 * 3 + 3) & ~size_t{3};
  std::vector<uint8_t> top_down(bottom_up.begin(), bottom_up.begin() + offset);
  const int32_t negative = -height;
  std::memcpy(&top_down[22], &negative, 4);
  for (int y = height - 1; y >= 0; --y) {
    const auto first = bottom_up.begin() + offset + long(size_t(y) * row);
    top_down.insert(top_down.end(), first, first + long(row));
  }
  const RgbImage a = decode(bottom_up), b = decode(top_down);
  CHECK(b.width == 7);
  CHECK(b.height == 2);
  CHECK(a.pixels == rgb);
  CHECK(b.pixels == rgb);
}

TEST_CASE("decode: a PNG whose first IDAT chunk is empty decodes like the same file without it (issue 9, finding 4)") {
  // Legal PNG, but stb_image reads an empty first IDAT through a null pointer (undefined
  // behaviour that the sanitizer build of the tests reports); the decoder drops such
  // chunks before stb sees the file.
  const std::vector<uint8_t> plain = make_png(5, 3, 8, 0, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15});
  std::vector<uint8_t> with_empty;
  const size_t idat = 33;  // signature 8 + IHDR chunk 25
  REQUIRE(std::memcmp(&plain[idat + 4], "IDAT", 4) == 0);
  with_empty.assign(plain.begin(), plain.begin() + long(idat));
  put_chunk(with_empty, "IDAT", {});
  put_chunk(with_empty, "IDAT", {});
  with_empty.insert(with_empty.end(), plain.begin() + long(idat), plain.end());
  const RgbImage a = decode(plain), b = decode(with_empty);
  CHECK(b.width == 5);
  CHECK(b.height == 3);
  CHECK(b.pixels == a.pixels);
}

TEST_CASE("decode: impossible sizes in a file are format errors, not the caller's invalid arguments (issue 9)") {
  const std::vector<uint8_t> rgb = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  std::vector<uint8_t> bmp;
  REQUIRE(stbi_write_bmp_to_func(write_to_vector, &bmp, 2, 2, 3, rgb.data()));
  const int32_t zero = 0;
  std::memcpy(&bmp[18], &zero, 4);  // width 0
  CHECK(status_of([&] { decode(bmp); }) == Status::format_error);
  // The same size passed by a caller as raw pixels is the caller's mistake.
  CHECK(status_of([&] { image_from_pixels(rgb.data(), rgb.size(), 0, 2, 6, PixelFormat::rgb8); }) ==
        Status::invalid_argument);
}

TEST_CASE("decode: a PNG chunk claiming more bytes than the file has is refused before any allocation (issue 9, fuzzing)") {
  // Found by fuzz_image: stb_image allocated what an IDAT length field claimed (2 GB for
  // a 73-byte file) before noticing the data was not there.
  std::vector<uint8_t> png = make_png(2, 2, 8, 0, {1, 2, 3, 4});
  const size_t idat = 33;
  REQUIRE(std::memcmp(&png[idat + 4], "IDAT", 4) == 0);
  const uint8_t huge[4] = {0x7f, 0xff, 0xff, 0x00};
  std::memcpy(&png[idat], huge, 4);
  Status st = Status::ok;
  std::string msg;
  try {
    decode(png);
  } catch (const Error& e) {
    st = e.status();
    msg = e.what();
  }
  CHECK(st == Status::format_error);
  CHECK(msg.find("claims 2147483392 bytes") != std::string::npos);
}
