#include <doctest/doctest.h>

#include <random>

#include "image/image_decoder.h"
#include "image/pil_resize.h"
#include "support/npy_support.h"
#include "test_support.h"

using namespace m4cxr;
using namespace m4cxr::test;

namespace {

RgbImage random_image(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  RgbImage img;
  img.width = w;
  img.height = h;
  img.pixels.resize(size_t(w) * h * 3);
  for (auto& p : img.pixels) p = uint8_t(rng());
  return img;
}

RgbImage crop(const RgbImage& img, int left, int top, int w, int h) {
  RgbImage out;
  out.width = w;
  out.height = h;
  for (int y = top; y < top + h; ++y) {
    const auto* row = &img.pixels[(size_t(y) * img.width + left) * 3];
    out.pixels.insert(out.pixels.end(), row, row + size_t(w) * 3);
  }
  return out;
}

RgbImage from_npy(const NpyArray& a) {
  RgbImage img;
  img.height = int(a.shape.at(0));
  img.width = int(a.shape.at(1));
  img.pixels = npy_u8(a);
  return img;
}

}  // namespace

TEST_CASE("resize: Pillow BICUBIC goldens are reproduced bit-exactly") {
  for (auto& [name, meta] : golden_images().items()) {
    CAPTURE(name);
    // The 16-bit case resizes upstream's clamped decode, which proves the resize there.
    const RgbImage src =
        golden_is_16bit(meta)
            ? from_npy(read_npy(golden_dir() + "/" + meta["decoded_rgb"].get<std::string>()))
            : decode_image_file(golden_dir() + "/" + meta["file"].get<std::string>());
    const int h = meta["resized_hw"][0], w = meta["resized_hw"][1];
    const NpyArray ref = read_npy(golden_array_path(name, "resized_u8"));
    REQUIRE(ref.shape == std::vector<int64_t>{h, w, 3});
    const RgbImage out = resize_bicubic(src, w, h);
    CHECK(out.width == w);
    CHECK(out.height == h);
    CHECK(out.pixels == npy_u8(ref));
  }
}

TEST_CASE("resize: a window equals the same crop of the full resize") {
  const RgbImage src = random_image(53, 41, 3);
  const int sizes[][2] = {{53, 41}, {120, 97}, {17, 9}, {53, 90}, {200, 41}, {5, 300}, {1, 1}};
  std::mt19937 rng(11);
  for (const auto& s : sizes) {
    CAPTURE(s[0]);
    CAPTURE(s[1]);
    const RgbImage full = resize_bicubic(src, s[0], s[1]);
    for (int t = 0; t < 6; ++t) {
      const int w = 1 + int(rng() % uint32_t(s[0])), h = 1 + int(rng() % uint32_t(s[1]));
      const int left = int(rng() % uint32_t(s[0] - w + 1)), top = int(rng() % uint32_t(s[1] - h + 1));
      const RgbImage win = resize_bicubic_region(src, s[0], s[1], left, top, w, h);
      CHECK(win.pixels == crop(full, left, top, w, h).pixels);
    }
  }
}

TEST_CASE("resize: same size is a copy; constant images stay constant") {
  const RgbImage src = random_image(7, 5, 5);
  CHECK(resize_bicubic(src, 7, 5).pixels == src.pixels);
  RgbImage flat = random_image(31, 17, 1);
  std::fill(flat.pixels.begin(), flat.pixels.end(), 77);
  for (auto [w, h] : {std::pair{3, 2}, {100, 60}, {31, 170}}) {
    const RgbImage out = resize_bicubic(flat, w, h);
    CHECK(std::all_of(out.pixels.begin(), out.pixels.end(), [](uint8_t v) { return v == 77; }));
  }
}

TEST_CASE("resize: invalid arguments") {
  const RgbImage src = random_image(4, 4, 2);
  CHECK(status_of([&] { resize_bicubic(src, 0, 4); }) == Status::invalid_argument);
  CHECK(status_of([&] { resize_bicubic(src, 4, -1); }) == Status::invalid_argument);
  CHECK(status_of([&] { resize_bicubic_region(src, 8, 8, 4, 0, 5, 1); }) == Status::invalid_argument);
  CHECK(status_of([&] { resize_bicubic_region(src, 8, 8, -1, 0, 1, 1); }) == Status::invalid_argument);
  CHECK(status_of([&] { resize_bicubic(src, 100000, 100000); }) == Status::limit_exceeded);
  RgbImage broken = src;
  broken.pixels.pop_back();
  CHECK(status_of([&] { resize_bicubic(broken, 2, 2); }) == Status::invalid_argument);
  CHECK(status_of([&] { resize_bicubic(RgbImage{}, 2, 2); }) == Status::invalid_argument);
}
