#include "model/abstractor.h"

#include <ATen/ATen.h>

#include <cmath>

#include "common/error.h"
#include "model/layer_norm_rows.h"

namespace m4cxr {

namespace {

// timm LayerNormAct2d: LayerNorm over channels at every pixel, eps 1e-5 (timm's
// get_norm_act_layer turns LayerNorm2d into LayerNormAct2d with its own default eps).
constexpr double kNormEps = 1e-5;

// The blocks keep their maps channels-last: [N, C, H, W] views of [N, H, W, C] storage
// (libtorch's channels_last format). A 1x1 convolution is then a product of the [N*H*W, C]
// rows with the weight, and the norm over channels runs over contiguous rows; the depthwise
// convolution and the pointwise ops take the format as it is. (In NCHW each norm permuted
// and copied the map twice, and the 1x1 convolutions reordered it for oneDNN.)

// The rows of a channels-last map: [N, H, W, C], contiguous (a view; a copy if x is not
// channels-last).
at::Tensor rows_of(const at::Tensor& x) { return x.permute({0, 2, 3, 1}).contiguous(); }

// [N, H, W, C] rows back as the [N, C, H, W] view.
at::Tensor map_of(const at::Tensor& rows) { return rows.permute({0, 3, 1, 2}); }

// A 1x1 convolution without bias on a channels-last map.
at::Tensor conv1x1(const at::Tensor& x, const at::Tensor& w) {
  return map_of(at::linear(rows_of(x), w.view({w.size(0), w.size(1)})));
}

at::Tensor channel_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  const at::Tensor r = rows_of(x);
  // bf16 on the CPU: one pass per pixel (model/layer_norm_rows.h), libtorch's roundings.
  if (layer_norm_rows_apply(r, w, b)) return map_of(layer_norm_rows(r, w, b, kNormEps));
  return map_of(at::layer_norm(r, {x.size(1)}, w, b, kNormEps));
}

}  // namespace

Abstractor::Abstractor(const ProjectorConfig& config, int vision_patches, const WeightMap& w) : cfg_(config) {
  grid_ = static_cast<int>(std::lround(std::sqrt(double(vision_patches))));
  if (grid_ * grid_ != vision_patches) fail(Status::model_error, "vision patch count is not a square grid");
  qside_ = static_cast<int>(std::lround(std::sqrt(double(cfg_.num_query_tokens))));
  TensorDecls d(w);
  declare_tensors(vision_patches, d);
}

std::vector<TensorSpec> Abstractor::tensors(const ProjectorConfig& config, int vision_patches) {
  Abstractor a;
  a.cfg_ = config;
  TensorDecls d;
  a.declare_tensors(vision_patches, d);
  return d.specs();
}

void Abstractor::declare_tensors(int vision_patches, TensorDecls& d) {
  const ProjectorConfig& p = cfg_;
  const int64_t D = p.encoder_hidden_size, P = vision_patches, C = p.hidden_size, O = p.output_hidden_size;
  if (p.pos_emb) pos_emb_ = d.tensor("abstractor.pos_emb", {1, P, D});
  s1_.clear();
  s2_.clear();
  for (int stage : {0, 2}) {
    auto& blocks = stage == 0 ? s1_ : s2_;
    for (int i = 1; i <= p.depth; ++i) {
      const int64_t cin = (stage == 0 && i == 1) ? D : C;
      const int64_t r = static_cast<int64_t>(std::nearbyint(0.25 * double(cin)));  // Python round: ties to even
      const std::string n = "abstractor.net." + std::to_string(stage) + ".b" + std::to_string(i) + ".";
      Block b;
      b.conv1 = d.tensor(n + "conv1.conv.weight", {C, cin, 1, 1});
      b.conv2 = d.tensor(n + "conv2.conv.weight", {C, 1, 3, 3});
      b.conv3 = d.tensor(n + "conv3.conv.weight", {C, C, 1, 1});
      b.bn1 = {d.tensor(n + "conv1.bn.weight", {C}), d.tensor(n + "conv1.bn.bias", {C})};
      b.bn2 = {d.tensor(n + "conv2.bn.weight", {C}), d.tensor(n + "conv2.bn.bias", {C})};
      b.bn3 = {d.tensor(n + "conv3.bn.weight", {C}), d.tensor(n + "conv3.bn.bias", {C})};
      b.se1w = d.tensor(n + "se.fc1.weight", {r, C, 1, 1});
      b.se1b = d.tensor(n + "se.fc1.bias", {r});
      b.se2w = d.tensor(n + "se.fc2.weight", {C, r, 1, 1});
      b.se2b = d.tensor(n + "se.fc2.bias", {C});
      if (cin != C) {  // the first block of s1 changes the channel count
        b.down = d.tensor(n + "downsample.conv.weight", {C, cin, 1, 1});
        b.down_bn = {d.tensor(n + "downsample.bn.weight", {C}), d.tensor(n + "downsample.bn.bias", {C})};
      }
      blocks.push_back(std::move(b));
    }
  }
  readout_.clear();
  for (int i = 0; i < p.mlp_depth; ++i) {
    const std::string n = "abstractor.readout." + std::to_string(2 * i) + ".";
    at::Tensor w = d.tensor(n + "weight", {O, i == 0 ? C : O});
    readout_.emplace_back(w, d.tensor(n + "bias", {O}));
  }
}

