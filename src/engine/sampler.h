// Next-token choice: greedy argmax (default, as upstream evaluation) or multinomial
// sampling with temperature, top-k and top-p (nucleus), seeded for reproducibility.
// A Sampler is owned by one generation and is not thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <random>

namespace m4cxr {

struct SamplingOptions {
  bool greedy = true;
  float temperature = 1.0f;  // > 0
  int top_k = 0;             // 0 = off
  float top_p = 1.0f;        // (0, 1]; 1 = off
  uint64_t seed = 0;
};

class Sampler {
 public:
  // Throws Error(invalid_argument) for out-of-range options.
  explicit Sampler(const SamplingOptions& options);
  // logits: [V] or [1, V] fp32.
  int32_t next(const at::Tensor& logits);

 private:
  SamplingOptions opt_;
  std::mt19937_64 rng_;
};

}  // namespace m4cxr
