// The C API under misuse and concurrency: every wrong call returns a status with a
// message; cancellation works from another thread (within one layer, also on a slow
// model: m4cxr_debug_set_layer_delay_ms); sessions run in parallel.
#include <m4cxr/m4cxr_debug.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "capi_support.h"

using namespace capi_test;

TEST_CASE("capi: NULL, freed and wrong-kind handles") {
  m4cxr_model* m = nullptr;
  CHECK(m4cxr_model_load(nullptr, nullptr, &m) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(std::strlen(m4cxr_last_error()) > 0);
  CHECK(m4cxr_model_load("/nonexistent/model", nullptr, &m) == M4CXR_ERR_IO);
  CHECK(std::string(m4cxr_last_error()).find("/nonexistent/model") != std::string::npos);
  CHECK(m == nullptr);
  CHECK(m4cxr_model_load("x", nullptr, nullptr) == M4CXR_ERR_INVALID_ARGUMENT);
  m4cxr_session* s = nullptr;
  CHECK(m4cxr_session_create(nullptr, &s) == M4CXR_ERR_INVALID_HANDLE);
  m4cxr_image* im = image("gray8_70x70.png");
  // an image passed where a session is expected
  CHECK(m4cxr_session_reset(reinterpret_cast<m4cxr_session*>(im)) == M4CXR_ERR_INVALID_HANDLE);
  m4cxr_image_free(im);
  int w, h;
  CHECK(m4cxr_image_get_size(im, &w, &h) == M4CXR_ERR_INVALID_HANDLE);  // freed
  m4cxr_image_free(im);                                                 // double free: ignored
  CHECK(m4cxr_image_hash(nullptr) == nullptr);
  CHECK(m4cxr_result_text(nullptr) == nullptr);
  CHECK(m4cxr_result_box_count(nullptr) == 0);
  m4cxr_task_free(nullptr);
  m4cxr_session_free(nullptr);
  m4cxr_model_free(nullptr);
}

TEST_CASE("capi: bad images and bad arguments") {
  m4cxr_image* im = nullptr;
  CHECK(m4cxr_image_from_file(model(), (golden() + "/images/missing.png").c_str(), &im) == M4CXR_ERR_IO);
  const unsigned char junk[] = {0x89, 'P', 'N', 'G', 1, 2, 3};
  CHECK(m4cxr_image_from_memory(model(), junk, sizeof junk, &im) == M4CXR_ERR_FORMAT);
  CHECK(std::strlen(m4cxr_last_error()) > 0);
  unsigned char px[6] = {0};
  CHECK(m4cxr_image_from_pixels(model(), px, sizeof px, 3, 2, 2, M4CXR_PIXELS_GRAY8, &im) == M4CXR_ERR_INVALID_ARGUMENT);
  REQUIRE(m4cxr_image_from_pixels(model(), px, sizeof px, 3, 2, 3, M4CXR_PIXELS_GRAY8, &im) == M4CXR_OK);

  m4cxr_session* s = nullptr;
  REQUIRE(m4cxr_session_create(model(), &s) == M4CXR_OK);
  m4cxr_task* t = nullptr;
  auto g = greedy(4);
  CHECK(m4cxr_report(s, nullptr, 0, &g, &t) == M4CXR_ERR_INVALID_ARGUMENT);  // no image
  const m4cxr_image* six[] = {im, im, im, im, im, im};
  CHECK(m4cxr_report(s, six, 6, &g, &t) == M4CXR_ERR_INVALID_ARGUMENT);  // more than 5 views
  CHECK(m4cxr_difference_vqa(s, im, nullptr, "what changed?", &g, &t) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(m4cxr_chat(s, "", nullptr, 0, &g, &t) == M4CXR_ERR_INVALID_ARGUMENT);  // empty prompt
  CHECK(m4cxr_vqa(s, im, "sneaky <image> injection", &g, &t) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(m4cxr_vqa(s, im, nullptr, &g, &t) == M4CXR_ERR_INVALID_ARGUMENT);
  auto zero = greedy(0);
  CHECK(m4cxr_vqa(s, im, "ok?", &zero, &t) == M4CXR_ERR_INVALID_ARGUMENT);  // max tokens 0
  auto bad = greedy(4);
  bad.do_sample = 1;
  bad.temperature = 0;
  CHECK(m4cxr_vqa(s, im, "ok?", &bad, &t) == M4CXR_ERR_INVALID_ARGUMENT);
  bad.struct_size = 7;
  CHECK(m4cxr_vqa(s, im, "ok?", &bad, &t) == M4CXR_ERR_INVALID_ARGUMENT);
  const double inverted[4] = {10, 10, 5, 5};
  CHECK(m4cxr_identify_region(s, im, M4CXR_NAME_FINDING, inverted, 1, &g, &t) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(t == nullptr);
  // the session is still usable after all those refusals
  REQUIRE(m4cxr_vqa(s, im, "ok?", &g, &t) == M4CXR_OK);
  Run r;
  drive(t, r);
  m4cxr_session_free(s);
  m4cxr_image_free(im);
}

TEST_CASE("capi: one session, two users -> BUSY") {
  m4cxr_image* im = image("gray8_70x70.png");
  m4cxr_session* s = nullptr;
  REQUIRE(m4cxr_session_create(model(), &s) == M4CXR_OK);
  auto g = greedy(8);
  m4cxr_task* t = nullptr;
  REQUIRE(m4cxr_vqa(s, im, "first?", &g, &t) == M4CXR_OK);
  m4cxr_task* t2 = nullptr;
  CHECK(m4cxr_vqa(s, im, "second?", &g, &t2) == M4CXR_ERR_BUSY);  // unfinished task
  CHECK(m4cxr_session_reset(s) == M4CXR_ERR_BUSY);
  // Two threads pulling the same task: one of them must be told BUSY, none may crash.
  std::atomic<int> busy{0}, ok{0};
  std::atomic<bool> go{false};
  auto puller = [&] {
    while (!go.load()) {
    }
    for (int i = 0; i < 200; ++i) {
      const char* p;
      size_t n;
      m4cxr_status st = m4cxr_task_next(t, &p, &n, nullptr);
      if (st == M4CXR_ERR_BUSY) ++busy;
      else if (st == M4CXR_OK || st == M4CXR_DONE) ++ok;
    }
  };
  std::thread a(puller), b(puller);
  go = true;
  a.join();
  b.join();
  CHECK(ok.load() > 0);
  CHECK(ok.load() + busy.load() == 400);
  m4cxr_result* r = nullptr;
  REQUIRE(m4cxr_task_result(t, &r) == M4CXR_OK);
  m4cxr_result_free(r);
  m4cxr_task_free(t);
  REQUIRE(m4cxr_vqa(s, im, "second?", &g, &t2) == M4CXR_OK);  // free again
  m4cxr_task_free(t2);  // abandoned before running: the session stays usable
  REQUIRE(m4cxr_vqa(s, im, "third?", &g, &t2) == M4CXR_OK);
  Run run;
  drive(t2, run);
  m4cxr_session_free(s);
  m4cxr_image_free(im);
}

TEST_CASE("capi: cancel from another thread stops a running generation") {
  m4cxr_image* im = image("gray8_70x70.png");
  m4cxr_session* s = nullptr;
  REQUIRE(m4cxr_session_create(model(), &s) == M4CXR_OK);
  m4cxr_generation_options g;
  m4cxr_generation_options_default(&g);
  g.max_new_tokens = 400;
  g.do_sample = 1;  // random weights rarely emit EOS, but sampling makes it likelier: use a seed
  g.seed = 7;
  m4cxr_task* t = nullptr;
  REQUIRE(m4cxr_chat(s, "Describe.", (const m4cxr_image* const*)&im, 1, &g, &t) == M4CXR_OK);
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    int pieces = 0;
    bool cancelled = false;
  } sh;
  std::thread canceller([&] {
    std::unique_lock<std::mutex> lk(sh.mu);
    sh.cv.wait(lk, [&] { return sh.pieces >= 3; });
    CHECK(m4cxr_task_cancel(t) == M4CXR_OK);
    sh.cancelled = true;
    sh.cv.notify_all();
  });
  auto on_piece = [](const char*, size_t, int, void* ud) -> int {
    auto* sh = static_cast<Shared*>(ud);
    std::unique_lock<std::mutex> lk(sh->mu);
    ++sh->pieces;
    sh->cv.notify_all();
    if (sh->pieces == 3) sh->cv.wait(lk, [&] { return sh->cancelled; });  // wait for the cancel to land
    return 0;
  };
  CHECK(m4cxr_task_run(t, on_piece, &sh) == M4CXR_OK);
  canceller.join();
  m4cxr_result* r = nullptr;
  REQUIRE(m4cxr_task_result(t, &r) == M4CXR_OK);
  m4cxr_stats st;
  st.struct_size = sizeof st;
  REQUIRE(m4cxr_result_get_stats(r, &st) == M4CXR_OK);
  if (!st.stopped_by_eos) {
    CHECK(st.cancelled == 1);
    CHECK(st.generated_tokens < 400);
    CHECK(st.generated_tokens <= sh.pieces + 4);
  }
  m4cxr_result_free(r);
  m4cxr_task_free(t);
  m4cxr_session_free(s);
  m4cxr_image_free(im);
}

TEST_CASE("capi: four threads with four sessions give the single-thread result") {
  m4cxr_image* im = image("rgb_150x200.jpg");
  auto run_once = [&]() {
    m4cxr_session* s = nullptr;
    REQUIRE(m4cxr_session_create(model(), &s) == M4CXR_OK);
    auto g = greedy(10);
    m4cxr_task* t = nullptr;
    REQUIRE(m4cxr_report(s, (const m4cxr_image* const*)&im, 1, &g, &t) == M4CXR_OK);
    REQUIRE(m4cxr_task_run(t, nullptr, nullptr) == M4CXR_OK);
    m4cxr_result* r = nullptr;
    REQUIRE(m4cxr_task_result(t, &r) == M4CXR_OK);
    std::string out = std::string(m4cxr_result_turn_text(r, 0)) + "\n" + m4cxr_result_text(r);
    m4cxr_result_free(r);
    m4cxr_task_free(t);
    m4cxr_session_free(s);
    return out;
  };
  const std::string want = run_once();
  std::vector<std::string> got(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&, i] { got[static_cast<size_t>(i)] = run_once(); });
  for (auto& th : threads) th.join();
  for (const auto& g : got) CHECK(g == want);
  m4cxr_image_free(im);
}

TEST_CASE("capi: a cancel before the first token ends the task normally, marked cancelled") {
  m4cxr_image* im = image("gray8_70x70.png");
  m4cxr_session* s = nullptr;
  REQUIRE(m4cxr_session_create(model(), &s) == M4CXR_OK);
  auto g = greedy(8);
  m4cxr_task* t = nullptr;
  REQUIRE(m4cxr_vqa(s, im, "anything?", &g, &t) == M4CXR_OK);
  REQUIRE(m4cxr_task_cancel(t) == M4CXR_OK);  // lands during image encoding
  const m4cxr_stats st = finished_stats(t);
  CHECK(st.cancelled == 1);
  CHECK(st.generated_tokens == 0);
  m4cxr_task_free(t);
  REQUIRE(m4cxr_vqa(s, im, "anything?", &g, &t) == M4CXR_OK);  // the session works afterwards
  Run run;
  drive(t, run);
  CHECK(m4cxr_result_turn_count(run.result) == 1);
  m4cxr_session_free(s);
  m4cxr_image_free(im);
}

TEST_CASE("capi: on a slow model (debug layer delay) a cancel still lands within one layer") {
  m4cxr_session* s = nullptr;
  REQUIRE(m4cxr_session_create(model(), &s) == M4CXR_OK);
  m4cxr_image* im = image("gray8_70x70.png");
  CHECK(m4cxr_debug_set_layer_delay_ms(-1) == M4CXR_ERR_INVALID_ARGUMENT);
  struct NoDelay {
    ~NoDelay() { m4cxr_debug_set_layer_delay_ms(0); }
  } no_delay;
  REQUIRE(m4cxr_debug_set_layer_delay_ms(2000) == M4CXR_OK);  // a token needs several layers: many seconds
  auto g = greedy(5);
  m4cxr_task* t = nullptr;
  REQUIRE(m4cxr_vqa(s, im, "anything?", &g, &t) == M4CXR_OK);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    m4cxr_task_cancel(t);
  });
  const auto t0 = std::chrono::steady_clock::now();
  const char* p;
  size_t n;
  const m4cxr_status st = m4cxr_task_next(t, &p, &n, nullptr);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  canceller.join();
  REQUIRE(m4cxr_debug_set_layer_delay_ms(0) == M4CXR_OK);
  CHECK(st == M4CXR_DONE);
  CHECK(secs < 1.0);  // 0.3 s, then at most one (cut short) delay and one real layer
  m4cxr_task_free(t);
  auto g1 = greedy(1);
  REQUIRE(m4cxr_vqa(s, im, "anything?", &g1, &t) == M4CXR_OK);  // back to normal speed
  Run r;
  drive(t, r);
  m4cxr_image_free(im);
  m4cxr_session_free(s);
}
