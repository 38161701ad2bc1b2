// Decode timed token by token against the read bandwidth of the same moment. The hosts of
// this project switch within seconds between about 35 and 65 GB/s for plain streaming
// loads, so a decode run and a bandwidth reading taken seconds apart can be in different
// states, and their ratio is anywhere from 55 to 130 %. Here a short probe (ReadProbe)
// runs between every two tokens; each token's GB/s is compared with the mean of the probes
// on either side, kept only when those two agree within 10 % (no switch in between).
// bench only.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/model.h"

namespace m4cxr {

struct PairedModel {
  std::string label;
  std::shared_ptr<const Model> model;
  double bytes_per_token = 0;  // weights read per decode step
};

// Rounds of `tokens_per_round` decode steps per model, the models alternating, until each
// has about `tokens` steps (a prompt of BOS + the image `vis` + text before each round).
// Prints per model the median % of the bandwidth over the kept steps, and separately for
// steps whose probes read above and below a split between the host's states (midway
// between the 10th and 90th percentiles of all the probes). Throws what generation throws.
void run_paired_decode(const std::vector<PairedModel>& models, const at::Tensor& vis, int tokens,
                       int tokens_per_round = 30);

}  // namespace m4cxr
