// Helpers for the C API tests: they use include/m4cxr/m4cxr.h only (plus doctest,
// nlohmann::json to read results and the golden manifest).
#pragma once

#include <doctest/doctest.h>
#include <m4cxr/m4cxr.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace capi_test {

inline std::string golden() {
  const char* env = std::getenv("M4CXR_GOLDEN_DIR");
  return (env && *env) ? std::string(env) : std::string(M4CXR_TEST_DATA) + "/golden";
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return nlohmann::json::parse(ss.str());
}

inline const nlohmann::json& manifest() {
  static nlohmann::json m = read_json(golden() + "/manifest.json");
  return m;
}

// The device of the suite's model: M4CXR_TEST_DEVICE ("cpu" when unset; scripts/cuda_check.sh
// sets "cuda"), as m4cxr_model_options.device spells it.
inline const char* test_device() {
  const char* env = std::getenv("M4CXR_TEST_DEVICE");
  return (env && *env) ? env : "cpu";
}

// One fp32 model for the whole suite (greedy outputs then equal the goldens).
inline m4cxr_model* model() {
  static m4cxr_model* m = [] {
    m4cxr_model_options o;
    m4cxr_model_options_default(&o);
    o.dtype = M4CXR_DTYPE_FLOAT32;
    o.device = test_device();
    // Sanitizer runs (scripts/sanitize.sh) ask for one intra-op thread.
    const char* threads = std::getenv("M4CXR_TEST_THREADS");
    o.threads = threads != nullptr && *threads != '\0' ? std::atoi(threads) : 2;
    m4cxr_model* p = nullptr;
    m4cxr_status st = m4cxr_model_load((golden() + "/models/merged_fp32").c_str(), &o, &p);
    REQUIRE_MESSAGE(st == M4CXR_OK, m4cxr_last_error());
    return p;
  }();
  return m;
}

inline m4cxr_image* image(const std::string& name) {
  m4cxr_image* im = nullptr;
  m4cxr_status st = m4cxr_image_from_file(model(), (golden() + "/images/" + name).c_str(), &im);
  REQUIRE_MESSAGE(st == M4CXR_OK, m4cxr_last_error());
  return im;
}

inline m4cxr_generation_options greedy(int max_new_tokens) {
  m4cxr_generation_options g;
  m4cxr_generation_options_default(&g);
  g.max_new_tokens = max_new_tokens;
  return g;
}

struct Run {
  std::vector<std::string> pieces;  // per turn, concatenated
  m4cxr_result* result = nullptr;
  nlohmann::json json;
  ~Run() { m4cxr_result_free(result); }
};

// Pull-drives a task to the end, collecting streamed pieces per turn.
inline void drive(m4cxr_task* task, Run& run) {
  const char* p;
  size_t n;
  int turn;
  m4cxr_status st;
  while ((st = m4cxr_task_next(task, &p, &n, &turn)) == M4CXR_OK) {
    if (static_cast<size_t>(turn) >= run.pieces.size()) run.pieces.resize(static_cast<size_t>(turn) + 1);
    run.pieces[static_cast<size_t>(turn)].append(p, n);
  }
  REQUIRE_MESSAGE(st == M4CXR_DONE, m4cxr_last_error());
  REQUIRE(m4cxr_task_result(task, &run.result) == M4CXR_OK);
  run.json = nlohmann::json::parse(m4cxr_result_json(run.result));
  m4cxr_task_free(task);
}

// The stats of a task that has finished (the next pull must say DONE); the task stays
// the caller's to free.
inline m4cxr_stats finished_stats(m4cxr_task* task) {
  const char* p;
  size_t n;
  CHECK(m4cxr_task_next(task, &p, &n, nullptr) == M4CXR_DONE);
  m4cxr_result* r = nullptr;
  REQUIRE(m4cxr_task_result(task, &r) == M4CXR_OK);
  m4cxr_stats st;
  st.struct_size = sizeof st;
  REQUIRE(m4cxr_result_get_stats(r, &st) == M4CXR_OK);
  m4cxr_result_free(r);
  return st;
}

inline std::vector<int32_t> npy_ids(const std::string& rel) {
  // int64 .npy written by numpy (format 1.0): skip the header, read little-endian int64.
  std::ifstream f(golden() + "/" + rel, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  REQUIRE(all.size() > 10);
  const size_t hlen = static_cast<unsigned char>(all[8]) | (static_cast<unsigned char>(all[9]) << 8);
  std::vector<int32_t> ids;
  for (size_t p = 10 + hlen; p + 8 <= all.size(); p += 8) {
    int64_t v;
    std::memcpy(&v, all.data() + p, 8);
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

}  // namespace capi_test
