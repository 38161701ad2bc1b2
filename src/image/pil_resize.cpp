#include "image/pil_resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "common/error.h"

// Bit-exactness note: the double expressions below keep Pillow's operation order.
// They must not be contracted into FMAs; ISO C++ mode (-std=c++17, no GNU extensions)
// makes GCC default to -ffp-contract=off.

namespace m4cxr {

namespace {

constexpr int kPrecisionBits = 22;  // Pillow: 32 - 8 bits of pixel - 2 bits of headroom
constexpr double kSupport = 2.0;    // support of the bicubic kernel

// Keys cubic convolution kernel, a = -0.5 (Pillow's bicubic_filter).
double keys_cubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Fixed-point filter taps for a contiguous range of output indices of one axis.
struct AxisTaps {
  int ksize = 0;                // stride between the tap lists of consecutive outputs
  std::vector<int> first;       // first input index used by each output
  std::vector<int> count;       // number of taps of each output
  std::vector<int32_t> weight;  // ksize weights per output, 22-bit fixed point
};

// Taps of outputs [out_first, out_first + n) for in_size -> out_size, as Pillow's
// precompute_coeffs + normalize_coeffs_8bpc compute them for those indices.
AxisTaps axis_taps(int in_size, int out_size, int out_first, int n) {
  // Pillow takes the input extent as a float box coordinate, then widens it.
  const double scale = double(static_cast<float>(in_size)) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = kSupport * filterscale;
  const double inv_filterscale = 1.0 / filterscale;

  AxisTaps t;
  t.ksize = int(std::ceil(support)) * 2 + 1;
  t.first.resize(size_t(n));
  t.count.resize(size_t(n));
  t.weight.assign(size_t(n) * size_t(t.ksize), 0);
  std::vector<double> w(size_t(t.ksize));
  for (int i = 0; i < n; ++i) {
    const double center = (double(out_first + i) + 0.5) * scale;
    // int() truncates toward zero, as Pillow's casts do; negatives clip to 0 anyway.
    const int xmin = std::max(int(center - support + 0.5), 0);
    const int xmax = std::min(int(center + support + 0.5), in_size);
    const int cnt = xmax - xmin;
    double sum = 0.0;
    for (int x = 0; x < cnt; ++x) {
      w[size_t(x)] = keys_cubic((double(x + xmin) - center + 0.5) * inv_filterscale);
      sum += w[size_t(x)];
    }
    int32_t* k = &t.weight[size_t(i) * size_t(t.ksize)];
    for (int x = 0; x < cnt; ++x) {
      const double v = sum != 0.0 ? w[size_t(x)] / sum : w[size_t(x)];
      // Round half away from zero, then truncate: Pillow's normalize_coeffs_8bpc.
      k[x] = v < 0 ? int32_t(-0.5 + v * (1 << kPrecisionBits))
                   : int32_t(0.5 + v * (1 << kPrecisionBits));
    }
    t.first[size_t(i)] = xmin;
    t.count[size_t(i)] = cnt;
  }
  return t;
}

// Rounds a fixed-point accumulator (which started at 0.5) to a clipped uint8.
// Headroom: weights sum to 1 and their absolute sum stays well under 4, so
// 255 * sum|k| + 2^21 fits in int32, as Pillow relies on.
inline uint8_t clip8(int32_t acc) {
  if (acc < 0) return 0;
  const int32_t v = acc >> kPrecisionBits;
  return v > 255 ? 255 : uint8_t(v);
}

constexpr int32_t kHalf = int32_t(1) << (kPrecisionBits - 1);

}  // namespace

namespace {

void check_window(const RgbImage& src, int out_width, int out_height, int left, int top, int win_width,
                  int win_height) {
  validate_rgb_image(src, "resize_bicubic");
  if (out_width < 1 || out_height < 1) {
    fail(Status::invalid_argument, "resize_bicubic: invalid output size " +
                                       std::to_string(out_width) + "x" +
                                       std::to_string(out_height));
  }
  if (left < 0 || top < 0 || win_width < 1 || win_height < 1 ||
      int64_t(left) + win_width > out_width || int64_t(top) + win_height > out_height) {
    fail(Status::invalid_argument,
         "resize_bicubic: window " + std::to_string(win_width) + "x" +
             std::to_string(win_height) + "+" + std::to_string(left) + "+" + std::to_string(top) +
             " is not inside the " + std::to_string(out_width) + "x" +
             std::to_string(out_height) + " output");
  }
  if (int64_t(win_width) * win_height > max_resize_output_pixels) {
    fail(Status::limit_exceeded, "resize_bicubic: output window of " +
                                     std::to_string(int64_t(win_width) * win_height) +
                                     " pixels exceeds the limit of " +
                                     std::to_string(max_resize_output_pixels));
  }
}

// Source rows [*row0, *row1) that the vertical taps `vt` of the window's rows read.
void source_rows(const AxisTaps& vt, int win_height, int* row0, int* row1) {
  *row0 = vt.first.front();
  *row1 = 0;
  for (int i = 0; i < win_height; ++i) {
    *row0 = std::min(*row0, vt.first[size_t(i)]);
    *row1 = std::max(*row1, vt.first[size_t(i)] + vt.count[size_t(i)]);
  }
}

// Horizontal pass over source rows [row0, row1), only for the window's columns
// (a copy when the width does not change): (row1 - row0) rows of win_width RGB pixels.
std::vector<uint8_t> horizontal_pass(const RgbImage& src, bool filter, int out_width, int left, int win_width,
                                     int row0, int row1) {
  const int in_w = src.width;
  const size_t row_len = size_t(win_width) * 3;
  std::vector<uint8_t> tmp(size_t(row1 - row0) * row_len);
  const uint8_t* in = src.pixels.data();
  if (!filter) {
    for (int y = row0; y < row1; ++y) {
      std::memcpy(&tmp[size_t(y - row0) * row_len], in + (size_t(y) * in_w + left) * 3, row_len);
    }
    return tmp;
  }
  const AxisTaps ht = axis_taps(in_w, out_width, left, win_width);
  for (int y = row0; y < row1; ++y) {
    const uint8_t* srow = in + size_t(y) * size_t(in_w) * 3;
    uint8_t* trow = &tmp[size_t(y - row0) * row_len];
    for (int x = 0; x < win_width; ++x) {
      const int32_t* k = &ht.weight[size_t(x) * size_t(ht.ksize)];
      const uint8_t* p = srow + size_t(ht.first[size_t(x)]) * 3;
      int32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
      for (int i = 0, n = ht.count[size_t(x)]; i < n; ++i) {
        s0 += int32_t(p[3 * i + 0]) * k[i];
        s1 += int32_t(p[3 * i + 1]) * k[i];
        s2 += int32_t(p[3 * i + 2]) * k[i];
      }
      trow[3 * x + 0] = clip8(s0);
      trow[3 * x + 1] = clip8(s1);
      trow[3 * x + 2] = clip8(s2);
    }
  }
  return tmp;
}

// Vertical pass over `tmp` (source rows from row0 on): accumulates whole rows so the
// inner loop runs over contiguous bytes.
std::vector<uint8_t> vertical_pass(const std::vector<uint8_t>& tmp, const AxisTaps& vt, int row0, int win_width,
                                   int win_height) {
  const size_t row_len = size_t(win_width) * 3;
  std::vector<uint8_t> pixels(size_t(win_height) * row_len);
  std::vector<int32_t> acc(row_len);
  for (int y = 0; y < win_height; ++y) {
    const int32_t* k = &vt.weight[size_t(y) * size_t(vt.ksize)];
    std::fill(acc.begin(), acc.end(), kHalf);
    for (int j = 0, n = vt.count[size_t(y)]; j < n; ++j) {
      const uint8_t* trow = &tmp[size_t(vt.first[size_t(y)] + j - row0) * row_len];
      const int32_t kj = k[j];
      for (size_t c = 0; c < row_len; ++c) acc[c] += int32_t(trow[c]) * kj;
    }
    uint8_t* orow = &pixels[size_t(y) * row_len];
    for (size_t c = 0; c < row_len; ++c) orow[c] = clip8(acc[c]);
  }
  return pixels;
}

RgbImage resize_window(const RgbImage& src, int out_width, int out_height, int left, int top,
                       int win_width, int win_height) {
  check_window(src, out_width, out_height, left, top, win_width, win_height);
  // Like Pillow, an axis whose size does not change is copied, not filtered.
  const bool horizontal = out_width != src.width;
  const bool vertical = out_height != src.height;

  AxisTaps vt;
  int row0 = top, row1 = top + win_height;
  if (vertical) {
    vt = axis_taps(src.height, out_height, top, win_height);
    source_rows(vt, win_height, &row0, &row1);
  }
  if (int64_t(row1 - row0) * win_width > max_resize_output_pixels) {
    fail(Status::limit_exceeded, "resize_bicubic: the intermediate image of " +
                                     std::to_string(row1 - row0) + "x" +
                                     std::to_string(win_width) + " pixels is too large");
  }
  std::vector<uint8_t> tmp = horizontal_pass(src, horizontal, out_width, left, win_width, row0, row1);

  RgbImage out;
  out.width = win_width;
  out.height = win_height;
  out.source_depth = src.source_depth;
  // Without vertical filtering tmp already holds exactly the window's rows.
  out.pixels = vertical ? vertical_pass(tmp, vt, row0, win_width, win_height) : std::move(tmp);
  return out;
}

}  // namespace

RgbImage resize_bicubic_region(const RgbImage& src, int out_width, int out_height, int left,
                               int top, int win_width, int win_height) {
  try {
    return resize_window(src, out_width, out_height, left, top, win_width, win_height);
  } catch (const std::bad_alloc&) {
    fail(Status::out_of_memory, "resize_bicubic: out of memory");
  }
}

RgbImage resize_bicubic(const RgbImage& src, int out_width, int out_height) {
  return resize_bicubic_region(src, out_width, out_height, 0, 0, out_width, out_height);
}

}  // namespace m4cxr
