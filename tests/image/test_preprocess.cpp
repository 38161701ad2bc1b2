#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "image/image_decoder.h"
#include "image/pil_resize.h"
#include "image/preprocess.h"
#include "support/npy_support.h"
#include "test_support.h"

using namespace m4cxr;
using namespace m4cxr::test;
using nlohmann::json;

namespace {

PreprocessConfig golden_config() {
  return load_preprocess_config(golden_dir() + "/models/merged_fp32");
}

RgbImage from_npy(const NpyArray& a) {
  RgbImage img;
  img.height = int(a.shape.at(0));
  img.width = int(a.shape.at(1));
  img.pixels = npy_u8(a);
  return img;
}

RgbImage gradient(int w, int h) {
  RgbImage img;
  img.width = w;
  img.height = h;
  img.pixels.resize(size_t(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < 3; ++c) {
        img.pixels[(size_t(y) * w + x) * 3 + c] = uint8_t((x * 7 + y * 3 + c * 50) % 256);
      }
    }
  }
  return img;
}

json golden_config_json() {
  std::ifstream f(golden_dir() + "/models/merged_fp32/preprocessor_config.json");
  return json::parse(f);
}

Status config_status(const json& j) {
  return status_of([&] { preprocess_config_from_json(j); });
}

}  // namespace

TEST_CASE("preprocess: golden config is read from preprocessor_config.json") {
  const PreprocessConfig c = golden_config();
  const json j = golden_config_json();
  CHECK(c.shortest_edge == j["size"]["shortest_edge"].get<int>());
  CHECK(c.crop_height == j["crop_size"]["height"].get<int>());
  CHECK(c.crop_width == j["crop_size"]["width"].get<int>());
  CHECK(c.rescale_factor == j["rescale_factor"].get<double>());
  CHECK(c.rescale_factor == 1.0 / 255.0);
  CHECK(c.image_mean[0] == 0.5307f);
  CHECK(c.image_std[2] == 0.2583f);
}

TEST_CASE("preprocess: every golden image reproduces resized, cropped and pixel_values") {
  const PreprocessConfig cfg = golden_config();
  int cases = 0;
  for (auto& [name, meta] : golden_images().items()) {
    CAPTURE(name);
    // 16-bit goldens start from upstream's clamped decode (m4cxr decodes them differently).
    const RgbImage src =
        golden_is_16bit(meta)
            ? from_npy(read_npy(golden_dir() + "/" + meta["decoded_rgb"].get<std::string>()))
            : decode_image_file(golden_dir() + "/" + meta["file"].get<std::string>());

    ImageGeometry g;
    const RgbImage cropped = preprocess_resize_and_crop(src, cfg, &g);
    CHECK(g.original_width == src.width);
    CHECK(g.resized_height == meta["resized_hw"][0].get<int>());
    CHECK(g.resized_width == meta["resized_hw"][1].get<int>());
    const NpyArray resized_ref = read_npy(golden_array_path(name, "resized_u8"));
    CHECK(resize_bicubic(src, g.resized_width, g.resized_height).pixels == npy_u8(resized_ref));
    const NpyArray crop_ref = read_npy(golden_array_path(name, "cropped_u8"));
    REQUIRE(crop_ref.shape == std::vector<int64_t>{cfg.crop_height, cfg.crop_width, 3});
    CHECK(cropped.pixels == npy_u8(crop_ref));

    const PreprocessedImage out = preprocess_image(src, cfg);
    const NpyArray pv = read_npy(golden_dir() + "/" + meta["pixel_values"].get<std::string>());
    REQUIRE(pv.shape == std::vector<int64_t>{3, out.height, out.width});
    const std::vector<float> ref = npy_f32(pv);
    REQUIRE(out.chw.size() == ref.size());
    size_t mismatches = 0;
    for (size_t i = 0; i < ref.size(); ++i) mismatches += out.chw[i] != ref[i];
    CHECK(mismatches == 0);
    ++cases;
  }
  CHECK(cases >= 1);
}

