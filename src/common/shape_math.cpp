#include "common/shape_math.h"

namespace m4cxr {

std::optional<int64_t> checked_numel(const std::vector<int64_t>& shape, int64_t bound) noexcept {
  if (bound < 1) return std::nullopt;
  int64_t nonzero = 1;
  bool has_zero = false;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d == 0) {
      has_zero = true;
      continue;
    }
    if (nonzero > bound / d) return std::nullopt;
    nonzero *= d;
  }
  return has_zero ? 0 : nonzero;
}

}  // namespace m4cxr
