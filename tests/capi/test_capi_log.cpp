// The promises of m4cxr_set_log_callback (m4cxr.h, "logging"): levels below min_level are
// not delivered, NULL turns logging off, failing calls log m4cxr_last_error's text,
// messages are NUL-terminated UTF-8 lines on the calling thread, the callback cannot
// re-enter the logger, and replacing the callback while other threads log is race-free
// (no call of the old callback runs or starts after the replacing call returned).
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "capi_support.h"

using namespace capi_test;

namespace {

struct Message {
  m4cxr_log_level level;
  std::string text;
  std::thread::id thread;
};

// Collects every message (any thread).
struct Collector {
  std::mutex mu;
  std::vector<Message> messages;
  std::atomic<int> bad_text{0};  // NULL, over-long, multi-line or non-UTF-8 messages

  static void callback(void* ud, m4cxr_log_level level, const char* message) {
    auto* c = static_cast<Collector*>(ud);
    if (message == nullptr || std::strlen(message) > 100000 || std::strchr(message, '\n') != nullptr ||
        !valid_utf8(message)) {
      ++c->bad_text;
      return;
    }
    std::lock_guard<std::mutex> g(c->mu);
    c->messages.push_back({level, message, std::this_thread::get_id()});
  }

  static bool valid_utf8(const char* s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s);
    while (*p) {
      int n = *p < 0x80 ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 : (*p >> 3) == 30 ? 3 : -1;
      if (n < 0) return false;
      ++p;
      for (; n > 0; --n, ++p)
        if ((*p >> 6) != 2) return false;
    }
    return true;
  }

  std::vector<Message> take() {
    std::lock_guard<std::mutex> g(mu);
    return std::move(messages);
  }
};

// Turns logging off when a test ends, whatever happened (the callback is process-wide).
struct LogOff {
  ~LogOff() { m4cxr_set_log_callback(nullptr, nullptr, M4CXR_LOG_DEBUG); }
};

bool any_contains(const std::vector<Message>& ms, m4cxr_log_level level, const std::string& part) {
  for (const auto& m : ms)
    if (m.level == level && m.text.find(part) != std::string::npos) return true;
  return false;
}

m4cxr_model* load_tiny(int max_cached_images = 8) {
  m4cxr_model_options o;
  m4cxr_model_options_default(&o);
  o.dtype = M4CXR_DTYPE_FLOAT32;
  o.threads = 2;  // as capi_support's model(): the setting is process-wide
  o.max_cached_images = max_cached_images;
  m4cxr_model* m = nullptr;
  REQUIRE_MESSAGE(m4cxr_model_load((golden() + "/models/merged_fp32").c_str(), &o, &m) == M4CXR_OK, m4cxr_last_error());
  return m;
}

}  // namespace

