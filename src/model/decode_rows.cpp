#include "model/decode_rows.h"

#include <ATen/ATen.h>

#include <cmath>

#include "common/error.h"
#include "model/linear_few_rows.h"

namespace m4cxr {

namespace {

using BF16 = c10::BFloat16;

// libtorch's bf16 ops compute in fp32 and round to nearest even once (c10::BFloat16(float)).
inline float round_bf16(float f) { return static_cast<float>(BF16(f)); }

}  // namespace

bool decode_rows_apply(const at::Tensor& x) {
  if (!x.defined() || !x.device().is_cpu() || x.scalar_type() != at::kBFloat16 || !x.is_contiguous() || x.dim() < 1)
    return false;
  const int64_t width = x.size(-1);
  if (width == 0) return false;
  const int64_t rows = x.numel() / width;
  return rows >= 1 && rows <= kMaxFewRows;
}

at::Tensor rms_norm_rows(const at::Tensor& x, const at::Tensor& w, double eps) {
  if (!decode_rows_apply(x) || !w.defined() || !w.device().is_cpu() || w.scalar_type() != at::kBFloat16 ||
      w.dim() != 1 || w.size(0) != x.size(-1))
    fail(Status::invalid_argument, "rms_norm_rows: needs a few contiguous CPU bf16 rows x [..., H] and w bf16 [H]");
  const int64_t H = x.size(-1), T = x.numel() / H;
  const at::Tensor wc = w.contiguous();
  at::Tensor out = at::empty_like(x);
  const BF16* xp = x.data_ptr<BF16>();
  const BF16* wp = wc.data_ptr<BF16>();
  BF16* op = out.data_ptr<BF16>();
  const float feps = static_cast<float>(eps);
  for (int64_t t = 0; t < T; ++t) {
    const BF16* xr = xp + t * H;
    double ss = 0;
    for (int64_t k = 0; k < H; ++k) {
      const double v = static_cast<float>(xr[k]);
      ss += v * v;
    }
    const float var = static_cast<float>(ss / static_cast<double>(H));
    const float r = 1.0f / std::sqrt(var + feps);
    BF16* orow = op + t * H;
    for (int64_t k = 0; k < H; ++k)
      orow[k] = BF16(static_cast<float>(wp[k]) * round_bf16(static_cast<float>(xr[k]) * r));
  }
  return out;
}

at::Tensor rope_rows(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, int64_t d) {
  if (!decode_rows_apply(x) || x.dim() != 2 || d <= 0 || d % 2 != 0 || x.size(1) % d != 0)
    fail(Status::invalid_argument, "rope_rows: needs a few contiguous CPU bf16 rows [T, n * d] with d even");
  const int64_t T = x.size(0), n = x.size(1) / d, half = d / 2;
  for (const at::Tensor* table : {&cos, &sin})
    if (!table->defined() || !table->device().is_cpu() || table->scalar_type() != at::kBFloat16 ||
        table->numel() != T * d || table->size(-1) != d)
      fail(Status::invalid_argument, "rope_rows: cos and sin must be CPU bf16 tables of T x d values");
  const at::Tensor cc = cos.contiguous(), sc = sin.contiguous();
  at::Tensor out = at::empty_like(x);
  const BF16* xp = x.data_ptr<BF16>();
  const BF16* cp = cc.data_ptr<BF16>();
  const BF16* sp = sc.data_ptr<BF16>();
  BF16* op = out.data_ptr<BF16>();
  for (int64_t t = 0; t < T; ++t) {
    const BF16* c = cp + t * d;
    const BF16* s = sp + t * d;
    for (int64_t h = 0; h < n; ++h) {
      const BF16* xr = xp + (t * n + h) * d;
      BF16* orow = op + (t * n + h) * d;
      // rotate_half(x) = cat(-x[half:], x[:half]).
      for (int64_t i = 0; i < d; ++i) {
        const float rotated = i < half ? -static_cast<float>(xr[i + half]) : static_cast<float>(xr[i - half]);
        orow[i] = BF16(round_bf16(static_cast<float>(xr[i]) * static_cast<float>(c[i])) +
                       round_bf16(rotated * static_cast<float>(s[i])));
      }
    }
  }
  return out;
}

}  // namespace m4cxr
