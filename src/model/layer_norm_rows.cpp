#include "model/layer_norm_rows.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

#include "common/error.h"

namespace m4cxr {

namespace {

bool is_float_vector(const at::Tensor& t, int64_t D) {
  return t.defined() && t.device().is_cpu() && at::isFloatingType(t.scalar_type()) && t.dim() == 1 && t.size(0) == D;
}

}  // namespace

bool layer_norm_rows_apply(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  if (!x.defined() || !x.device().is_cpu() || x.scalar_type() != at::kBFloat16 || !x.is_contiguous() || x.dim() < 1)
    return false;
  const int64_t D = x.size(-1);
  return D > 0 && is_float_vector(w, D) && is_float_vector(b, D);
}

at::Tensor layer_norm_rows(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, double eps) {
  if (!layer_norm_rows_apply(x, w, b) || !(eps >= 0))
    fail(Status::invalid_argument, "layer_norm_rows: needs contiguous CPU bf16 x [..., D], floating w and b [D], eps >= 0");
  const int64_t D = x.size(-1), rows = x.numel() / D;
  const at::Tensor wf = w.to(at::kFloat).contiguous(), bf = b.to(at::kFloat).contiguous();
  at::Tensor out = at::empty_like(x);
  const c10::BFloat16* xp = x.data_ptr<c10::BFloat16>();
  const float* wp = wf.data_ptr<float>();
  const float* bp = bf.data_ptr<float>();
  c10::BFloat16* op = out.data_ptr<c10::BFloat16>();
  // About 16 rows (12k values at D = 768) per task.
  at::parallel_for(0, rows, std::max<int64_t>(1, 12288 / D), [&](int64_t r0, int64_t r1) {
    std::vector<float> v(static_cast<size_t>(D));
    for (int64_t r = r0; r < r1; ++r) {
      const c10::BFloat16* xr = xp + r * D;
      double sum = 0;
      for (int64_t k = 0; k < D; ++k) {
        v[static_cast<size_t>(k)] = static_cast<float>(xr[k]);
        sum += v[static_cast<size_t>(k)];
      }
      const double mean = sum / static_cast<double>(D);
      double ss = 0;
      for (int64_t k = 0; k < D; ++k) {
        const double c = v[static_cast<size_t>(k)] - mean;
        ss += c * c;
      }
      const float m = static_cast<float>(mean);
      const float rstd = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(D) + eps));
      c10::BFloat16* orow = op + r * D;
      for (int64_t k = 0; k < D; ++k)
        orow[k] = c10::BFloat16((v[static_cast<size_t>(k)] - m) * rstd * wp[k] + bp[k]);
    }
  });
  return out;
}

}  // namespace m4cxr
