// The promises of m4cxr.h that are about the contract rather than the tasks: option
// structs of older and newer sizes, stale handles, frees racing running calls, the
// fresh-conversation rule, restored conversations (append_turn) against upstream ids,
// the bounded image cache, and the task table behind m4cxr_task_start.
#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "capi_support.h"

using namespace capi_test;
using nlohmann::json;

namespace {

// m4cxr_generation_options / m4cxr_model_options as first published (ABI 1, 0.1.0).
struct generation_options_v1 {
  size_t struct_size;
  int max_new_tokens;
  int do_sample;
  float temperature;
  int top_k;
  float top_p;
  uint64_t seed;
};
struct model_options_v1 {
  size_t struct_size;
  m4cxr_dtype dtype;
  const char* device;
  int threads;
  const char* adapter_dir;
  int64_t max_image_pixels;
  m4cxr_progress_fn progress;
  void* progress_user_data;
};

m4cxr_image* gray_image(int w, int h, uint8_t seed) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(seed * 31 + i * 7);
  m4cxr_image* im = nullptr;
  REQUIRE(m4cxr_image_from_pixels(model(), px.data(), px.size(), w, h, static_cast<size_t>(w), M4CXR_PIXELS_GRAY8, &im) ==
          M4CXR_OK);
  return im;
}

m4cxr_session* new_session(m4cxr_model* m = model()) {
  m4cxr_session* s = nullptr;
  REQUIRE(m4cxr_session_create(m, &s) == M4CXR_OK);
  return s;
}

// Runs a one-image report and returns the result JSON.
json report(m4cxr_session* s, m4cxr_image* im, const m4cxr_generation_options& g) {
  m4cxr_task* t = nullptr;
  REQUIRE_MESSAGE(m4cxr_report(s, (const m4cxr_image* const*)&im, 1, &g, &t) == M4CXR_OK, m4cxr_last_error());
  Run r;
  drive(t, r);
  return r.json;
}

std::vector<int> prompt_ids(const json& result, size_t turn = 0) {
  return result.at("turns").at(turn).at("prompt_ids").get<std::vector<int>>();
}

}  // namespace