TEST_CASE("preprocess: a 16-bit image equal to 257 x an 8-bit image preprocesses identically") {
  const RgbImage img8 = gradient(61, 45);
  std::vector<uint16_t> px16(img8.pixels.begin(), img8.pixels.end());
  for (auto& v : px16) v = uint16_t(v * 257);
  const RgbImage img16 = image_from_pixels(px16.data(), px16.size() * 2, 61, 45, 61 * 6, PixelFormat::rgb16);
  CHECK(preprocess_image(img8, golden_config()).chw == preprocess_image(img16, golden_config()).chw);
}

TEST_CASE("preprocess: shortest-edge size uses Python's int(size * long / short)") {
  auto s = shortest_edge_resize_size(2500, 2048, 518);
  CHECK(s.width == 632);  // int(518*2500/2048) = int(632.32)
  CHECK(s.height == 518);
  s = shortest_edge_resize_size(73, 101, 70);
  CHECK(s.width == 70);
  CHECK(s.height == 96);
  s = shortest_edge_resize_size(300, 300, 518);
  CHECK(s.width == 518);
  CHECK(s.height == 518);
  s = shortest_edge_resize_size(1, 100000, 518);
  CHECK(s.height == 51800000);
}

TEST_CASE("preprocess: sliver images only compute the crop") {
  PreprocessConfig cfg;  // 518 / 518
  const RgbImage sliver = gradient(1, 20000);
  const auto t0 = std::chrono::steady_clock::now();
  ImageGeometry g;
  const PreprocessedImage out = preprocess_image(sliver, cfg);
  preprocess_resize_and_crop(sliver, cfg, &g);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(secs < 2.0);
  CHECK(out.width == 518);
  CHECK(out.height == 518);
  CHECK(out.chw.size() == size_t(3) * 518 * 518);
  CHECK(g.resized_width == 518);
  CHECK(g.resized_height == 10360000);
  CHECK(g.crop_top == (10360000 - 518) / 2);

  // A smaller sliver whose full resize fits in memory: the cropped window matches.
  PreprocessConfig small;
  small.shortest_edge = small.crop_height = small.crop_width = 16;
  const RgbImage thin = gradient(3, 300);
  const RgbImage full = resize_bicubic(thin, 16, 1600);
  ImageGeometry sg;
  const RgbImage crop = preprocess_resize_and_crop(thin, small, &sg);
  CHECK(sg.crop_top == 792);
  const std::vector<uint8_t> expected(full.pixels.begin() + 792 * 16 * 3,
                                      full.pixels.begin() + (792 + 16) * 16 * 3);
  CHECK(crop.pixels == expected);
}

TEST_CASE("preprocess: images smaller than the crop are zero-padded like transformers") {
  PreprocessConfig cfg;
  cfg.do_resize = false;
  cfg.crop_height = 8;
  cfg.crop_width = 4;
  RgbImage img = gradient(6, 4);  // width 6 > 4: cropped; height 4 < 8: padded by 2+2
  ImageGeometry g;
  const RgbImage out = preprocess_resize_and_crop(img, cfg, &g);
  CHECK(g.crop_left == 1);
  CHECK(g.crop_top == -2);
  REQUIRE(out.width == 4);
  REQUIRE(out.height == 8);
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 4; ++x) {
      const uint8_t v = out.pixels[(size_t(y) * 4 + x) * 3];
      const uint8_t expect = (y < 2 || y >= 6) ? 0 : img.pixels[(size_t(y - 2) * 6 + x + 1) * 3];
      CHECK(v == expect);
    }
  }
  cfg.crop_height = 7;  // odd shortfall: transformers would return 6 rows
  CHECK(status_of([&] { preprocess_image(img, cfg); }) == Status::unsupported);
}

