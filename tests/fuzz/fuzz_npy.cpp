// Fuzz target: the .npy reader (golden data and traces). Invariants: an accepted array
// holds exactly numel * item size bytes, and converting it never reads past them.
#include <vector>

#include "fuzz_support.h"
#include "io/npy.h"

using namespace m4cxr;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  fuzz::accepts([&] {
    const NpyArray a = parse_npy(bytes.data(), bytes.size(), "fuzz");
    const int64_t n = a.numel();
    FUZZ_CHECK(n >= 0);
    FUZZ_CHECK(a.bytes.size() == static_cast<size_t>(n) * a.item_size());
    if (n <= (int64_t{1} << 20)) {
      fuzz::accepts([&] { FUZZ_CHECK(a.as_float().size() == static_cast<size_t>(n)); });
      fuzz::accepts([&] { FUZZ_CHECK(a.as_int64().size() == static_cast<size_t>(n)); });
    }
  });
  return 0;
}