TEST_CASE("log: off by default; a callback gets the load messages at min_level and above only") {
  LogOff off;
  Collector c;
  m4cxr_model_free(load_tiny());  // nothing installed: nothing to observe, and no crash
  m4cxr_model* bad = nullptr;
  CHECK(m4cxr_model_load("/definitely/missing/folder", nullptr, &bad) == M4CXR_ERR_IO);

  REQUIRE(m4cxr_set_log_callback(&Collector::callback, &c, M4CXR_LOG_INFO) == M4CXR_OK);
  m4cxr_model_free(load_tiny());
  auto ms = c.take();
  CHECK(any_contains(ms, M4CXR_LOG_INFO, "loading model '" + golden() + "/models/merged_fp32'"));
  CHECK(any_contains(ms, M4CXR_LOG_INFO, "model loaded in "));
  for (const auto& m : ms) CHECK(m.level >= M4CXR_LOG_INFO);

  SUBCASE("min_level ERROR drops INFO; a failing call logs exactly m4cxr_last_error, on the calling thread") {
    REQUIRE(m4cxr_set_log_callback(&Collector::callback, &c, M4CXR_LOG_ERROR) == M4CXR_OK);
    m4cxr_model_free(load_tiny());
    CHECK(c.take().empty());
    CHECK(m4cxr_model_load("/definitely/missing/folder", nullptr, &bad) == M4CXR_ERR_IO);
    const std::string err = m4cxr_last_error();
    ms = c.take();
    REQUIRE(ms.size() == 1);
    CHECK(ms[0].level == M4CXR_LOG_ERROR);
    CHECK(ms[0].text == err);
    CHECK(ms[0].text.find("does not exist") != std::string::npos);
    CHECK(ms[0].thread == std::this_thread::get_id());
    // from another thread: logged there
    std::thread::id other;
    std::thread th([&] {
      other = std::this_thread::get_id();
      int w, h;
      CHECK(m4cxr_image_get_size(nullptr, &w, &h) == M4CXR_ERR_INVALID_HANDLE);
    });
    th.join();
    ms = c.take();
    REQUIRE(ms.size() == 1);
    CHECK(ms[0].thread == other);
    CHECK(ms[0].text.find("image is NULL") != std::string::npos);
  }

  SUBCASE("BUSY and CANCELLED are logged as warnings") {
    REQUIRE(m4cxr_set_log_callback(&Collector::callback, &c, M4CXR_LOG_WARN) == M4CXR_OK);
    m4cxr_session* s = nullptr;
    REQUIRE(m4cxr_session_create(model(), &s) == M4CXR_OK);
    m4cxr_image* im = image("gray8_70x70.png");
    auto g = greedy(2);
    m4cxr_task *t = nullptr, *t2 = nullptr;
    REQUIRE(m4cxr_vqa(s, im, "anything?", &g, &t) == M4CXR_OK);
    CHECK(m4cxr_vqa(s, im, "anything?", &g, &t2) == M4CXR_ERR_BUSY);
    ms = c.take();
    REQUIRE(ms.size() == 1);
    CHECK(ms[0].level == M4CXR_LOG_WARN);
    CHECK(ms[0].text == m4cxr_last_error());
    m4cxr_task_free(t);
    m4cxr_image_free(im);
    m4cxr_session_free(s);
  }

  SUBCASE("an out-of-range min_level is refused and changes nothing") {
    CHECK(m4cxr_set_log_callback(&Collector::callback, &c, static_cast<m4cxr_log_level>(4)) ==
          M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(m4cxr_set_log_callback(&Collector::callback, &c, static_cast<m4cxr_log_level>(-1)) ==
          M4CXR_ERR_INVALID_ARGUMENT);
    ms = c.take();  // the refusals themselves went to the still-installed INFO callback
    REQUIRE(ms.size() == 2);
    CHECK(ms[1].text == m4cxr_last_error());
    m4cxr_model_free(load_tiny());
    CHECK(any_contains(c.take(), M4CXR_LOG_INFO, "model loaded in "));
  }

  SUBCASE("NULL turns logging off") {
    REQUIRE(m4cxr_set_log_callback(nullptr, &c, M4CXR_LOG_DEBUG) == M4CXR_OK);
    m4cxr_model_free(load_tiny());
    CHECK(m4cxr_model_load("/definitely/missing/folder", nullptr, &bad) == M4CXR_ERR_IO);
    CHECK(c.take().empty());
  }
  CHECK(c.bad_text == 0);
}

TEST_CASE("log: DEBUG tells task start and end and cache evictions; WARN a clipped box") {
  LogOff off;
  Collector c;
  m4cxr_model* m = load_tiny(1);
  m4cxr_session* s = nullptr;
  REQUIRE(m4cxr_session_create(m, &s) == M4CXR_OK);
  m4cxr_image* a = nullptr;
  m4cxr_image* b = nullptr;
  REQUIRE(m4cxr_image_from_file(m, (golden() + "/images/rgb_150x200.jpg").c_str(), &a) == M4CXR_OK);
  REQUIRE(m4cxr_image_from_file(m, (golden() + "/images/gray8_70x70.png").c_str(), &b) == M4CXR_OK);
  REQUIRE(m4cxr_set_log_callback(&Collector::callback, &c, M4CXR_LOG_DEBUG) == M4CXR_OK);
  auto g = greedy(3);
  m4cxr_task* t = nullptr;
  REQUIRE(m4cxr_vqa(s, a, "Is there edema?", &g, &t) == M4CXR_OK);
  {
    Run r;
    drive(t, r);
  }
  auto ms = c.take();
  CHECK(any_contains(ms, M4CXR_LOG_DEBUG, "task vqa started: 1 new image(s), 1 turn(s), max_new_tokens 3"));
  CHECK(any_contains(ms, M4CXR_LOG_DEBUG, "task vqa finished after 1 turn(s)"));
  CHECK(any_contains(ms, M4CXR_LOG_DEBUG, " generated"));
  for (const auto& msg : ms) CHECK(msg.text.find("edema") == std::string::npos);  // no prompt text

  REQUIRE(m4cxr_vqa(s, b, "Is there edema?", &g, &t) == M4CXR_OK);  // cache of 1: a's embedding goes
  {
    Run r;
    drive(t, r);
  }
  CHECK(any_contains(c.take(), M4CXR_LOG_DEBUG, "image cache: dropped 1 least recently used embedding(s) (keeps 1)"));

  // 150x200: the model sees rows 25..175; this box starts above them and is clipped.
  const double box[4] = {10, 0, 60, 80};
  REQUIRE(m4cxr_identify_region(s, a, M4CXR_NAME_FINDING, box, 1, &g, &t) == M4CXR_OK);
  ms = c.take();
  CHECK(any_contains(ms, M4CXR_LOG_WARN, "box (10,0,60,80) px is partly outside the part of the 150x200 image"));
  m4cxr_task_free(t);
  CHECK(c.bad_text == 0);
  m4cxr_image_free(a);
  m4cxr_image_free(b);
  m4cxr_session_free(s);
  m4cxr_model_free(m);
}

namespace {
// Calls back into the library from inside the callback: refused, and its own logging dropped.
struct Reentrant {
  std::atomic<int> calls{0};
  std::atomic<int> set_status{-1};
  static void callback(void* ud, m4cxr_log_level, const char*) {
    auto* r = static_cast<Reentrant*>(ud);
    ++r->calls;
    r->set_status = m4cxr_set_log_callback(nullptr, nullptr, M4CXR_LOG_DEBUG);
    int w, h;
    m4cxr_image_get_size(nullptr, &w, &h);  // fails, and would log: dropped
  }
};
}  // namespace

TEST_CASE("log: the callback cannot re-enter the logger or replace itself") {
  LogOff off;
  Reentrant r;
  REQUIRE(m4cxr_set_log_callback(&Reentrant::callback, &r, M4CXR_LOG_DEBUG) == M4CXR_OK);
  int w, h;
  CHECK(m4cxr_image_get_size(nullptr, &w, &h) == M4CXR_ERR_INVALID_HANDLE);
  CHECK(r.calls == 1);
  CHECK(r.set_status == M4CXR_ERR_BUSY);
  CHECK(m4cxr_image_get_size(nullptr, &w, &h) == M4CXR_ERR_INVALID_HANDLE);
  CHECK(r.calls == 2);  // still installed
}

namespace {
// A callback that records whether it is ever called after it was replaced, and how many
// of its calls are running.
struct Tracked {
  std::atomic<int> running{0};
  std::atomic<bool> retired{false};
  std::atomic<long> calls{0};
  std::atomic<int> late{0};  // calls that started or were still running after retirement

  static void callback(void* ud, m4cxr_log_level, const char* message) {
    auto* t = static_cast<Tracked*>(ud);
    ++t->running;
    if (t->retired) ++t->late;
    ++t->calls;
    if (message == nullptr || message[std::strlen(message)] != '\0') ++t->late;
    std::this_thread::sleep_for(std::chrono::microseconds(50));  // widen the window
    if (t->retired) ++t->late;
    --t->running;
  }
};
}  // namespace

TEST_CASE("log: replacing the callback while other threads log is race-free") {
  LogOff off;
  constexpr int kSwaps = 300;
  std::vector<std::unique_ptr<Tracked>> tracked;
  for (int i = 0; i <= kSwaps; ++i) tracked.push_back(std::make_unique<Tracked>());
  REQUIRE(m4cxr_set_log_callback(&Tracked::callback, tracked[0].get(), M4CXR_LOG_DEBUG) == M4CXR_OK);

  std::atomic<bool> stop{false};
  std::vector<std::thread> loggers;
  for (int k = 0; k < 2; ++k)  // failing calls: an ERROR message each, as fast as possible
    loggers.emplace_back([&] {
      int w, h;
      while (!stop) m4cxr_image_get_size(nullptr, &w, &h);
    });
  loggers.emplace_back([&] {  // a task logging from the thread that drives it
    m4cxr_session* s = nullptr;
    REQUIRE(m4cxr_session_create(model(), &s) == M4CXR_OK);
    m4cxr_image* im = image("gray8_70x70.png");
    auto g = greedy(2);
    while (!stop) {
      m4cxr_task* t = nullptr;
      if (m4cxr_vqa(s, im, "anything?", &g, &t) != M4CXR_OK) break;
      m4cxr_task_run(t, nullptr, nullptr);
      m4cxr_task_free(t);
    }
    m4cxr_image_free(im);
    m4cxr_session_free(s);
  });

  // Each callback is replaced once it has been called (or after a second: on a loaded
  // machine the loggers may not run for a while), so swaps race with calls in flight.
  auto wait_for_call = [](const Tracked& t) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (t.calls == 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::microseconds(50));
  };
  int still_running = 0;
  for (int i = 1; i <= kSwaps; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    wait_for_call(*tracked[static_cast<size_t>(i - 1)]);
    REQUIRE(m4cxr_set_log_callback(&Tracked::callback, tracked[static_cast<size_t>(i)].get(), M4CXR_LOG_DEBUG) ==
            M4CXR_OK);
    Tracked& old = *tracked[static_cast<size_t>(i - 1)];
    if (old.running != 0) ++still_running;
    old.retired = true;
  }
  REQUIRE(m4cxr_set_log_callback(nullptr, nullptr, M4CXR_LOG_DEBUG) == M4CXR_OK);
  const bool last_idle = tracked.back()->running == 0;
  tracked.back()->retired = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // anything late would show now
  stop = true;
  for (auto& th : loggers) th.join();

  CHECK(still_running == 0);
  CHECK(last_idle);
  long total = 0;
  int late = 0, used = 0;
  for (const auto& t : tracked) {
    total += t->calls;
    late += t->late;
    used += t->calls > 0;
  }
  CHECK(late == 0);
  CHECK(total > kSwaps);      // the loggers really logged
  CHECK(used > kSwaps / 2);   // ... through most of the callbacks installed in turn
}