TEST_CASE("preprocess: rescale/normalize switches and CHW layout") {
  PreprocessConfig cfg;
  cfg.do_resize = cfg.do_center_crop = false;
  RgbImage img;
  img.width = 2;
  img.height = 1;
  img.pixels = {0, 128, 255, 10, 20, 30};
  PreprocessedImage out = preprocess_image(img, cfg);
  REQUIRE(out.chw.size() == 6);
  CHECK(out.chw[0] == (float(0.0 * (1.0 / 255)) - 0.5307f) / 0.2583f);
  CHECK(out.chw[1] == (float(10.0 * (1.0 / 255)) - 0.5307f) / 0.2583f);  // R plane, pixel 1
  CHECK(out.chw[2] == (float(128.0 * (1.0 / 255)) - 0.5307f) / 0.2583f);  // G plane
  cfg.do_normalize = false;
  CHECK(preprocess_image(img, cfg).chw[5] == float(30.0 / 255.0));
  cfg.do_rescale = false;
  CHECK(preprocess_image(img, cfg).chw[4] == 255.0f);
  cfg.image_std[1] = 0.0f;
  cfg.do_normalize = true;
  CHECK(status_of([&] { preprocess_image(img, cfg); }) == Status::invalid_argument);
  CHECK(status_of([&] { preprocess_image(RgbImage{}, PreprocessConfig{}); }) == Status::invalid_argument);
}

TEST_CASE("preprocess: config parsing and validation") {
  const json base = golden_config_json();
  CHECK(config_status(base) == Status::ok);

  SUBCASE("defaults when the model has no preprocessor_config.json") {
    const PreprocessConfig d = load_preprocess_config(std::string(M4CXR_TEST_DATA) + "/nonexistent-dir");
    CHECK(d.shortest_edge == 518);
    CHECK(d.crop_width == 518);
    CHECK(d.image_mean[1] == 0.5307f);
  }
  SUBCASE("integer shorthands") {
    json j = base;
    j["size"] = 64;
    j["crop_size"] = 32;
    j["image_mean"] = 0.5;
    const PreprocessConfig c = preprocess_config_from_json(j);
    CHECK(c.shortest_edge == 64);
    CHECK(c.crop_height == 32);
    CHECK(c.crop_width == 32);
    CHECK(c.image_mean[2] == 0.5f);
  }
  SUBCASE("wrong types and values name the field") {
    auto msg = [](const json& j) {
      try {
        preprocess_config_from_json(j);
      } catch (const Error& e) {
        return std::string(e.what());
      }
      return std::string();
    };
    json j = base;
    j["do_resize"] = "yes";
    CHECK(config_status(j) == Status::format_error);
    CHECK(msg(j).find("do_resize") != std::string::npos);
    j = base;
    j["size"]["shortest_edge"] = 0;
    CHECK(msg(j).find("size.shortest_edge") != std::string::npos);
    j = base;
    j["crop_size"] = {{"height", 10}};
    CHECK(config_status(j) == Status::format_error);
    j = base;
    j["image_std"] = {0.2, 0.0, 0.2};
    CHECK(config_status(j) == Status::format_error);
    CHECK(msg(j).find("image_std") != std::string::npos);
    j = base;
    j["image_mean"] = {0.5, 0.5};
    CHECK(config_status(j) == Status::format_error);
    j = base;
    j.erase("image_mean");
    CHECK(msg(j).find("image_mean") != std::string::npos);
    j = base;
    j["rescale_factor"] = -1;
    CHECK(config_status(j) == Status::format_error);
    j = base;
    j["size"] = 1.5;
    CHECK(config_status(j) == Status::format_error);
    CHECK(config_status(json::array()) == Status::format_error);
  }
  SUBCASE("unsupported variants") {
    json j = base;
    j["resample"] = 2;
    CHECK(config_status(j) == Status::unsupported);
    j = base;
    j["size"] = {{"height", 224}, {"width", 224}};
    CHECK(config_status(j) == Status::unsupported);
    j = base;
    j["image_processor_type"] = "ViTImageProcessor";
    CHECK(config_status(j) == Status::unsupported);
  }
  SUBCASE("disabled stages need no values") {
    json j = json::object();
    j["do_resize"] = false;
    j["do_center_crop"] = false;
    j["do_normalize"] = false;
    CHECK(config_status(j) == Status::ok);
  }
}
