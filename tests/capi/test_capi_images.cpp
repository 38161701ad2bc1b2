// Image input through the C API: what the header promises for file contents (issue 9).
#include <cstring>

#include "capi_support.h"

using namespace capi_test;

namespace {

void put32(std::vector<uint8_t>& b, size_t at, int32_t v) { std::memcpy(&b[at], &v, 4); }

// A 24-bit BMP of width x |height| gray pixels; a negative height stores rows top-down.
std::vector<uint8_t> bmp(int32_t width, int32_t height) {
  const int32_t rows = height < 0 ? -height : height;
  const size_t row = (size_t(width > 0 ? width : 1) * 3 + 3) & ~size_t{3};
  std::vector<uint8_t> b(54 + row * size_t(rows), 0x80);
  b[0] = 'B';
  b[1] = 'M';
  put32(b, 2, int32_t(b.size()));
  put32(b, 6, 0);
  put32(b, 10, 54);
  put32(b, 14, 40);
  put32(b, 18, width);
  put32(b, 22, height);
  b[26] = 1;  // planes
  b[27] = 0;
  b[28] = 24;  // bits per pixel
  b[29] = 0;
  for (size_t i = 30; i < 54; ++i) b[i] = 0;
  put32(b, 34, int32_t(row * size_t(rows)));
  return b;
}

}  // namespace

TEST_CASE("capi images: a top-down BMP loads with its real size; a file with an impossible size is FORMAT") {
  m4cxr_image* im = nullptr;
  const auto top_down = bmp(7, -2);
  REQUIRE_MESSAGE(m4cxr_image_from_memory(model(), top_down.data(), top_down.size(), &im) == M4CXR_OK,
                  m4cxr_last_error());
  int w = 0, h = 0;
  REQUIRE(m4cxr_image_get_size(im, &w, &h) == M4CXR_OK);
  CHECK(w == 7);
  CHECK(h == 2);
  m4cxr_image_free(im);
  // The header promises FORMAT for a corrupt image: a zero width is the file's fault.
  const auto zero_width = bmp(0, 2);
  im = nullptr;
  CHECK(m4cxr_image_from_memory(model(), zero_width.data(), zero_width.size(), &im) == M4CXR_ERR_FORMAT);
  CHECK(im == nullptr);
  // The same size handed over as raw pixels is the caller's mistake.
  const uint8_t px[6] = {0};
  CHECK(m4cxr_image_from_pixels(model(), px, sizeof px, 0, 2, 3, M4CXR_PIXELS_RGB8, &im) ==
        M4CXR_ERR_INVALID_ARGUMENT);
}
