#include "bench_concurrent.h"

#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "engine/conversation.h"

namespace m4cxr {

namespace {

using Clock = std::chrono::steady_clock;

struct Figures {
  double aggregate_tps = 0, mean_session_tps = 0, slowest_session_tps = 0;
  DecoderScheduler::Stats stats;
};

// n sessions: all prefill (sharing passes as they come), meet, then decode together; the
// clock runs from the meeting to the last session's last token.
Figures run_sessions(const std::shared_ptr<const Model>& model, int n, int prompt, int decode) {
  std::vector<int32_t> ids(static_cast<size_t>(std::max(prompt, 2)));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = i == 0 ? 1 : 1000 + static_cast<int32_t>((i * 7 + 13 * n) % 20000);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<double> session_secs(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      c10::InferenceMode guard;
      Conversation conv(model);
      GenerationOptions o;
      o.max_new_tokens = decode + 1;  // the first token comes from the prefill
      o.stop_on_eos = false;
      std::vector<int32_t> mine = ids;
      mine[1] = 2000 + i;  // sessions differ
      conv.start(mine, o);
      int32_t id;
      conv.step(&id);
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      const auto ts = Clock::now();
      while (conv.step(&id)) {
      }
      session_secs[static_cast<size_t>(i)] = std::chrono::duration<double>(Clock::now() - ts).count();
    });
  while (ready.load() < n) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const DecoderScheduler::Stats s1 = model->decoder_scheduler().stats();
  const Clock::time_point t0 = Clock::now();
  go = true;
  for (auto& t : threads) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const DecoderScheduler::Stats s2 = model->decoder_scheduler().stats();
  Figures f;
  f.aggregate_tps = double(n) * decode / wall;
  double sum = 0, slowest = 1e30;
  for (double s : session_secs) {
    sum += decode / s;
    slowest = std::min(slowest, decode / s);
  }
  f.mean_session_tps = sum / n;
  f.slowest_session_tps = slowest;
  f.stats.passes = s2.passes - s1.passes;
  f.stats.sequences = s2.sequences - s1.sequences;
  f.stats.rows = s2.rows - s1.rows;
  f.stats.pass_ms = s2.pass_ms - s1.pass_ms;
  f.stats.gather_ms = s2.gather_ms - s1.gather_ms;
  return f;
}

void print(int n, const Figures& f, double base) {
  std::printf("  %2d sessions: aggregate %6.1f tokens/s (%4.2fx of 1 session), per session %5.1f tokens/s "
              "(slowest %5.1f); %ld passes, %.1f sequences and %.0f ms each, %.1f ms waiting for sessions before each\n",
              n, f.aggregate_tps, base > 0 ? f.aggregate_tps / base : 1.0, f.mean_session_tps, f.slowest_session_tps,
              (long)f.stats.passes, f.stats.passes ? double(f.stats.sequences) / f.stats.passes : 0.0,
              f.stats.passes ? f.stats.pass_ms / f.stats.passes : 0.0, f.stats.passes ? f.stats.gather_ms / f.stats.passes : 0.0);
}

}  // namespace

void run_concurrent_bench(const std::shared_ptr<const Model>& model, int max_sessions, int prompt, int decode) {
  std::printf("concurrent sessions (batched decoding): each prefills %d text tokens, then all decode %d tokens "
              "together\n",
              prompt, decode);
  DecoderScheduler& sched = model->decoder_scheduler();
  const int batched = sched.max_sequences();
  double base = 0;
  (void)run_sessions(model, 1, prompt, 4);  // warm-up
  for (int n = 1; n <= max_sessions; n *= 2) {
    const Figures f = run_sessions(model, n, prompt, decode);
    if (n == 1) base = f.aggregate_tps;
    print(n, f, base);
    if (n < max_sessions && n * 2 > max_sessions) n = max_sessions / 2;  // end on max_sessions itself
  }
  sched.set_max_sequences(1);
  std::printf("  the same with batching off (every pass one session):\n");
  const Figures off = run_sessions(model, max_sessions, prompt, decode);
  sched.set_max_sequences(batched);
  print(max_sessions, off, base);
}

}  // namespace m4cxr
