// Shared helpers of the tasks-stage tests: golden data locations, json readers, the
// real Mistral tokenizer (loaded once), and small comparison helpers.
// Golden data: $M4CXR_GOLDEN_DIR, default ${M4CXR_TEST_DATA}/golden.
#pragma once

#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "image/box_geometry.h"
#include "text/tokenizer.h"

namespace m4cxr_tasks_test {

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

inline std::string golden_dir() {
  return env_or("M4CXR_GOLDEN_DIR", std::string(M4CXR_TEST_DATA) + "/golden");
}
inline std::string prompts_path(const std::string& file) { return golden_dir() + "/prompts/" + file; }

inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

inline const std::vector<nlohmann::json>& cases() {
  static const std::vector<nlohmann::json> c = read_jsonl(prompts_path("cases.jsonl"));
  return c;
}
inline const std::vector<nlohmann::json>& parsing_records() {
  static const std::vector<nlohmann::json> p = read_jsonl(prompts_path("parsing.jsonl"));
  return p;
}

// Real Mistral tokenizer ($M4CXR_MISTRAL_TOKENIZER overrides); cases.jsonl was made with it.
inline const m4cxr::Tokenizer& mistral() {
  static const std::unique_ptr<m4cxr::Tokenizer> t = m4cxr::Tokenizer::load(env_or(
      "M4CXR_MISTRAL_TOKENIZER", std::string(M4CXR_TEST_DATA) + "/mistral-tokenizer/tokenizer.model"));
  return *t;
}

inline m4cxr::Status status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const m4cxr::Error& e) {
    return e.status();
  }
  return m4cxr::Status::ok;
}

inline m4cxr::ModelBox box_of(const nlohmann::json& j) {
  return {j.at(0).get<int>(), j.at(1).get<int>(), j.at(2).get<int>(), j.at(3).get<int>()};
}
inline std::vector<m4cxr::ModelBox> boxes_of(const nlohmann::json& j) {
  std::vector<m4cxr::ModelBox> out;
  for (const auto& b : j) out.push_back(box_of(b));
  return out;
}
inline std::vector<int> as_vec(const m4cxr::ModelBox& b) { return {b.x1, b.y1, b.x2, b.y2}; }
inline std::vector<std::vector<int>> as_vecs(const std::vector<m4cxr::ModelBox>& bs) {
  std::vector<std::vector<int>> out;
  for (const auto& b : bs) out.push_back(as_vec(b));
  return out;
}

}  // namespace m4cxr_tasks_test
