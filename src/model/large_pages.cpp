#include "model/large_pages.h"

#include <ATen/ATen.h>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/error.h"

namespace m4cxr {

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
  static const bool off = [] {
    const char* env = std::getenv("M4CXR_LARGE_PAGES");
    return env != nullptr && std::string(env) == "0";
  }();
  if (bytes < kLarge || off) return at::empty(sizes, options);
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
  return at::empty(sizes, options);
#endif
}

}  // namespace m4cxr
