// Batched decoding (engine/decoder_scheduler.h): sessions of one model running at the same
// time share decoder passes, and each gets what it gets alone. Mixed prompts (one image,
// two images, text only) and lengths, sessions joining while others decode (their prefill
// shares a pass with the others' steps) and leaving when done, one cancelled mid-run.
#include <doctest/doctest.h>

#include "model_test_support.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "engine/conversation.h"

using m4cxr::Conversation;
using m4cxr::DecoderScheduler;
using m4cxr::GenerationOptions;

namespace {

const nlohmann::json& prompt_case(const std::string& name) { return mt::manifest()["prompts_merged_fp32"][name]; }

struct Job {
  std::string prompt;  // a golden prompt case
  int max_new;
  int start_after;    // waits until job 0 has made this many tokens (joins mid-run)
  int cancel_at = 0;  // > 0: cancelled once it has made this many tokens
};

// The jobs of both tests: 8 sessions, three prompts, 3 to 30 new tokens.
const std::vector<Job>& jobs() {
  static const std::vector<Job> j = {
      {"single", 20, 0},   {"two_image", 20, 0}, {"text_only", 20, 0}, {"single", 7, 0},
      {"two_image", 30, 3}, {"text_only", 12, 6}, {"single", 25, 2, 5}, {"two_image", 3, 10},
  };
  return j;
}

struct Run {
  std::vector<int32_t> ids;
  std::vector<at::Tensor> logprobs;  // per step, [V]
  bool cancelled = false;
};

// One session through step() (what every task call is built on). `made` counts its tokens.
Run run_session(const std::shared_ptr<const m4cxr::Model>& m, const Job& job, const at::Tensor& visual,
                std::atomic<int>* made = nullptr) {
  c10::InferenceMode g;
  Conversation conv(m);
  if (visual.defined()) conv.set_images(visual);
  GenerationOptions o;
  o.max_new_tokens = job.max_new;
  o.stop_on_eos = false;
  auto count = std::make_shared<std::atomic<int>>(0);
  m4cxr::CancelCheck cancel;
  if (job.cancel_at > 0) cancel = [count, n = job.cancel_at] { return count->load() >= n; };
  conv.start(mt::npy_ids(prompt_case(job.prompt)["input_ids"]), o, cancel);
  Run r;
  int32_t id;
  at::Tensor dist;
  while (conv.step(&id, nullptr, &dist)) {
    r.ids.push_back(id);
    r.logprobs.push_back(dist);
    count->fetch_add(1);
    if (made) made->fetch_add(1);
  }
  r.cancelled = conv.stats().cancelled;
  return r;
}

std::map<std::string, at::Tensor> visual_tokens(const std::shared_ptr<const m4cxr::Model>& m) {
  c10::InferenceMode g;
  std::map<std::string, at::Tensor> v;
  for (const char* name : {"single", "two_image", "text_only"}) {
    const auto& images = prompt_case(name)["images"];
    v[name] = images.empty() ? at::Tensor() : m->encode_images(mt::pixel_values_of(images));
  }
  return v;
}

// Every job alone (one after the other, so every pass holds one sequence), then all of
// them on their own threads at once.
struct Outcome {
  std::vector<Run> alone, together;
  DecoderScheduler::Stats stats;  // of the concurrent part
};

Outcome run_jobs(const std::shared_ptr<const m4cxr::Model>& m) {
  const auto visual = visual_tokens(m);
  Outcome out;
  for (Job j : jobs()) {
    j.cancel_at = 0;
    out.alone.push_back(run_session(m, j, visual.at(j.prompt)));
  }
  const DecoderScheduler::Stats before = m->decoder_scheduler().stats();
  std::atomic<int> first_made{0};
  out.together.resize(jobs().size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < jobs().size(); ++i)
    threads.emplace_back([&, i] {
      const Job& j = jobs()[i];
      while (first_made.load() < j.start_after) std::this_thread::sleep_for(std::chrono::microseconds(200));
      out.together[i] = run_session(m, j, visual.at(j.prompt), i == 0 ? &first_made : nullptr);
    });
  for (auto& t : threads) t.join();
  const DecoderScheduler::Stats after = m->decoder_scheduler().stats();
  out.stats.passes = after.passes - before.passes;
  out.stats.sequences = after.sequences - before.sequences;
  out.stats.rows = after.rows - before.rows;
  return out;
}

void check_batching_happened(const DecoderScheduler::Stats& s) {
  MESSAGE("concurrent part: " << s.passes << " passes ran " << s.sequences << " sequences, " << s.rows << " rows");
  CHECK(s.passes > 0);
  // Alone, every pass would hold one sequence.
  CHECK(double(s.sequences) / double(s.passes) > 1.5);
}

void check_cancelled(const Run& alone, const Run& together, const Job& j) {
  CHECK(together.cancelled);
  REQUIRE(together.ids.size() >= size_t(j.cancel_at));
  CHECK(together.ids.size() < alone.ids.size());
}

}  // namespace

