// Builds the decoder input: token embeddings with each image placeholder (-1) replaced,
// row by row, by the visual tokens of the images in prompt order (upstream
// prepare_mm_inputs). Placeholders are consumed in blocks of Q = visual tokens per
// image, so `first_placeholder` lets a continuation start in the middle of the
// sequence: it is the number of placeholders that precede `ids` in the conversation.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "model/language_model.h"

namespace m4cxr {

// Counts -1 entries; throws Error(invalid_argument) for ids < -1 or >= vocab.
int64_t count_placeholders(const std::vector<int32_t>& ids, int vocab_size);

// ids: token ids with -1 placeholders; visual: [N, Q, H] (N >= images referenced).
// Throws Error(invalid_argument) when placeholders and images do not match.
at::Tensor splice_embeddings(const LanguageModel& lm, const std::vector<int32_t>& ids, const at::Tensor& visual,
                             int64_t first_placeholder = 0);

}  // namespace m4cxr
