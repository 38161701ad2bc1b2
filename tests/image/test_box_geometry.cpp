#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "image/box_geometry.h"
#include "test_support.h"

using namespace m4cxr;
using namespace m4cxr::test;

namespace {

bool same(const ModelBox& a, const ModelBox& b) {
  return a.x1 == b.x1 && a.y1 == b.y1 && a.x2 == b.x2 && a.y2 == b.y2;
}
bool same(const PixelBox& a, const PixelBox& b) {
  return a.x1 == b.x1 && a.y1 == b.y1 && a.x2 == b.x2 && a.y2 == b.y2;
}

}  // namespace

TEST_CASE("box: python_round is ties-to-even") {
  CHECK(python_round(0.5) == 0);
  CHECK(python_round(1.5) == 2);
  CHECK(python_round(2.5) == 2);
  CHECK(python_round(-0.5) == 0);
  CHECK(python_round(-1.5) == -2);
  CHECK(python_round(2.4999999) == 2);
  CHECK(python_round(-2.6) == -3);
  CHECK(status_of([] { python_round(std::nan("")); }) == Status::invalid_argument);
  CHECK(status_of([] { python_round(1e12); }) == Status::invalid_argument);
}

// Expected values computed with the official Python normalize_bbox / norm2origin_box.
TEST_CASE("box: normalize_box matches the official normalize_bbox") {
  CHECK(same(normalize_box({30, 80, 150, 420}, 300, 400), {10, 10, 50, 100}));
  CHECK(same(normalize_box({3, 5, 250, 401}, 401, 300), {0, 2, 66, 134}));  // short axis unclipped
  CHECK(same(normalize_box({15, 0, 45, 10}, 300, 301), {5, 0, 15, 3}));
  CHECK(same(normalize_box({0, 0, 2500, 2048}, 2500, 2048), {0, 0, 100, 100}));
  CHECK(same(normalize_box({1, 3, 5, 0}, 200, 200), {0, 2, 2, 0}));  // ties to even
  CHECK(status_of([] { normalize_box({0, 0, 1, 1}, 0, 10); }) == Status::invalid_argument);
  CHECK(status_of([] { normalize_box({0, std::numeric_limits<double>::infinity(), 1, 1}, 5, 10); }) ==
        Status::invalid_argument);
}

TEST_CASE("box: model_box_to_pixels matches the official norm2origin_box") {
  CHECK(same(model_box_to_pixels({10, 0, 55, 100}, 301, 500), {30, 100, 166, 400}));
  CHECK(same(model_box_to_pixels({0, 25, 100, 75}, 2500, 2048), {226, 512, 2274, 1536}));
  CHECK(same(model_box_to_pixels({5, 15, 25, 35}, 250, 270), {12, 48, 62, 98}));
  CHECK(same(model_box_to_pixels({1, 3, 5, 7}, 150, 150), {2, 4, 8, 10}));  // ties to even
  ImageGeometry g;
  g.original_width = 301;
  g.original_height = 500;
  CHECK(same(model_box_to_pixels({10, 0, 55, 100}, g), {30, 100, 166, 400}));
  CHECK(status_of([] { model_box_to_pixels({0, 0, 1, 1}, 10, -1); }) == Status::invalid_argument);
}

TEST_CASE("box: round trips on non-square images") {
  const int sizes[][2] = {{2500, 2048}, {2048, 2500}, {301, 500}, {777, 333}, {518, 519}};
  for (const auto& s : sizes) {
    const int w = s[0], h = s[1], side = std::min(w, h);
    CAPTURE(w);
    CAPTURE(h);
    // model -> pixels -> model is exact once the square is larger than 100 px.
    for (int v = 0; v <= 100; v += 7) {
      const ModelBox m{v, 100 - v, std::min(v + 13, 100), std::min(100 - v + 3, 100)};
      CHECK(same(normalize_box(model_box_to_pixels(m, w, h), w, h), m));
    }
    // pixels inside the centre square -> model -> pixels moves a corner by at most
    // half a model unit (side/200 px) plus one pixel of rounding.
    const double ox = (w - side) / 2.0, oy = (h - side) / 2.0;
    const double tol = side / 200.0 + 1.0;
    for (int i = 0; i <= 20; ++i) {
      const double a = side * i / 20.0, b = side * (20 - i) / 23.0;
      const PixelBox p{ox + b, oy + a, ox + std::min(b + 37.3, double(side)), oy + std::min(a + 11.0, double(side))};
      const PixelBox q = model_box_to_pixels(normalize_box(p, w, h), w, h);
      CHECK(std::abs(q.x1 - p.x1) <= tol);
      CHECK(std::abs(q.y1 - p.y1) <= tol);
      CHECK(std::abs(q.x2 - p.x2) <= tol);
      CHECK(std::abs(q.y2 - p.y2) <= tol);
    }
  }
}