at::Tensor Abstractor::block_forward(const Block& b, const at::Tensor& x) const {
  const int64_t C = b.conv2.size(0);
  at::Tensor y = at::silu(channel_norm(conv1x1(x, b.conv1), b.bn1.w, b.bn1.b));
  y = at::silu(channel_norm(at::conv2d(y, b.conv2, {}, 1, 1, 1, C), b.bn2.w, b.bn2.b));  // depthwise
  at::Tensor z = y.mean({2, 3}, /*keepdim=*/true);
  z = at::sigmoid(at::conv2d(at::silu(at::conv2d(z, b.se1w, b.se1b)), b.se2w, b.se2b));
  y = channel_norm(conv1x1(y * z, b.conv3), b.bn3.w, b.bn3.b);
  at::Tensor shortcut = b.down.defined() ? channel_norm(conv1x1(x, b.down), b.down_bn.w, b.down_bn.b) : x;
  return at::silu(y + shortcut);
}

at::Tensor Abstractor::forward(const at::Tensor& features, const TraceCallback& trace, const CancelCheck& cancel) const {
  if (features.dim() != 3 || features.size(1) != int64_t(grid_) * grid_)
    fail(Status::invalid_argument, "abstractor expects features [N, " + std::to_string(grid_ * grid_) + ", D]");
  const int64_t N = features.size(0), D = features.size(2);
  at::Tensor x = cfg_.pos_emb ? features + pos_emb_ : features;
  x = map_of(x.reshape({N, grid_, grid_, D}));  // b (h w) d -> b d h w, channels-last
  if (trace) trace("abstractor_s1_input", x);
  for (size_t i = 0; i < s1_.size(); ++i) {
    if (cancel && cancel()) fail(Status::cancelled, "cancelled during image encoding");
    x = block_forward(s1_[i], x);
    if (trace) trace("abstractor_s1.b" + std::to_string(i + 1), x);
  }
  if (trace) trace("abstractor_s1", x);
  x = at::adaptive_avg_pool2d(x, {qside_, qside_});
  if (trace) trace("abstractor_sampler", x);
  for (size_t i = 0; i < s2_.size(); ++i) {
    if (cancel && cancel()) fail(Status::cancelled, "cancelled during image encoding");
    x = block_forward(s2_[i], x);
    if (trace) trace("abstractor_s2.b" + std::to_string(i + 1), x);
  }
  if (trace) trace("abstractor_s2", x);
  x = rows_of(x).reshape({N, -1, x.size(1)});  // b d h w -> b (h w) d
  for (size_t i = 0; i < readout_.size(); ++i) {
    if (i > 0) x = at::silu(x);
    x = at::linear(x, readout_[i].first, readout_[i].second);
  }
  if (trace) trace("abstractor_output", x);
  return x;
}

}  // namespace m4cxr
