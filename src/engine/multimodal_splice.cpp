#include "engine/multimodal_splice.h"

#include <ATen/ATen.h>

#include "common/error.h"

namespace m4cxr {

int64_t count_placeholders(const std::vector<int32_t>& ids, int vocab_size) {
  int64_t n = 0;
  for (int32_t id : ids) {
    if (id == -1) ++n;
    else if (id < -1 || id >= vocab_size)
      fail(Status::invalid_argument, "token id " + std::to_string(id) + " outside the vocabulary [0, " +
                                         std::to_string(vocab_size) + ")");
  }
  return n;
}

at::Tensor splice_embeddings(const LanguageModel& lm, const std::vector<int32_t>& ids, const at::Tensor& visual,
                             int64_t first_placeholder) {
  const int64_t n_ph = count_placeholders(ids, lm.config().vocab_size);
  std::vector<int64_t> safe(ids.begin(), ids.end());
  std::vector<int64_t> text_rows, ph_rows;
  for (size_t i = 0; i < safe.size(); ++i) {
    if (safe[i] < 0) {
      safe[i] = 0;  // upstream embeds placeholders as id 0, then overwrites them
      ph_rows.push_back(static_cast<int64_t>(i));
    }
  }
  at::Tensor idt = at::tensor(safe, at::kLong);
  at::Tensor emb = lm.embed(idt);
  if (n_ph == 0) return emb;
  if (!visual.defined() || visual.dim() != 3)
    fail(Status::invalid_argument, "prompt has image placeholders but no images were given");
  const int64_t Q = visual.size(1);
  const int64_t total = first_placeholder + n_ph;
  if (total > visual.size(0) * Q)
    fail(Status::invalid_argument, "prompt references " + std::to_string((total + Q - 1) / Q) + " image(s) but " +
                                       std::to_string(visual.size(0)) + " were given");
  at::Tensor rows = visual.reshape({-1, visual.size(2)}).slice(0, first_placeholder, total);
  at::Tensor index = at::tensor(ph_rows, at::kLong).to(emb.device());
  emb = emb.clone();
  emb.index_copy_(0, index, rows.to(emb.scalar_type()));
  return emb;
}

}  // namespace m4cxr
