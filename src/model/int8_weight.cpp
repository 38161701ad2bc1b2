#include "model/int8_weight.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "common/error.h"

namespace m4cxr {

Int8Weight quantize_int8(const at::Tensor& w) {
  if (!w.defined() || w.dim() != 2 || !at::isFloatingType(w.scalar_type()))
    fail(Status::invalid_argument, "quantize_int8: needs a 2-D floating weight");
  const at::Tensor f = w.to(at::kFloat);
  // An all-zero row keeps scale 1 (and Q = 0) rather than dividing by zero.
  at::Tensor scale = f.abs().amax(1) / 127.0;
  scale = at::where(scale > 0, scale, at::ones_like(scale)).contiguous();
  Int8Weight out;
  out.q = at::round(f / scale.unsqueeze(1)).clamp(-127, 127).to(at::kChar).contiguous();
  out.scale = scale;
  return out;
}

at::Tensor dequantize(const Int8Weight& w, c10::ScalarType dtype) {
  if (dtype != at::kBFloat16 || !w.q.device().is_cpu())
    return (w.q.to(at::kFloat) * w.scale.unsqueeze(1)).to(dtype);
  // Prefill's path on the CPU: one pass, int8 in, bf16 out, rows over the intra-op threads
  // (instead of three passes through fp32 temporaries).
  const int64_t N = w.q.size(0), K = w.q.size(1);
  at::Tensor out = at::empty({N, K}, at::TensorOptions().dtype(at::kBFloat16));
  const int8_t* q = w.q.data_ptr<int8_t>();
  const float* s = w.scale.data_ptr<float>();
  at::BFloat16* o = out.data_ptr<at::BFloat16>();
  at::parallel_for(0, N, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t k = 0; k < K; ++k) o[r * K + k] = at::BFloat16(static_cast<float>(q[r * K + k]) * s[r]);
  });
  return out;
}

}  // namespace m4cxr