TEST_CASE("batched decoding, fp32: every session gets exactly the ids it gets alone") {
  auto m = mt::model("models/merged_fp32");
  const Outcome o = run_jobs(m);
  for (size_t i = 0; i < jobs().size(); ++i) {
    const Job& j = jobs()[i];
    CAPTURE(i);
    CAPTURE(j.prompt);
    REQUIRE(o.alone[i].ids.size() == size_t(j.max_new));
    if (j.cancel_at > 0) {
      check_cancelled(o.alone[i], o.together[i], j);
      const std::vector<int32_t> prefix(o.alone[i].ids.begin(), o.alone[i].ids.begin() + o.together[i].ids.size());
      CHECK(o.together[i].ids == prefix);
    } else {
      CHECK(o.together[i].ids == o.alone[i].ids);
    }
  }
  // Alone agrees with upstream: the 20-token runs are the golden generations.
  for (size_t i = 0; i < 3; ++i) {
    std::vector<int32_t> golden;
    for (const auto& x : prompt_case(jobs()[i].prompt)["generated_ids"]) golden.push_back(x.get<int32_t>());
    CHECK(o.alone[i].ids == golden);
  }
  check_batching_happened(o.stats);
}

// bf16 rows that share a pass with a prefill go through libtorch's GEMM, which rounds
// differently from the decode kernels: each step's distribution must then stay within the
// bf16 golden tolerance of the one alone, and the ids may part only where the alone run's
// two best tokens were closer than that tolerance.
TEST_CASE("batched decoding, bf16: every session's distributions within the bf16 tolerance of alone") {
  auto m = mt::model("models/merged_fp32", "", at::kBFloat16);
  const double tol = 2.0 * mt::manifest()["numerics"]["bf16_compute_vs_bf16_weights_fp32_compute_tail_logits_maxabs"].get<double>();
  const Outcome o = run_jobs(m);
  int identical = 0;
  for (size_t i = 0; i < jobs().size(); ++i) {
    const Job& j = jobs()[i];
    CAPTURE(i);
    const Run &a = o.alone[i], &b = o.together[i];
    if (j.cancel_at > 0) check_cancelled(a, b, j);
    size_t s = 0;
    for (; s < b.ids.size(); ++s) {
      CAPTURE(s);
      CHECK(mt::max_abs_diff(a.logprobs[s], b.logprobs[s]) <= tol);
      if (a.ids[s] != b.ids[s]) {
        const at::Tensor top2 = std::get<0>(a.logprobs[s].topk(2));
        CHECK((top2[0] - top2[1]).item<double>() <= tol);
        break;  // later steps continue different texts
      }
    }
    if (j.cancel_at == 0 && s == b.ids.size() && b.ids == a.ids) ++identical;
  }
  MESSAGE(identical << " of " << jobs().size() - 1 << " uncancelled bf16 sessions identical to alone");
  check_batching_happened(o.stats);
}

TEST_CASE("batched decoding: max_sequences 1 runs every pass alone; the setting is kept in bounds") {
  auto m = mt::model("models/merged_fp32");
  DecoderScheduler& s = m->decoder_scheduler();
  REQUIRE(s.max_sequences() == 16);
  s.set_max_sequences(0);
  CHECK(s.max_sequences() == 1);
  const Outcome o = run_jobs(m);
  s.set_max_sequences(16);
  CHECK(o.stats.passes == o.stats.sequences);
  for (size_t i = 0; i < jobs().size(); ++i)
    if (jobs()[i].cancel_at == 0) CHECK(o.together[i].ids == o.alone[i].ids);
}

TEST_CASE("batched decoding: a request the decoder refuses fails alone; the scheduler goes on") {
  c10::InferenceMode g;
  auto m = mt::model("models/merged_fp32");
  const int64_t H = m->config().text.hidden_size;
  m4cxr::KvCache cache = m->language_model().make_cache(m->runtime());
  std::atomic<bool> stop{false};
  std::thread other([&] {
    Job j{"text_only", 20, 0};
    while (!stop.load()) CHECK(run_session(m, j, at::Tensor()).ids.size() == 20);
  });
  for (int i = 0; i < 5; ++i) {
    CHECK(mt::status_of([&] { m->decoder_scheduler().forward(at::zeros({1, H + 1}), cache, false); }) ==
          m4cxr::Status::invalid_argument);
    CHECK(mt::status_of([&] { m->decoder_scheduler().forward(at::zeros({0, H}), cache, false); }) ==
          m4cxr::Status::invalid_argument);
  }
  CHECK(cache.length() == 0);
  CHECK(m->decoder_scheduler().forward(at::zeros({3, H}), cache, true).sizes().vec() ==
        std::vector<int64_t>{3, m->config().text.vocab_size});
  CHECK(cache.length() == 3);
  stop = true;
  other.join();
}
