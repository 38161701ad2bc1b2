#include "model/int8_weight.h"

#include <ATen/ATen.h>

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
  return (w.q.to(at::kFloat) * w.scale.unsqueeze(1)).to(dtype);
}

}  // namespace m4cxr
