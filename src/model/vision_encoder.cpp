#include "model/vision_encoder.h"

#include <ATen/ATen.h>

#include <cmath>

#include "common/error.h"
#include "model/fused_attention.h"
#include "model/layer_norm_rows.h"

namespace m4cxr {

namespace {
// LayerNorm in fp32: the same math for fp32 weights, and ~3x faster than ATen's bf16
// kernel on CPU, which also loses precision.
at::Tensor layer_norm_f32(const at::Tensor& x, int64_t D, const at::Tensor& w, const at::Tensor& b, double eps) {
  if (x.scalar_type() == at::kFloat) return at::layer_norm(x, {D}, w, b, eps);
  if (layer_norm_rows_apply(x, w, b)) return layer_norm_rows(x, w, b, eps);  // bf16 on the CPU: one pass
  return at::layer_norm(x.to(at::kFloat), {D}, w.to(at::kFloat), b.to(at::kFloat), eps).to(x.scalar_type());
}
}  // namespace

VisionEncoder::VisionEncoder(const VisionConfig& config, const WeightMap& w) : cfg_(config) {
  TensorDecls d(w);
  declare_tensors(d);
}

std::vector<TensorSpec> VisionEncoder::tensors(const VisionConfig& config) {
  VisionEncoder v;
  v.cfg_ = config;
  TensorDecls d;
  v.declare_tensors(d);
  return d.specs();
}

void VisionEncoder::declare_tensors(TensorDecls& d) {
  const VisionConfig& v = cfg_;
  const int64_t D = v.hidden_size, P = v.num_patches(), I = v.intermediate_size;
  const std::string e = "vision_model.embeddings.";
  cls_ = d.tensor(e + "cls_token", {1, 1, D});
  d.optional(e + "mask_token", {1, D});  // masked-image pretraining only
  pos_ = d.tensor(e + "position_embeddings", {1, 1 + P, D});
  patch_w_ = d.tensor(e + "patch_embeddings.projection.weight", {D, v.num_channels, v.patch_size, v.patch_size});
  patch_b_ = d.tensor(e + "patch_embeddings.projection.bias", {D});
  layers_.clear();
  for (int i = 0; i < v.num_hidden_layers; ++i) {
    const std::string l = "vision_model.encoder.layer." + std::to_string(i) + ".";
    const std::string a = l + "attention.attention.";
    Layer y;
    y.n1w = d.tensor(l + "norm1.weight", {D});
    y.n1b = d.tensor(l + "norm1.bias", {D});
    y.n2w = d.tensor(l + "norm2.weight", {D});
    y.n2b = d.tensor(l + "norm2.bias", {D});
    y.qw = d.tensor(a + "query.weight", {D, D});
    if (v.qkv_bias) y.qb = d.tensor(a + "query.bias", {D});
    y.kw = d.tensor(a + "key.weight", {D, D});
    if (v.qkv_bias) y.kb = d.tensor(a + "key.bias", {D});
    y.vw = d.tensor(a + "value.weight", {D, D});
    if (v.qkv_bias) y.vb = d.tensor(a + "value.bias", {D});
    y.ow = d.tensor(l + "attention.output.dense.weight", {D, D});
    y.ob = d.tensor(l + "attention.output.dense.bias", {D});
    y.ls1 = d.tensor(l + "layer_scale1.lambda1", {D});
    y.ls2 = d.tensor(l + "layer_scale2.lambda1", {D});
    y.f1w = d.tensor(l + "mlp.fc1.weight", {I, D});
    y.f1b = d.tensor(l + "mlp.fc1.bias", {I});
    y.f2w = d.tensor(l + "mlp.fc2.weight", {D, I});
    y.f2b = d.tensor(l + "mlp.fc2.bias", {D});
    layers_.push_back(std::move(y));
  }
  // The final LayerNorm: M4CXR reads hidden states before it.
  d.optional("vision_model.layernorm.weight", {D});
  d.optional("vision_model.layernorm.bias", {D});
}

at::Tensor VisionEncoder::position_embeddings(int64_t height, int64_t width) const {
  const int64_t num_positions = pos_.size(1) - 1;
  const int64_t gh = height / cfg_.patch_size, gw = width / cfg_.patch_size;
  if (gh * gw == num_positions && height == width) return pos_;
  // transformers 4.39.3 Dinov2Embeddings.interpolate_pos_encoding: the grid is resampled
  // with the *given* scale factors ((g + 0.1) / side), which torch also uses to map
  // coordinates; output size = floor(side * scale).
  const double side = std::sqrt(double(num_positions));
  const int64_t s = static_cast<int64_t>(side);
  if (s * s != num_positions) fail(Status::model_error, "vision position embeddings do not form a square grid");
  const double sh = (double(gh) + 0.1) / side, sw = (double(gw) + 0.1) / side;
  const int64_t oh = static_cast<int64_t>(std::floor(double(s) * sh)), ow = static_cast<int64_t>(std::floor(double(s) * sw));
  if (oh != gh || ow != gw)
    fail(Status::invalid_argument, "cannot interpolate position embeddings to a " + std::to_string(gh) + "x" +
                                       std::to_string(gw) + " patch grid");
  const int64_t D = pos_.size(2);
  at::Tensor grid = pos_.slice(1, 1).reshape({1, s, s, D}).permute({0, 3, 1, 2}).to(at::kFloat);
  grid = at::upsample_bicubic2d(grid, {oh, ow}, /*align_corners=*/false, sh, sw).to(pos_.scalar_type());
  grid = grid.permute({0, 2, 3, 1}).reshape({1, oh * ow, D});
  return at::cat({pos_.slice(1, 0, 1), grid}, 1);
}

at::Tensor VisionEncoder::forward(const at::Tensor& pixels_in, int layer_index, const TraceCallback& trace,
                                  const CancelCheck& cancel) const {
  if (pixels_in.dim() != 4 || pixels_in.size(1) != cfg_.num_channels)
    fail(Status::invalid_argument, "vision encoder expects pixels [N,3,H,W]");
  if (pixels_in.size(2) < cfg_.patch_size || pixels_in.size(3) < cfg_.patch_size)
    fail(Status::invalid_argument, "image smaller than one patch");
  const int L = cfg_.num_hidden_layers;
  const int want = layer_index < 0 ? L + 1 + layer_index : layer_index;
  if (want < 0 || want > L) fail(Status::invalid_argument, "vision feature layer index out of range");

  at::Tensor pixels = pixels_in.to(patch_w_.device(), patch_w_.scalar_type());
  const int64_t N = pixels.size(0), D = cfg_.hidden_size, H = cfg_.num_attention_heads, hd = D / H;
  at::Tensor x = at::conv2d(pixels, patch_w_, patch_b_, {cfg_.patch_size, cfg_.patch_size});
  x = x.flatten(2).transpose(1, 2);  // [N, patches, D], row-major patch order
  x = at::cat({cls_.expand({N, 1, D}), x}, 1);
  x = x + position_embeddings(pixels.size(2), pixels.size(3));
  if (trace) trace(series_stage(kVisionHiddenStates, 0), x);
  if (want == 0) return x;

  const double scale = std::sqrt(double(hd));
  const int64_t T = x.size(1);
  for (int i = 0; i < want; ++i) {
    if (cancel && cancel()) fail(Status::cancelled, "cancelled during image encoding");
    const Layer& l = layers_[static_cast<size_t>(i)];
    at::Tensor h = layer_norm_f32(x, D, l.n1w, l.n1b, cfg_.layer_norm_eps);
    auto heads = [&](const at::Tensor& t) { return t.view({N, T, H, hd}).permute({0, 2, 1, 3}); };
    // The 1/sqrt(d) scale is applied to q (T x d values) instead of the T x T scores
    // upstream divides: equal up to rounding, and one pass over the scores cheaper.
    at::Tensor q = heads(at::linear(h, l.qw, l.qb) * (1.0 / scale));
    at::Tensor k = heads(at::linear(h, l.kw, l.kb));
    at::Tensor v = heads(at::linear(h, l.vw, l.vb));
    // bf16 on the CPU: one fused pass per head (model/fused_attention.h), else libtorch.
    at::Tensor a = fused_attention_enabled() && fused_attention_applies(q, k, v)
                       ? fused_attention(q, k, v)
                       : at::matmul(at::softmax(at::matmul(q, k.transpose(-1, -2)), -1), v);
    a = a.permute({0, 2, 1, 3}).reshape({N, T, D});
    // In place where the tensor is this step's own (the same roundings, fewer fresh pages);
    // x itself is new each step (a trace callback may keep the last one).
    x = x + at::linear(a, l.ow, l.ob).mul_(l.ls1);
    h = layer_norm_f32(x, D, l.n2w, l.n2b, cfg_.layer_norm_eps);
    at::Tensor up = at::linear(h, l.f1w, l.f1b);
    at::gelu_(up);
    x = x + at::linear(up, l.f2w, l.f2b).mul_(l.ls2);
    if (trace) trace(series_stage(kVisionHiddenStates, size_t(i) + 1), x);
  }
  return x;
}

}  // namespace m4cxr
