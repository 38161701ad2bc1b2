// Stress test of the C API: many sessions driven from several threads, random tasks, and
// cancels fired from another thread at random moments (often racing the task's end, or
// arriving after its handle was freed). Uses include/m4cxr/m4cxr.h only.
//
// Checks:
//  * greedy decoding is deterministic: a task that ran to its end produced exactly the text
//    the same task produced alone before the run; a cancelled one produced a prefix of it;
//  * every call returns one of the statuses its documentation allows (a cancel on a
//    finished or freed task is INVALID_HANDLE or OK, never a crash);
//  * memory stays bounded: resident memory after the run exceeds the level after a warm-up
//    round by less than M4CXR_STRESS_MAX_GROWTH_MB (default 64).
// Size (environment): M4CXR_STRESS_TASKS (default 400), M4CXR_STRESS_THREADS (4),
// M4CXR_STRESS_SESSIONS (8), M4CXR_STRESS_SEED (1). Long runs: M4CXR_STRESS_TASKS=16000.
// Usage: stress_capi <golden dir>
#include <m4cxr/m4cxr.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

long env_long(const char* name, long fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtol(v, nullptr, 10) : fallback;
}

[[noreturn]] void die(const std::string& what) {
  std::fflush(stdout);
  std::fprintf(stderr, "stress_capi: FAILED: %s (last error: %s)\n", what.c_str(), m4cxr_last_error());
  std::fflush(stderr);
  std::_Exit(1);  // other threads are still inside the library: no static destructors
}

// A stream stopped inside a multi-byte character ends with U+FFFD for its held bytes
// (as decoding those ids does); what came before is the reference's prefix.
std::string without_trailing_replacement(std::string s) {
  static const std::string kReplacement = "\xEF\xBF\xBD";
  while (s.size() >= 3 && s.compare(s.size() - 3, 3, kReplacement) == 0) s.resize(s.size() - 3);
  return s;
}

