#include "paired_decode.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "engine/conversation.h"
#include "read_bandwidth.h"

namespace m4cxr {

namespace {

using Clock = std::chrono::steady_clock;

struct Step {
  double gbs = 0;    // weights read per second in this step
  double probe = 0;  // mean of the probes either side
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * double(v.size() - 1))];
}

}  // namespace

void run_paired_decode(const std::vector<PairedModel>& models, const at::Tensor& vis, int tokens, int tokens_per_round) {
  // 256 MiB a probe: 4-8 ms here, far beyond the last-level cache, short next to a step.
  constexpr int64_t kProbeBytes = int64_t(256) << 20;
  ReadProbe probe(int64_t(1) << 30);
  std::vector<std::vector<Step>> steps(models.size());
  std::vector<int> dropped(models.size(), 0);
  std::vector<double> all_probes;
  const int rounds = std::max(1, (tokens + tokens_per_round - 1) / tokens_per_round);
  for (int r = 0; r < rounds; ++r)
    for (size_t m = 0; m < models.size(); ++m) {
      const auto& model = models[m].model;
      Conversation conv(model);
      conv.set_images(vis);
      std::vector<int32_t> ids{1};
      ids.insert(ids.end(), static_cast<size_t>(model->num_visual_tokens()), -1);
      for (int i = 0; i < 40; ++i) ids.push_back(1000 + 37 * i + r);
      GenerationOptions go;
      go.max_new_tokens = tokens_per_round + 1;
      go.stop_on_eos = false;
      std::vector<double> step_ms, probes;
      Clock::time_point resumed;
      conv.generate(ids, go, [&](int32_t) {
        const auto t = Clock::now();
        if (!probes.empty()) step_ms.push_back(std::chrono::duration<double, std::milli>(t - resumed).count());
        probes.push_back(probe.gbs(kProbeBytes));  // after the prefill's token: the first step's "before"
        resumed = Clock::now();
        return true;
      });
      all_probes.insert(all_probes.end(), probes.begin(), probes.end());
      for (size_t i = 0; i < step_ms.size(); ++i) {
        const double a = probes[i], b = probes[i + 1];
        if (a <= 0 || b <= 0 || std::fabs(a - b) > 0.1 * std::max(a, b)) {
          ++dropped[m];
          continue;
        }
        steps[m].push_back(Step{models[m].bytes_per_token / (step_ms[i] / 1000.0) / 1e9, (a + b) / 2});
      }
    }
  const double split = (percentile(all_probes, 0.1) + percentile(all_probes, 0.9)) / 2;
  std::printf("decode timed token by token against a 256 MiB read between every two tokens (%d rounds of %d tokens "
              "per model, alternating; probes %.1f-%.1f GB/s, 10th-90th percentile; steps whose two probes differ by "
              "over 10 %% dropped):\n",
              rounds, tokens_per_round, percentile(all_probes, 0.1), percentile(all_probes, 0.9));
  const double huge = probe.huge_page_share();
  if (huge >= 0 && huge < 0.9)
    std::printf("  warning: only %.0f %% of the probe's buffer is on huge pages (memory fragmented?): it may read "
                "slower than weights on 2 MiB pages, and the percentages below come out high\n",
                100 * huge);
  for (size_t m = 0; m < models.size(); ++m) {
    std::vector<double> all, fast, slow;
    for (const Step& s : steps[m]) {
      all.push_back(s.gbs / s.probe);
      (s.probe >= split ? fast : slow).push_back(s.gbs / s.probe);
    }
    std::printf("  %-34s %3zu steps kept (%d dropped): %3.0f %% of the bandwidth (median); probes >= %.0f GB/s: %zu "
                "steps, %3.0f %%; below: %zu steps, %3.0f %%\n",
                models[m].label.c_str(), all.size(), dropped[m], 100 * median(all), split, fast.size(),
                100 * median(fast), slow.size(), 100 * median(slow));
  }
}

}  // namespace m4cxr
