#include "model/large_pages.h"

#include <ATen/ATen.h>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/error.h"

namespace m4cxr {

namespace {
// -1: not decided yet (the environment is read on first use); else a LargePages value.
std::atomic<int> g_setting{-1};
}  // namespace

LargePages parse_large_pages(const char* value) {
  if (value == nullptr) return LargePages::made_at_load;
  const std::string v(value);
  if (v.empty() || v == "1") return LargePages::made_at_load;
  if (v == "0") return LargePages::off;
  if (v == "all") return LargePages::all;
  fail(Status::invalid_argument, "M4CXR_LARGE_PAGES is '" + v.substr(0, 64) +
                                     "'; it must be 0 (off), 1 (the default: weights made at load) or all");
}

LargePages large_pages_setting() {
  const int v = g_setting.load(std::memory_order_relaxed);
  if (v >= 0) return static_cast<LargePages>(v);
  const LargePages parsed = parse_large_pages(std::getenv("M4CXR_LARGE_PAGES"));  // throws on a typo, every time
  int expected = -1;
  g_setting.compare_exchange_strong(expected, static_cast<int>(parsed));
  return static_cast<LargePages>(g_setting.load(std::memory_order_relaxed));
}

void set_large_pages(LargePages setting) { g_setting.store(static_cast<int>(setting), std::memory_order_relaxed); }

at::Tensor copy_on_large_pages(const at::Tensor& src, c10::ScalarType dtype) {
  at::Tensor out = empty_on_large_pages(src.sizes().vec(), dtype);
  out.copy_(src);
  return out;
}

at::Tensor empty_on_large_pages(const std::vector<int64_t>& sizes, c10::ScalarType dtype) {
  const auto options = at::TensorOptions().dtype(dtype);
#if defined(__linux__)
  constexpr size_t kLarge = size_t(2) << 20;
  int64_t numel = 1;
  for (int64_t s : sizes) {
    if (s < 0) fail(Status::invalid_argument, "empty_on_large_pages: negative size");
    if (s != 0 && numel > INT64_MAX / s) fail(Status::out_of_memory, "empty_on_large_pages: size overflows");
    numel *= s;
  }
  const int64_t elem = static_cast<int64_t>(c10::elementSize(dtype));
  if (numel > INT64_MAX / elem) fail(Status::out_of_memory, "empty_on_large_pages: size overflows");
  const size_t bytes = static_cast<size_t>(numel * elem);
  if (large_pages_setting() == LargePages::off || bytes < kLarge) return at::empty(sizes, options);
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t length = (bytes + page - 1) / page * page;
  // Map 2 MiB more than needed and trim both ends, leaving a region that starts on a 2 MiB
  // boundary (only whole aligned 2 MiB ranges can be huge pages).
  void* raw = ::mmap(nullptr, length + kLarge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) fail(Status::out_of_memory, "cannot map " + std::to_string(bytes) + " bytes for a weight");
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kLarge - 1) / kLarge * kLarge;
  if (aligned > start) ::munmap(raw, aligned - start);
  const uintptr_t end = start + length + kLarge, used_end = aligned + length;
  if (end > used_end) ::munmap(reinterpret_cast<void*>(used_end), end - used_end);
  void* p = reinterpret_cast<void*>(aligned);
  ::madvise(p, length, MADV_HUGEPAGE);  // a hint: refused or ignored where THP is off
  return at::from_blob(p, sizes, [length](void* q) { ::munmap(q, length); }, options);
#else
  (void)large_pages_setting();  // a refused value is an error everywhere
  return at::empty(sizes, options);
#endif
}

}  // namespace m4cxr
