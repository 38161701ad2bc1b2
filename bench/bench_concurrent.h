// m4cxr_bench --concurrent N: decode throughput of 1, 2, 4, ... N sessions of one model
// decoding at the same time, each on its own thread (batched decoding,
// engine/decoder_scheduler.h), and the largest N again with batching off.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>

#include "engine/model.h"

namespace m4cxr {

// Each session prefills `prompt` text tokens, then all decode `decode` tokens together.
// Prints per N: aggregate tokens/s, per-session tokens/s (mean, slowest), passes and rows
// per pass, and the aggregate relative to N = 1.
void run_concurrent_bench(const std::shared_ptr<const Model>& model, int max_sessions, int prompt, int decode);

}  // namespace m4cxr
