// Weights made at load on 2 MiB pages (model/large_pages.h): the shape, dtype and alignment
// promised, memory usable over its whole length, small ones and bad sizes.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "model_test_support.h"

#include "model/large_pages.h"

using namespace m4cxr;

namespace {
int64_t resident_kb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  return -1;
}
}  // namespace

TEST_CASE("empty_on_large_pages: 2 MiB aligned from 2 MiB up, writable end to end; small and bad sizes") {
  c10::InferenceMode g;
  for (int64_t rows : {int64_t(512), int64_t(513), int64_t(3000)}) {  // 2 MiB exactly, just over, not a page multiple
    CAPTURE(rows);
    at::Tensor t = empty_on_large_pages({rows, 4096}, at::kChar);
    REQUIRE((t.sizes().vec() == std::vector<int64_t>{rows, 4096}));
    REQUIRE((t.scalar_type() == at::kChar));
    REQUIRE(t.is_contiguous());
#if defined(__linux__)
    CHECK(reinterpret_cast<uintptr_t>(t.data_ptr()) % (uintptr_t(2) << 20) == 0);
#endif
    t.fill_(3);
    t[rows - 1][4095] = 7;
    CHECK(t.to(at::kInt).sum().item<int64_t>() == rows * 4096 * 3 + 4);
  }
#if defined(__linux__)
  // Many made, written and dropped: each mapping goes with its tensor (2.5 GB if kept).
  const int64_t before = resident_kb();
  for (int i = 0; i < 40; ++i) empty_on_large_pages({int64_t(64) << 20}, at::kChar).fill_(1);
  CHECK(resident_kb() - before < (int64_t(256) << 10));
#endif
  const at::Tensor f = empty_on_large_pages({3, 5}, at::kFloat);  // small: libtorch's allocator
  CHECK((f.sizes().vec() == std::vector<int64_t>{3, 5}));
  CHECK((f.scalar_type() == at::kFloat));
  CHECK(mt::status_of([] { empty_on_large_pages({-1, 4}, at::kChar); }) == Status::invalid_argument);
  CHECK(mt::status_of([] { empty_on_large_pages({INT64_MAX / 2, 4}, at::kFloat); }) == Status::out_of_memory);
}

TEST_CASE("M4CXR_LARGE_PAGES: its values, a refused one named, and off giving ordinary memory") {
  CHECK((parse_large_pages(nullptr) == LargePages::made_at_load));
  CHECK((parse_large_pages("") == LargePages::made_at_load));
  CHECK((parse_large_pages("1") == LargePages::made_at_load));
  CHECK((parse_large_pages("0") == LargePages::off));
  CHECK((parse_large_pages("all") == LargePages::all));
  for (const char* bad : {"yes", "ALL", "2", " 0", "all "}) {
    CAPTURE(bad);
    std::string message;
    CHECK(mt::status_of([&] { parse_large_pages(bad); }, &message) == Status::invalid_argument);
    CHECK(message.find("M4CXR_LARGE_PAGES") != std::string::npos);
    CHECK(message.find(std::string("'") + bad + "'") != std::string::npos);
  }
  const LargePages before = large_pages_setting();
  set_large_pages(LargePages::off);
  CHECK((large_pages_setting() == LargePages::off));
  c10::InferenceMode g;
  {
    // libtorch's allocator: a page-aligned mapping plus its header, never on a 2 MiB boundary.
    at::Tensor t = empty_on_large_pages({int64_t(4) << 20}, at::kChar);
    CHECK(t.numel() == (int64_t(4) << 20));
#if defined(__linux__)
    CHECK(reinterpret_cast<uintptr_t>(t.data_ptr()) % (uintptr_t(2) << 20) != 0);
#endif
  }
  set_large_pages(LargePages::made_at_load);
  const at::Tensor src = at::randn({1024, 1024});  // 4 MiB as fp32, 2 MiB as bf16
  const at::Tensor c = copy_on_large_pages(src, at::kBFloat16);
  CHECK((c.scalar_type() == at::kBFloat16));
  CHECK(at::equal(c, src.to(at::kBFloat16)));
#if defined(__linux__)
  CHECK(reinterpret_cast<uintptr_t>(c.data_ptr()) % (uintptr_t(2) << 20) == 0);
#endif
  set_large_pages(before);
}