double rss_mb() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return double(resident) * double(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

constexpr int kKinds = 6;
const char* kKindNames[kKinds] = {"report", "vqa", "ground_phrase", "classify", "detect_abnormalities", "chat"};

// Starts task `kind` on image `im` (a fresh conversation each time, so the output depends
// only on the kind and the image).
m4cxr_status start(m4cxr_session* s, int kind, const m4cxr_image* im, const m4cxr_generation_options* g,
                   m4cxr_task** t) {
  switch (kind) {
    case 0: return m4cxr_report(s, &im, 1, g, t);
    case 1: return m4cxr_vqa(s, im, "Is there a pleural effusion?", g, t);
    case 2: return m4cxr_ground_phrase(s, im, "left lower lobe opacity", g, t);
    case 3: {
      const char* labels[] = {"edema", "pneumothorax", "cardiomegaly"};
      return m4cxr_classify(s, im, labels, 3, g, t);
    }
    case 4: return m4cxr_detect_abnormalities(s, im, g, t);
    default: {
      // Chat continues the conversation: start a new one first.
      const m4cxr_status st = m4cxr_session_reset(s);
      if (st != M4CXR_OK) return st;
      return m4cxr_chat(s, "Describe this image.", &im, 1, g, t);
    }
  }
}

// Drives the task to its end; returns the concatenated pieces and whether it was cancelled.
std::string drive(m4cxr_task* t, bool* cancelled) {
  std::string text;
  const char* p = nullptr;
  size_t n = 0;
  m4cxr_status st;
  while ((st = m4cxr_task_next(t, &p, &n, nullptr)) == M4CXR_OK) text.append(p, n);
  if (st != M4CXR_DONE) die(std::string("m4cxr_task_next returned ") + m4cxr_status_string(st));
  m4cxr_result* r = nullptr;
  if (m4cxr_task_result(t, &r) != M4CXR_OK) die("m4cxr_task_result");
  m4cxr_stats stats;
  stats.struct_size = sizeof stats;
  if (m4cxr_result_get_stats(r, &stats) != M4CXR_OK) die("m4cxr_result_get_stats");
  *cancelled = stats.cancelled != 0;
  m4cxr_result_free(r);
  return text;
}

// Cancels handed-over tasks after a random delay, from its own thread. The task may have
// finished, or been freed, by then: the generation-checked handles must make that safe.
class Canceller {
 public:
  explicit Canceller(unsigned seed) : rng_(seed), thread_([this] { loop(); }) {}
  ~Canceller() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void cancel_later(m4cxr_task* t) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(t);
    }
    cv_.notify_all();
  }
  long late() const { return late_.load(); }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      m4cxr_task* t = queue_.front();
      queue_.pop_front();
      // A task of the tiny test model takes a few milliseconds: cancel at once, or within
      // that time, so that cancels land before, during and after generation.
      const int delay_us = rng_() % 3 == 0 ? 0 : static_cast<int>(rng_() % 4000);
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
      const m4cxr_status st = m4cxr_task_cancel(t);
      if (st == M4CXR_ERR_INVALID_HANDLE) ++late_;
      else if (st != M4CXR_OK) die(std::string("m4cxr_task_cancel returned ") + m4cxr_status_string(st));
      lock.lock();
    }
  }
  std::mt19937 rng_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<m4cxr_task*> queue_;
  bool stop_ = false;
  std::atomic<long> late_{0};
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: stress_capi <golden dir>\n");
    return 2;
  }
  const std::string golden = argv[1];
  const long n_tasks = env_long("M4CXR_STRESS_TASKS", 400);
  const int n_threads = static_cast<int>(env_long("M4CXR_STRESS_THREADS", 4));
  const int n_sessions = static_cast<int>(env_long("M4CXR_STRESS_SESSIONS", 8));
  const unsigned seed = static_cast<unsigned>(env_long("M4CXR_STRESS_SEED", 1));
  const double max_growth = static_cast<double>(env_long("M4CXR_STRESS_MAX_GROWTH_MB", 64));
  if (n_tasks < 1 || n_threads < 1 || n_sessions < n_threads) die("bad M4CXR_STRESS_* sizes");

  m4cxr_model_options mo;
  m4cxr_model_options_default(&mo);
  mo.dtype = M4CXR_DTYPE_FLOAT32;
  mo.threads = 1;
  m4cxr_model* model = nullptr;
  if (m4cxr_model_load((golden + "/models/merged_fp32").c_str(), &mo, &model) != M4CXR_OK) die("model load");
  std::vector<m4cxr_image*> images;
  for (const char* name : {"gray8_70x70.png", "rgb_150x200.jpg", "gray16_200x150.png"}) {
    m4cxr_image* im = nullptr;
    if (m4cxr_image_from_file(model, (golden + "/images/" + name).c_str(), &im) != M4CXR_OK) die(name);
    images.push_back(im);
  }
  m4cxr_generation_options g;
  m4cxr_generation_options_default(&g);
  g.max_new_tokens = 8;

  // The reference: every (kind, image) once, alone.
  std::map<std::pair<int, size_t>, std::string> expected;
  {
    m4cxr_session* s = nullptr;
    if (m4cxr_session_create(model, &s) != M4CXR_OK) die("session");
    for (int k = 0; k < kKinds; ++k)
      for (size_t i = 0; i < images.size(); ++i) {
        m4cxr_task* t = nullptr;
        if (start(s, k, images[i], &g, &t) != M4CXR_OK) die(std::string("start ") + kKindNames[k]);
        bool cancelled = false;
        expected[{k, i}] = drive(t, &cancelled);
        m4cxr_task_free(t);
        if (cancelled) die("reference task cancelled");
      }
    m4cxr_session_free(s);
  }

  std::vector<m4cxr_session*> sessions(static_cast<size_t>(n_sessions));
  for (auto& s : sessions)
    if (m4cxr_session_create(model, &s) != M4CXR_OK) die("session");

  std::atomic<long> next{0}, done_full{0}, done_cancelled{0};
  double rss_warm = 0;
  std::mutex warm_mu;
  const long warm_up = std::min<long>(n_tasks, 2L * n_sessions);
  const auto t0 = std::chrono::steady_clock::now();
  {
    Canceller canceller(seed * 7919u);
    std::vector<std::thread> workers;
    for (int w = 0; w < n_threads; ++w) {
      workers.emplace_back([&, w] {
        std::mt19937 rng(seed * 1000u + static_cast<unsigned>(w));
        for (long i; (i = next.fetch_add(1)) < n_tasks;) {
          if (i == warm_up) {
            std::lock_guard<std::mutex> lock(warm_mu);
            rss_warm = rss_mb();
          }
          // Thread w owns sessions w, w + n_threads, ...: a session is never shared.
          const int mine = (n_sessions - w + n_threads - 1) / n_threads;
          m4cxr_session* s = sessions[static_cast<size_t>(w + n_threads * static_cast<int>(rng() % unsigned(mine)))];
          const int kind = static_cast<int>(rng() % kKinds);
          const size_t img = rng() % images.size();
          m4cxr_task* t = nullptr;
          if (start(s, kind, images[img], &g, &t) != M4CXR_OK) die(std::string("start ") + kKindNames[kind]);
          const bool cancel = rng() % 4 == 0;
          if (cancel) canceller.cancel_later(t);
          bool cancelled = false;
          const std::string text = drive(t, &cancelled);
          m4cxr_task_free(t);  // the canceller may still hold (and use) the stale handle
          const std::string& want = expected[{kind, img}];
          if (cancelled) {
            if (!cancel) die("a task nobody cancelled is marked cancelled");
            const std::string head = without_trailing_replacement(text);
            if (want.compare(0, head.size(), head) != 0)
              die(std::string("cancelled ") + kKindNames[kind] + " is not a prefix of the reference: '" + text + "'");
            ++done_cancelled;
          } else {
            if (text != want)
              die(std::string(kKindNames[kind]) + " differs from the reference: '" + text + "' vs '" + want + "'");
            ++done_full;
          }
        }
      });
    }
    for (auto& th : workers) th.join();
    std::printf("cancels that arrived after the task was freed: %ld\n", canceller.late());
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double rss_end = rss_mb();

  for (auto* s : sessions) m4cxr_session_free(s);
  for (auto* im : images) m4cxr_image_free(im);
  m4cxr_model_free(model);

  std::printf("%ld tasks (%ld complete, %ld cancelled) on %d threads, %d sessions in %.1f s; "
              "RSS %.0f MB after warm-up, %.0f MB at the end\n",
              n_tasks, done_full.load(), done_cancelled.load(), n_threads, n_sessions, secs, rss_warm, rss_end);
  if (done_full + done_cancelled != n_tasks) die("task count mismatch");
  if (rss_warm > 0 && rss_end - rss_warm > max_growth) die("resident memory grew by " + std::to_string(rss_end - rss_warm) + " MB, more than the bound of " +
        std::to_string(max_growth) + " MB");
  std::printf("stress_capi: OK\n");
  return 0;
}