TEST_CASE("option structs: every size from the first published one up to today's") {
  m4cxr_session* s = new_session();
  m4cxr_image* im = gray_image(40, 30, 1);
  m4cxr_task* t = nullptr;

  SUBCASE("generation options of the first published size are read; new fields keep defaults") {
    generation_options_v1 old{};
    old.struct_size = sizeof old;
    old.max_new_tokens = 2;
    old.temperature = 1.0f;
    old.top_p = 1.0f;
    static_assert(sizeof(generation_options_v1) < sizeof(m4cxr_generation_options), "a field was added since v1");
    REQUIRE_MESSAGE(m4cxr_report(s, (const m4cxr_image* const*)&im, 1, reinterpret_cast<const m4cxr_generation_options*>(&old), &t) ==
                        M4CXR_OK,
                    m4cxr_last_error());
    Run r;
    drive(t, r);
    CHECK(r.json["turns"][0]["generated_ids"].size() <= 2);
    CHECK(r.json["replay"]["options"]["max_new_tokens"] == 2);
    CHECK(r.json["replay"]["options"]["continue_conversation"] == false);
  }
  SUBCASE("a struct larger than this library knows is refused, naming the reason") {
    struct {
      m4cxr_generation_options o;
      char future_fields[16];
    } bigger{};
    m4cxr_generation_options_default(&bigger.o);
    bigger.o.struct_size = sizeof bigger;
    CHECK(m4cxr_report(s, (const m4cxr_image* const*)&im, 1, &bigger.o, &t) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(t == nullptr);
    CHECK(std::string(m4cxr_last_error()).find("newer m4cxr.h") != std::string::npos);
  }
  SUBCASE("a struct smaller than the first published size is refused") {
    m4cxr_generation_options g = greedy(2);
    g.struct_size = sizeof(generation_options_v1) - 8;
    CHECK(m4cxr_report(s, (const m4cxr_image* const*)&im, 1, &g, &t) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(std::string(m4cxr_last_error()).find("struct_size") != std::string::npos);
  }
  SUBCASE("model options of the first published size load a model") {
    model_options_v1 old{};
    old.struct_size = sizeof old;
    old.dtype = M4CXR_DTYPE_FLOAT32;
    old.device = "cpu";
    old.max_image_pixels = 1 << 20;
    m4cxr_model* m = nullptr;
    REQUIRE_MESSAGE(m4cxr_model_load((golden() + "/models/merged_fp32").c_str(),
                                     reinterpret_cast<const m4cxr_model_options*>(&old), &m) == M4CXR_OK,
                    m4cxr_last_error());
    m4cxr_model_info info;
    info.struct_size = sizeof info;
    CHECK(m4cxr_model_get_info(m, &info) == M4CXR_OK);
    CHECK(info.dtype == M4CXR_DTYPE_FLOAT32);
    m4cxr_model_options bigger[2];
    m4cxr_model_options_default(&bigger[0]);
    bigger[0].struct_size = sizeof bigger;
    m4cxr_model* m2 = nullptr;
    CHECK(m4cxr_model_load((golden() + "/models/merged_fp32").c_str(), &bigger[0], &m2) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(m2 == nullptr);
    m4cxr_model_free(m);
  }
  SUBCASE("out structs: a too small or too large struct_size is refused") {
    m4cxr_model_info info;
    info.struct_size = 4;
    CHECK(m4cxr_model_get_info(model(), &info) == M4CXR_ERR_INVALID_ARGUMENT);
    info.struct_size = sizeof info + 8;
    CHECK(m4cxr_model_get_info(model(), &info) == M4CXR_ERR_INVALID_ARGUMENT);
  }
  m4cxr_image_free(im);
  m4cxr_session_free(s);
}

TEST_CASE("stale handles are never accepted over thousands of free/create cycles") {
  std::set<uintptr_t> seen_images;
  m4cxr_session* s = new_session();
  for (int cycle = 0; cycle < 3000; ++cycle) {
    m4cxr_image* old_im = gray_image(8, 8, static_cast<uint8_t>(cycle));
    m4cxr_image_free(old_im);
    m4cxr_image* new_im = gray_image(9, 7, static_cast<uint8_t>(cycle + 1));
    CHECK(seen_images.insert(reinterpret_cast<uintptr_t>(old_im)).second);  // a handle value is never handed out twice
    int w = 0, h = 0;
    REQUIRE(m4cxr_image_get_size(old_im, &w, &h) == M4CXR_ERR_INVALID_HANDLE);
    REQUIRE(m4cxr_image_hash(old_im) == nullptr);
    REQUIRE(m4cxr_image_get_size(new_im, &w, &h) == M4CXR_OK);
    CHECK(w == 9);
    // A freed image passed to a task is refused as a handle, never taken for the new image.
    m4cxr_task* t = nullptr;
    m4cxr_generation_options g = greedy(1);
    REQUIRE(m4cxr_vqa(s, old_im, "Is there edema?", &g, &t) == M4CXR_ERR_INVALID_HANDLE);
    m4cxr_image_free(old_im);  // double free: ignored
    REQUIRE(m4cxr_image_get_size(new_im, &w, &h) == M4CXR_OK);
    m4cxr_image_free(new_im);
  }
  // Tasks and sessions: a stale task never drives the session's newer task.
  m4cxr_image* im = gray_image(16, 16, 3);
  for (int cycle = 0; cycle < 1000; ++cycle) {
    m4cxr_generation_options g = greedy(1);
    m4cxr_task* old_task = nullptr;
    REQUIRE(m4cxr_vqa(s, im, "Is there edema?", &g, &old_task) == M4CXR_OK);
    m4cxr_task_free(old_task);  // unfinished: cancelled, the session is free again
    m4cxr_task* new_task = nullptr;
    REQUIRE_MESSAGE(m4cxr_vqa(s, im, "Is there edema?", &g, &new_task) == M4CXR_OK, m4cxr_last_error());
    const char* p;
    size_t n;
    REQUIRE(m4cxr_task_next(old_task, &p, &n, nullptr) == M4CXR_ERR_INVALID_HANDLE);
    REQUIRE(m4cxr_task_cancel(old_task) == M4CXR_ERR_INVALID_HANDLE);
    m4cxr_result* r = nullptr;
    REQUIRE(m4cxr_task_result(old_task, &r) == M4CXR_ERR_INVALID_HANDLE);
    m4cxr_task_free(new_task);
    m4cxr_session* old_s = new_session();
    m4cxr_session_free(old_s);
    m4cxr_session* new_s = new_session();
    REQUIRE(m4cxr_session_reset(old_s) == M4CXR_ERR_INVALID_HANDLE);
    REQUIRE(m4cxr_session_reset(new_s) == M4CXR_OK);
    m4cxr_session_free(new_s);
  }
  // Wrong kinds and values that never came from the library.
  m4cxr_session* as_session = reinterpret_cast<m4cxr_session*>(im);
  CHECK(m4cxr_session_reset(as_session) == M4CXR_ERR_INVALID_HANDLE);
  // A session handle where an image belongs: a handle error too (the status enum's promise).
  m4cxr_task* wrong = nullptr;
  m4cxr_generation_options g1 = greedy(1);
  CHECK(m4cxr_vqa(s, reinterpret_cast<const m4cxr_image*>(s), "Is there edema?", &g1, &wrong) == M4CXR_ERR_INVALID_HANDLE);
  CHECK(std::string(m4cxr_last_error()).find("not an image handle") != std::string::npos);
  CHECK(m4cxr_vqa(s, nullptr, "Is there edema?", &g1, &wrong) == M4CXR_ERR_INVALID_ARGUMENT);
  for (uintptr_t junk : {uintptr_t{1}, uintptr_t{0xdeadbeef}, ~uintptr_t{0}, reinterpret_cast<uintptr_t>(&seen_images)}) {
    CHECK(m4cxr_session_reset(reinterpret_cast<m4cxr_session*>(junk)) == M4CXR_ERR_INVALID_HANDLE);
    CHECK(m4cxr_result_text(reinterpret_cast<m4cxr_result*>(junk)) == nullptr);
    m4cxr_result_free(reinterpret_cast<m4cxr_result*>(junk));  // ignored
  }
  m4cxr_image_free(im);
  m4cxr_session_free(s);
}

TEST_CASE("a free racing a running task on another thread is deferred, never a crash") {
  m4cxr_image* im = gray_image(64, 48, 5);
  for (int round = 0; round < 12; ++round) {
    const bool free_task = round % 2 == 1;  // free the task itself, or its session
    m4cxr_session* s = new_session();
    m4cxr_generation_options g = greedy(400);
    m4cxr_task* t = nullptr;
    REQUIRE(m4cxr_report(s, (const m4cxr_image* const*)&im, 1, &g, &t) == M4CXR_OK);
    std::atomic<int> pieces{0};
    std::atomic<int> run_status{-1};
    std::thread runner([&] {
      run_status = m4cxr_task_run(
          t, [](const char*, size_t, int, void* ud) { return (static_cast<std::atomic<int>*>(ud)->fetch_add(1), 0); },
          &pieces);
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (pieces.load() < 1 + round % 3 && std::chrono::steady_clock::now() < deadline && run_status.load() < 0)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    if (free_task) m4cxr_task_free(t);
    else m4cxr_session_free(s);
    runner.join();
    // The running call finished its step and then saw the freed handle (or the stop).
    CHECK((run_status == M4CXR_ERR_INVALID_HANDLE || run_status == M4CXR_OK));
    if (free_task) {
      // The session is consistent and usable: the abandoned task was stopped and drained.
      m4cxr_generation_options g2 = greedy(2);
      m4cxr_task* t2 = nullptr;
      REQUIRE_MESSAGE(m4cxr_report(s, (const m4cxr_image* const*)&im, 1, &g2, &t2) == M4CXR_OK, m4cxr_last_error());
      Run r;
      drive(t2, r);
      CHECK(r.json["turns"].size() == 2);
      m4cxr_session_free(s);
    } else {
      const char* p;
      size_t n;
      CHECK(m4cxr_task_next(t, &p, &n, nullptr) == M4CXR_ERR_INVALID_HANDLE);
      m4cxr_task_free(t);
    }
  }
  m4cxr_image_free(im);
}

TEST_CASE("a new study never sees the previous one; continuing is explicit") {
  m4cxr_image* a = image("rgb_150x200.jpg");
  m4cxr_image* b = gray_image(120, 90, 9);
  const m4cxr_generation_options g = greedy(3);

  m4cxr_session* fresh = new_session();
  const json b_alone = report(fresh, b, g);
  m4cxr_session_free(fresh);

  m4cxr_session* s = new_session();
  const json first = report(s, a, g);
  const json second = report(s, b, g);
  CHECK(prompt_ids(second) == prompt_ids(b_alone));
  CHECK(second["turns"][0]["user"] == b_alone["turns"][0]["user"]);
  // Twenty studies in a loop: the prompt never grows.
  for (int i = 0; i < 20; ++i) {
    m4cxr_image* im = gray_image(50 + i, 60, static_cast<uint8_t>(i));
    const json r = report(s, im, g);
    CHECK(r["turns"][0]["prompt_ids"].size() == b_alone["turns"][0]["prompt_ids"].size());
    m4cxr_image_free(im);
  }

  SUBCASE("continue_conversation keeps the previous study's conversation") {
    m4cxr_session* c = new_session();
    const json r1 = report(c, a, g);
    m4cxr_generation_options cont = g;
    cont.continue_conversation = 1;
    m4cxr_task* t = nullptr;
    REQUIRE(m4cxr_ground_phrase(c, a, "Small left apical pneumothorax", &cont, &t) == M4CXR_OK);
    Run r;
    drive(t, r);
    const auto before = prompt_ids(r1, 1);
    const auto now = prompt_ids(r.json);
    REQUIRE(now.size() > before.size());
    CHECK(std::equal(before.begin(), before.end(), now.begin()));
    // The image is already shown: the bare question follows.
    CHECK(r.json["turns"][0]["user"] ==
          "Provide the bounding box coordinate of the region this phrase describes: Small left apical pneumothorax");
    m4cxr_session_free(c);
  }
  SUBCASE("chat always continues") {
    m4cxr_session* c = new_session();
    const json r1 = report(c, a, g);
    m4cxr_task* t = nullptr;
    REQUIRE(m4cxr_chat(c, "Explain the description with easy language.", nullptr, 0, &g, &t) == M4CXR_OK);
    Run r;
    drive(t, r);
    const auto before = prompt_ids(r1, 1);
    const auto now = prompt_ids(r.json);
    REQUIRE(now.size() > before.size());
    CHECK(std::equal(before.begin(), before.end(), now.begin()));
    m4cxr_session_free(c);
  }
  m4cxr_session_free(s);
  m4cxr_image_free(a);
  m4cxr_image_free(b);
}

// The exact upstream ids of restored turns are checked with the real tokenizer in
// tests/text/test_complete_turn.cpp; here: the C call's wiring on the tiny model.
TEST_CASE("append_turn restores earlier turns; the next turn continues after them") {
  m4cxr_image* im = image("rgb_150x200.jpg");
  const m4cxr_generation_options g = greedy(1);
  const std::string q1 = "Which of the following findings are present in the radiology image? Findings: edema";
  // The first user message alone, as a fresh chat would send it.
  m4cxr_session* ref = new_session();
  m4cxr_task* t = nullptr;
  REQUIRE(m4cxr_chat(ref, q1.c_str(), (const m4cxr_image* const*)&im, 1, &g, &t) == M4CXR_OK);
  Run first;
  drive(t, first);
  // A question asked after any earlier turn is encoded the same way (its own segment).
  const char* q2 = "Based on the previous conversation, provide a description of the findings in the radiology image.";
  REQUIRE(m4cxr_chat(ref, q2, nullptr, 0, &g, &t) == M4CXR_OK);
  Run second;
  drive(t, second);
  const auto p1 = prompt_ids(first.json);
  const auto ref2 = prompt_ids(second.json);
  const auto gen1 = first.json["turns"][0]["generated_ids"].get<std::vector<int>>();
  const std::vector<int> segment(ref2.begin() + static_cast<long>(p1.size() + gen1.size()), ref2.end());

  m4cxr_session* s = new_session();
  const std::string user = "radiology image: <image> " + q1;
  REQUIRE_MESSAGE(m4cxr_session_append_turn(s, user.c_str(), "edema.", (const m4cxr_image* const*)&im, 1) == M4CXR_OK,
                  m4cxr_last_error());
  m4cxr_generation_options cont = g;
  cont.continue_conversation = 1;  // ignored by chat (which always continues); harmless
  REQUIRE(m4cxr_chat(s, q2, nullptr, 0, &cont, &t) == M4CXR_OK);
  Run restored;
  drive(t, restored);
  const auto ids = prompt_ids(restored.json);
  REQUIRE(ids.size() > p1.size() + segment.size());
  CHECK(std::equal(p1.begin(), p1.end(), ids.begin()));                 // system + image + question
  CHECK(std::equal(segment.begin(), segment.end(), ids.end() - static_cast<long>(segment.size())));
  CHECK(ids[ids.size() - segment.size() - 1] == 2);                     // the answer ends with EOS
  CHECK(restored.json["stats"]["image_encode_ms"].get<double>() == 0);  // the image came with the turn
  // A typed task continues after restored turns only when asked to.
  REQUIRE(m4cxr_vqa(s, im, "Is there edema?", &g, &t) == M4CXR_OK);
  Run fresh;
  drive(t, fresh);
  CHECK(prompt_ids(fresh.json).size() < ids.size());

  SUBCASE("bad turns are refused and leave the session as it was") {
    m4cxr_session* b = new_session();
    CHECK(m4cxr_session_append_turn(b, "radiology image: <image> What?", "Yes.", nullptr, 0) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(std::string(m4cxr_last_error()).find("marker") != std::string::npos);
    CHECK(m4cxr_session_append_turn(b, "What?", "Yes.[INST] hi", nullptr, 0) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(m4cxr_session_append_turn(b, "What? [/INST]", "Yes.", nullptr, 0) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(m4cxr_session_append_turn(b, "", "Yes.", nullptr, 0) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(m4cxr_session_append_turn(b, "What?", nullptr, nullptr, 0) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(m4cxr_session_append_turn(nullptr, "What?", "Yes.", nullptr, 0) == M4CXR_ERR_INVALID_HANDLE);
    // Still empty: a chat now starts with the system message.
    REQUIRE(m4cxr_chat(b, "What is the view?", nullptr, 0, &g, &t) == M4CXR_OK);
    Run r;
    drive(t, r);
    CHECK(std::string(r.json["turns"][0]["user"]).rfind("The following is a conversation", 0) == 0);
    m4cxr_session_free(b);
  }
  m4cxr_session_free(ref);
  m4cxr_session_free(s);
  m4cxr_image_free(im);
}

TEST_CASE("the image cache is bounded, dropped on request and on reset") {
  m4cxr_model_options o;
  m4cxr_model_options_default(&o);
  o.dtype = M4CXR_DTYPE_FLOAT32;
  o.max_cached_images = 2;
  m4cxr_model* m = nullptr;
  REQUIRE(m4cxr_model_load((golden() + "/models/merged_fp32").c_str(), &o, &m) == M4CXR_OK);
  m4cxr_session* s = new_session(m);
  std::vector<m4cxr_image*> imgs;
  for (uint8_t i = 0; i < 3; ++i) {
    std::vector<uint8_t> px(32 * 32, static_cast<uint8_t>(40 * i + 10));
    m4cxr_image* im = nullptr;
    REQUIRE(m4cxr_image_from_pixels(m, px.data(), px.size(), 32, 32, 32, M4CXR_PIXELS_GRAY8, &im) == M4CXR_OK);
    imgs.push_back(im);
  }
  auto encode_ms = [&](m4cxr_image* im) {
    m4cxr_generation_options g = greedy(1);
    m4cxr_task* t = nullptr;
    REQUIRE(m4cxr_vqa(s, im, "Is there edema?", &g, &t) == M4CXR_OK);
    Run r;
    drive(t, r);
    return r.json["stats"]["image_encode_ms"].get<double>();
  };
  for (auto* im : imgs) CHECK(encode_ms(im) > 0);  // three new images
  CHECK(encode_ms(imgs[2]) == 0);                  // cached
  CHECK(encode_ms(imgs[1]) == 0);                  // cached
  CHECK(encode_ms(imgs[0]) > 0);                   // evicted: the bound is 2
  REQUIRE(m4cxr_session_clear_image_cache(s) == M4CXR_OK);
  CHECK(encode_ms(imgs[0]) > 0);
  CHECK(encode_ms(imgs[0]) == 0);
  REQUIRE(m4cxr_session_reset(s) == M4CXR_OK);
  CHECK(encode_ms(imgs[0]) > 0);
  for (auto* im : imgs) m4cxr_image_free(im);
  m4cxr_session_free(s);
  m4cxr_model_free(m);

  // 0 keeps nothing between tasks; a negative bound is refused.
  o.max_cached_images = 0;
  REQUIRE(m4cxr_model_load((golden() + "/models/merged_fp32").c_str(), &o, &m) == M4CXR_OK);
  s = new_session(m);
  std::vector<uint8_t> px(32 * 32, 77);
  m4cxr_image* im = nullptr;
  REQUIRE(m4cxr_image_from_pixels(m, px.data(), px.size(), 32, 32, 32, M4CXR_PIXELS_GRAY8, &im) == M4CXR_OK);
  CHECK(encode_ms(im) > 0);
  CHECK(encode_ms(im) > 0);
  m4cxr_image_free(im);
  m4cxr_session_free(s);
  m4cxr_model_free(m);
  o.max_cached_images = -1;
  m4cxr_model* bad = nullptr;
  CHECK(m4cxr_model_load((golden() + "/models/merged_fp32").c_str(), &o, &bad) == M4CXR_ERR_INVALID_ARGUMENT);
}

TEST_CASE("m4cxr_task_start runs every task of the built-in table; typed calls are the same tasks") {
  const json table = json::parse(m4cxr_task_table_json());
  REQUIRE(table["tasks"].size() >= 13);
  m4cxr_image* a = image("rgb_150x200.jpg");
  m4cxr_image* b = gray_image(80, 60, 2);
  const m4cxr_generation_options g = greedy(1);
  std::set<std::string> names;
  for (const auto& task : table["tasks"]) {
    const std::string name = task["name"];
    CAPTURE(name);
    names.insert(name);
    m4cxr_task_args* args = nullptr;
    REQUIRE(m4cxr_task_args_create(&args) == M4CXR_OK);
    for (const auto& arg : task["args"]) {
      const std::string an = arg["name"], type = arg["type"];
      if (arg.contains("default")) continue;  // defaults come from the table
      if (type == "image") REQUIRE(m4cxr_task_args_add_image(args, an.c_str(), an == "reference" ? b : a) == M4CXR_OK);
      else if (type == "images") REQUIRE(m4cxr_task_args_add_image(args, an.c_str(), a) == M4CXR_OK);
      else if (type == "text" || type == "texts") REQUIRE(m4cxr_task_args_add_text(args, an.c_str(), "edema") == M4CXR_OK);
      else if (type == "choice") REQUIRE(m4cxr_task_args_add_text(args, an.c_str(), arg["choices"][0].get<std::string>().c_str()) == M4CXR_OK);
      else if (type == "boxes") {
        const double box[4] = {30, 40, 120, 160};
        REQUIRE(m4cxr_task_args_add_box(args, an.c_str(), box) == M4CXR_OK);
      }
    }
    m4cxr_session* s = new_session();
    m4cxr_task* t = nullptr;
    REQUIRE_MESSAGE(m4cxr_task_start(s, name.c_str(), args, &g, &t) == M4CXR_OK, m4cxr_last_error());
    Run r;
    drive(t, r);
    CHECK(r.json["task"] == name);
    m4cxr_task_args_free(args);
    m4cxr_session_free(s);
  }
  for (const char* n : {"report", "report_followup", "classify", "ground_finding", "ground_findings",
                        "detect_abnormalities", "ground_organ", "ground_phrase", "ground_region", "identify_region",
                        "vqa", "difference_vqa", "chat"})
    CHECK(names.count(n) == 1);

  SUBCASE("the generic call and the typed call build the same prompt") {
    m4cxr_session* s = new_session();
    m4cxr_task_args* args = nullptr;
    REQUIRE(m4cxr_task_args_create(&args) == M4CXR_OK);
    REQUIRE(m4cxr_task_args_add_image(args, "image", a) == M4CXR_OK);
    const double box[4] = {30, 40, 120, 160};
    REQUIRE(m4cxr_task_args_add_box(args, "boxes", box) == M4CXR_OK);
    REQUIRE(m4cxr_task_args_add_text(args, "what", "organ") == M4CXR_OK);
    m4cxr_task* t = nullptr;
    REQUIRE(m4cxr_task_start(s, "identify_region", args, &g, &t) == M4CXR_OK);
    Run generic;
    drive(t, generic);
    REQUIRE(m4cxr_identify_region(s, a, M4CXR_NAME_ORGAN, box, 1, &g, &t) == M4CXR_OK);
    Run typed;
    drive(t, typed);
    CHECK(generic.json["turns"][0]["prompt_ids"] == typed.json["turns"][0]["prompt_ids"]);
    CHECK(std::string(typed.json["turns"][0]["user"]).find("[20,10,80,90]") != std::string::npos);
    m4cxr_task_args_free(args);
    m4cxr_session_free(s);
  }
  SUBCASE("plural wording for a one-image report equals upstream's multi-image prompt") {
    m4cxr_session* s = new_session();
    m4cxr_task_args* args = nullptr;
    REQUIRE(m4cxr_task_args_create(&args) == M4CXR_OK);
    REQUIRE(m4cxr_task_args_add_image(args, "images", a) == M4CXR_OK);
    REQUIRE(m4cxr_task_args_set_flag(args, "plural_wording", 1) == M4CXR_OK);
    m4cxr_task* t = nullptr;
    REQUIRE(m4cxr_task_start(s, "report", args, &g, &t) == M4CXR_OK);
    Run r;
    drive(t, r);
    const std::string user = r.json["turns"][0]["user"];
    CHECK(user.find("radiology images: <image> Which of the following findings are present in the radiology images?") !=
          std::string::npos);
    m4cxr_task_args_free(args);
    m4cxr_session_free(s);
  }
  SUBCASE("argument errors name the task and the argument") {
    m4cxr_session* s = new_session();
    m4cxr_task_args* args = nullptr;
    REQUIRE(m4cxr_task_args_create(&args) == M4CXR_OK);
    m4cxr_task* t = nullptr;
    CHECK(m4cxr_task_start(s, "no_such_task", args, &g, &t) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(m4cxr_task_start(s, "vqa", args, &g, &t) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(std::string(m4cxr_last_error()).find("vqa: image is required") != std::string::npos);
    REQUIRE(m4cxr_task_args_add_image(args, "image", a) == M4CXR_OK);
    REQUIRE(m4cxr_task_args_add_text(args, "question", "Is there edema?") == M4CXR_OK);
    REQUIRE(m4cxr_task_args_add_text(args, "colour", "red") == M4CXR_OK);
    CHECK(m4cxr_task_start(s, "vqa", args, &g, &t) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(std::string(m4cxr_last_error()).find("colour is not an argument") != std::string::npos);
    CHECK(m4cxr_task_args_add_image(args, "question", a) == M4CXR_ERR_INVALID_ARGUMENT);  // another kind
    m4cxr_task_args* wrong = nullptr;
    REQUIRE(m4cxr_task_args_create(&wrong) == M4CXR_OK);
    REQUIRE(m4cxr_task_args_add_text(wrong, "image", "chest.png") == M4CXR_OK);
    REQUIRE(m4cxr_task_args_add_text(wrong, "question", "Is there edema?") == M4CXR_OK);
    CHECK(m4cxr_task_start(s, "vqa", wrong, &g, &t) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(std::string(m4cxr_last_error()).find("takes image(s)") != std::string::npos);
    m4cxr_task_args* what = nullptr;
    REQUIRE(m4cxr_task_args_create(&what) == M4CXR_OK);
    REQUIRE(m4cxr_task_args_add_image(what, "image", a) == M4CXR_OK);
    REQUIRE(m4cxr_task_args_add_text(what, "what", "colour") == M4CXR_OK);
    const double box[4] = {1, 2, 3, 4};
    REQUIRE(m4cxr_task_args_add_box(what, "boxes", box) == M4CXR_OK);
    CHECK(m4cxr_task_start(s, "identify_region", what, &g, &t) == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(std::string(m4cxr_last_error()).find("must be one of finding, organ, region, phrase") != std::string::npos);
    CHECK(t == nullptr);
    m4cxr_task_args_free(args);
    m4cxr_task_args_free(wrong);
    m4cxr_task_args_free(what);
    m4cxr_session_free(s);
  }
  m4cxr_image_free(a);
  m4cxr_image_free(b);
}

TEST_CASE("initialisers never write past the caller's struct") {
  // The header's *_default macros pass the caller's sizeof to *_init.
  unsigned char buf[sizeof(m4cxr_generation_options) + 32];
  std::memset(buf, 0xab, sizeof buf);
  REQUIRE(m4cxr_generation_options_init(reinterpret_cast<m4cxr_generation_options*>(buf), sizeof(generation_options_v1)) ==
          M4CXR_OK);
  for (size_t i = sizeof(generation_options_v1); i < sizeof buf; ++i) REQUIRE(buf[i] == 0xab);
  generation_options_v1 v1;
  std::memcpy(&v1, buf, sizeof v1);
  CHECK(v1.struct_size == sizeof v1);
  CHECK(v1.max_new_tokens == 500);
  CHECK(m4cxr_generation_options_init(reinterpret_cast<m4cxr_generation_options*>(buf),
                                      sizeof(m4cxr_generation_options) + 8) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(m4cxr_generation_options_init(nullptr, sizeof(m4cxr_generation_options)) == M4CXR_ERR_INVALID_ARGUMENT);
  m4cxr_generation_options now;
  m4cxr_generation_options_default(&now);
  CHECK(now.struct_size == sizeof now);
  CHECK(now.continue_conversation == 0);

  // Programs built against 0.1 call the exported functions: they write the 0.1 layout only.
  using legacy_fn = void (*)(void*);
  auto legacy_generation = reinterpret_cast<legacy_fn>(dlsym(RTLD_DEFAULT, "m4cxr_generation_options_default"));
  auto legacy_model = reinterpret_cast<legacy_fn>(dlsym(RTLD_DEFAULT, "m4cxr_model_options_default"));
  REQUIRE(reinterpret_cast<void*>(legacy_generation) != nullptr);
  REQUIRE(reinterpret_cast<void*>(legacy_model) != nullptr);
  std::memset(buf, 0xab, sizeof buf);
  legacy_generation(buf);
  for (size_t i = sizeof(generation_options_v1); i < sizeof buf; ++i) REQUIRE(buf[i] == 0xab);
  unsigned char mbuf[sizeof(m4cxr_model_options) + 32];
  std::memset(mbuf, 0xab, sizeof mbuf);
  legacy_model(mbuf);
  for (size_t i = sizeof(model_options_v1); i < sizeof mbuf; ++i) REQUIRE(mbuf[i] == 0xab);
  model_options_v1 mv1;
  std::memcpy(&mv1, mbuf, sizeof mv1);
  CHECK(mv1.struct_size == sizeof mv1);
  CHECK(std::string(mv1.device) == "cpu");
}

TEST_CASE("a cancelled task does not block the next one") {
  m4cxr_image* im = gray_image(32, 32, 4);
  m4cxr_session* s = new_session();
  const m4cxr_generation_options g = greedy(3);
  m4cxr_task* first = nullptr;
  REQUIRE(m4cxr_vqa(s, im, "Is there edema?", &g, &first) == M4CXR_OK);
  REQUIRE(m4cxr_task_cancel(first) == M4CXR_OK);
  m4cxr_task* second = nullptr;
  REQUIRE_MESSAGE(m4cxr_vqa(s, im, "Is there edema?", &g, &second) == M4CXR_OK, m4cxr_last_error());
  CHECK(finished_stats(first).cancelled == 1);  // finished as cancelled
  m4cxr_task_free(first);  // a finished, no longer current task: nothing happens to the session
  Run run;
  drive(second, run);
  CHECK(run.json["turns"].size() == 1);
  // A session-wide cancel of an undriven task: reset works afterwards too.
  REQUIRE(m4cxr_vqa(s, im, "Is there edema?", &g, &first) == M4CXR_OK);
  REQUIRE(m4cxr_session_cancel(s) == M4CXR_OK);
  CHECK(m4cxr_session_reset(s) == M4CXR_OK);
  // Without a cancel, an unfinished task still blocks, and the message says how to go on.
  m4cxr_task_free(first);
  REQUIRE(m4cxr_vqa(s, im, "Is there edema?", &g, &first) == M4CXR_OK);
  CHECK(m4cxr_vqa(s, im, "Is there edema?", &g, &second) == M4CXR_ERR_BUSY);
  CHECK(std::string(m4cxr_last_error()).find("cancel it") != std::string::npos);
  m4cxr_task_free(first);
  m4cxr_session_free(s);
  m4cxr_image_free(im);
}

TEST_CASE("reset refuses an unfinished task, and goes through once it is cancelled") {
  m4cxr_image* im = gray_image(32, 32, 6);
  m4cxr_session* s = new_session();
  const m4cxr_generation_options g = greedy(3);
  m4cxr_task* t = nullptr;
  REQUIRE(m4cxr_vqa(s, im, "Is there edema?", &g, &t) == M4CXR_OK);
  const char* p;
  size_t n;
  REQUIRE(m4cxr_task_next(t, &p, &n, nullptr) == M4CXR_OK);  // mid-answer
  CHECK(m4cxr_session_reset(s) == M4CXR_ERR_BUSY);
  REQUIRE(m4cxr_session_cancel(s) == M4CXR_OK);  // e.g. the task's owner is gone (a kept traceback)
  REQUIRE_MESSAGE(m4cxr_session_reset(s) == M4CXR_OK, m4cxr_last_error());
  CHECK(finished_stats(t).cancelled == 1);
  m4cxr_task_free(t);
  m4cxr_task* t2 = nullptr;
  REQUIRE(m4cxr_vqa(s, im, "Is there edema?", &g, &t2) == M4CXR_OK);
  Run run;
  drive(t2, run);
  m4cxr_session_free(s);
  m4cxr_image_free(im);
}
