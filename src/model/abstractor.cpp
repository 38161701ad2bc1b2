#include "model/abstractor.h"

#include <ATen/ATen.h>

#include <cmath>

#include "common/error.h"

namespace m4cxr {

namespace {

// timm LayerNormAct2d: LayerNorm over channels at every pixel, eps 1e-5 (timm's
// get_norm_act_layer turns LayerNorm2d into LayerNormAct2d with its own default eps).
constexpr double kNormEps = 1e-5;

at::Tensor channel_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  const int64_t C = x.size(1);
  return at::layer_norm(x.permute({0, 2, 3, 1}), {C}, w, b, kNormEps).permute({0, 3, 1, 2});
}

}  // namespace

Abstractor::Abstractor(const ProjectorConfig& config, int vision_patches, const WeightMap& w) : cfg_(config) {
  grid_ = static_cast<int>(std::lround(std::sqrt(double(vision_patches))));
  if (grid_ * grid_ != vision_patches) fail(Status::model_error, "vision patch count is not a square grid");
  qside_ = static_cast<int>(std::lround(std::sqrt(double(cfg_.num_query_tokens))));
  if (cfg_.pos_emb) pos_emb_ = weight(w, "abstractor.pos_emb");
  for (int stage : {0, 2}) {
    auto& blocks = stage == 0 ? s1_ : s2_;
    for (int i = 1; i <= cfg_.depth; ++i) {
      const std::string n = "abstractor.net." + std::to_string(stage) + ".b" + std::to_string(i) + ".";
      Block b;
      b.conv1 = weight(w, n + "conv1.conv.weight");
      b.conv2 = weight(w, n + "conv2.conv.weight");
      b.conv3 = weight(w, n + "conv3.conv.weight");
      b.bn1 = {weight(w, n + "conv1.bn.weight"), weight(w, n + "conv1.bn.bias")};
      b.bn2 = {weight(w, n + "conv2.bn.weight"), weight(w, n + "conv2.bn.bias")};
      b.bn3 = {weight(w, n + "conv3.bn.weight"), weight(w, n + "conv3.bn.bias")};
      b.se1w = weight(w, n + "se.fc1.weight");
      b.se1b = weight(w, n + "se.fc1.bias");
      b.se2w = weight(w, n + "se.fc2.weight");
      b.se2b = weight(w, n + "se.fc2.bias");
      if (w.count(n + "downsample.conv.weight")) {
        b.down = weight(w, n + "downsample.conv.weight");
        b.down_bn = {weight(w, n + "downsample.bn.weight"), weight(w, n + "downsample.bn.bias")};
      }
      blocks.push_back(std::move(b));
    }
  }
  for (int i = 0; i < cfg_.mlp_depth; ++i) {
    const std::string n = "abstractor.readout." + std::to_string(2 * i) + ".";
    readout_.emplace_back(weight(w, n + "weight"), weight(w, n + "bias"));
  }
}

at::Tensor Abstractor::block_forward(const Block& b, const at::Tensor& x) const {
  const int64_t C = b.conv2.size(0);
  at::Tensor y = at::silu(channel_norm(at::conv2d(x, b.conv1), b.bn1.w, b.bn1.b));
  y = at::silu(channel_norm(at::conv2d(y, b.conv2, {}, 1, 1, 1, C), b.bn2.w, b.bn2.b));  // depthwise
  at::Tensor z = y.mean({2, 3}, /*keepdim=*/true);
  z = at::sigmoid(at::conv2d(at::silu(at::conv2d(z, b.se1w, b.se1b)), b.se2w, b.se2b));
  y = channel_norm(at::conv2d(y * z, b.conv3), b.bn3.w, b.bn3.b);
  at::Tensor shortcut = b.down.defined() ? channel_norm(at::conv2d(x, b.down), b.down_bn.w, b.down_bn.b) : x;
  return at::silu(y + shortcut);
}

at::Tensor Abstractor::forward(const at::Tensor& features, StageTrace* trace, const CancelCheck& cancel) const {
  if (features.dim() != 3 || features.size(1) != int64_t(grid_) * grid_)
    fail(Status::invalid_argument, "abstractor expects features [N, " + std::to_string(grid_ * grid_) + ", D]");
  const int64_t N = features.size(0), D = features.size(2);
  at::Tensor x = cfg_.pos_emb ? features + pos_emb_ : features;
  x = x.transpose(1, 2).reshape({N, D, grid_, grid_});  // b (h w) d -> b d h w
  if (trace) (*trace)["abstractor_s1_input"] = x;
  for (size_t i = 0; i < s1_.size(); ++i) {
    if (cancel && cancel()) fail(Status::cancelled, "cancelled during image encoding");
    x = block_forward(s1_[i], x);
    if (trace) (*trace)["abstractor_s1.b" + std::to_string(i + 1)] = x;
  }
  if (trace) (*trace)["abstractor_s1"] = x;
  x = at::adaptive_avg_pool2d(x, {qside_, qside_});
  if (trace) (*trace)["abstractor_sampler"] = x;
  for (size_t i = 0; i < s2_.size(); ++i) {
    if (cancel && cancel()) fail(Status::cancelled, "cancelled during image encoding");
    x = block_forward(s2_[i], x);
    if (trace) (*trace)["abstractor_s2.b" + std::to_string(i + 1)] = x;
  }
  if (trace) (*trace)["abstractor_s2"] = x;
  x = x.flatten(2).transpose(1, 2);  // b d h w -> b (h w) d
  for (size_t i = 0; i < readout_.size(); ++i) {
    if (i > 0) x = at::silu(x);
    x = at::linear(x, readout_[i].first, readout_[i].second);
  }
  if (trace) (*trace)["abstractor_output"] = x;
  return x;
}

}  // namespace m4cxr
