#include "engine/sampler.h"

#include <ATen/ATen.h>

#include <cmath>

#include "common/error.h"

namespace m4cxr {

Sampler::Sampler(const SamplingOptions& o) : opt_(o), rng_(o.seed) {
  if (!o.greedy) {
    if (!(o.temperature > 0) || !std::isfinite(o.temperature)) fail(Status::invalid_argument, "temperature must be > 0");
    if (o.top_k < 0) fail(Status::invalid_argument, "top_k must be >= 0");
    if (!(o.top_p > 0 && o.top_p <= 1)) fail(Status::invalid_argument, "top_p must be in (0, 1]");
  }
}

int32_t Sampler::next(const at::Tensor& logits_in) {
  at::Tensor logits = logits_in.reshape({-1}).to(at::kFloat).cpu();
  if (opt_.greedy) return static_cast<int32_t>(logits.argmax().item<int64_t>());
  // HF order: temperature, top-k, top-p, then sample from the softmax.
  at::Tensor scaled = logits / opt_.temperature;
  at::Tensor sorted, idx;
  std::tie(sorted, idx) = scaled.sort(/*dim=*/0, /*descending=*/true);
  int64_t keep = sorted.size(0);
  if (opt_.top_k > 0 && opt_.top_k < keep) keep = opt_.top_k;
  at::Tensor probs = at::softmax(sorted.slice(0, 0, keep), 0);
  if (opt_.top_p < 1.0f) {
    at::Tensor cum = probs.cumsum(0);
    // keep the smallest prefix whose mass reaches top_p (at least one token)
    int64_t n = (cum < opt_.top_p).sum().item<int64_t>() + 1;
    keep = std::min(keep, n);
    probs = probs.slice(0, 0, keep);
    probs = probs / probs.sum();
  }
  const float* p = probs.data_ptr<float>();
  std::uniform_real_distribution<double> u(0.0, 1.0);
  double r = u(rng_), acc = 0;
  for (int64_t i = 0; i < keep; ++i) {
    acc += p[i];
    if (r < acc) return static_cast<int32_t>(idx[i].item<int64_t>());
  }
  return static_cast<int32_t>(idx[keep - 1].item<int64_t>());
}

}  // namespace m4cxr
