// Shared helpers of the text-stage tests: data locations and cached tokenizers.
// Golden data: $M4CXR_GOLDEN_DIR, default ${M4CXR_TEST_DATA}/golden.
// Real Mistral tokenizer: $M4CXR_MISTRAL_TOKENIZER, default
// ${M4CXR_TEST_DATA}/mistral-tokenizer/tokenizer.model (golden/prompts/cases.jsonl was
// produced with it).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>

#include "text/tokenizer.h"

namespace m4cxr_test {

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

inline std::string test_data_dir() { return M4CXR_TEST_DATA; }
inline std::string golden_dir() { return env_or("M4CXR_GOLDEN_DIR", test_data_dir() + "/golden"); }
inline std::string golden_path(const std::string& rel) { return golden_dir() + "/" + rel; }
inline std::string mistral_dir() { return test_data_dir() + "/mistral-tokenizer"; }
inline std::string mistral_model_path() {
  return env_or("M4CXR_MISTRAL_TOKENIZER", mistral_dir() + "/tokenizer.model");
}
inline std::string tiny_model_path() { return golden_path("models/merged_fp32/tokenizer.model"); }

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(f);
}

inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

inline const nlohmann::json& manifest() {
  static const nlohmann::json m = read_json(golden_path("manifest.json"));
  return m;
}

// Loaded once per process; Tokenizer is immutable and shareable.
inline const m4cxr::Tokenizer& mistral() {
  static const std::unique_ptr<m4cxr::Tokenizer> t = m4cxr::Tokenizer::load(mistral_model_path());
  return *t;
}
inline const m4cxr::Tokenizer& tiny() {
  static const std::unique_ptr<m4cxr::Tokenizer> t = m4cxr::Tokenizer::load(tiny_model_path());
  return *t;
}

// Independent oracle for Tokenizer::decode(): transformers' slow LlamaTokenizer steps
// (drop special ids, strip one "▁" from the first token) followed by the real
// libsentencepiece DecodePieces, as `sp_model.decode(tokens)` does upstream.
struct Oracle {
  sentencepiece::SentencePieceProcessor sp;
  explicit Oracle(const std::string& path) {
    if (!sp.Load(path).ok()) throw std::runtime_error("oracle cannot load " + path);
  }
  std::string hf_decode(const std::vector<int32_t>& ids) const {
    std::vector<std::string> tokens;
    for (int32_t id : ids)
      if (id != sp.unk_id() && id != sp.bos_id() && id != sp.eos_id()) tokens.push_back(sp.IdToPiece(id));
    if (tokens.empty()) return "";
    if (tokens[0].rfind("\xE2\x96\x81", 0) == 0) tokens[0].erase(0, 3);
    std::string out;
    if (!sp.Decode(tokens, &out).ok()) throw std::runtime_error("oracle decode failed");
    return out;
  }
};

inline std::vector<int32_t> to_ids(const nlohmann::json& j) { return j.get<std::vector<int32_t>>(); }

}  // namespace m4cxr_test
