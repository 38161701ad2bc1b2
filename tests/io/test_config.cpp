// config.json / adapter_config.json parsing: the golden configs load, and every missing
// or invalid field is named in the error.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "io/mapped_file.h"
#include "io/model_config.h"
#include "io/npy.h"

using namespace m4cxr;
using nlohmann::json;

namespace {
std::string golden() {
  const char* env = std::getenv("M4CXR_GOLDEN_DIR");
  return (env && *env) ? std::string(env) : std::string(M4CXR_TEST_DATA) + "/golden";
}
json golden_config() { return json::parse(read_file_text(golden() + "/models/merged_fp32/config.json")); }

std::string error_of(const json& j) {
  try {
    parse_model_config(j, "config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("config: the golden config.json loads with the manifest's dimensions") {
  ModelConfig c = load_model_config(golden() + "/models/merged_fp32");
  json dims = json::parse(read_file_text(golden() + "/manifest.json"))["dims"];
  CHECK(c.vision.hidden_size == dims["vision"]["hidden_size"].get<int>());
  CHECK(c.vision.num_hidden_layers == dims["vision"]["num_hidden_layers"].get<int>());
  CHECK(c.projector.depth == dims["projector"]["depth"].get<int>());
  CHECK(c.projector.hidden_size == dims["projector"]["hidden_size"].get<int>());
  CHECK(c.num_visual_tokens() == dims["num_visual_tokens_per_image"].get<int>());
  CHECK(c.text.hidden_size == dims["lm"]["hidden_size"].get<int>());
  CHECK(c.text.num_key_value_heads == dims["lm"]["num_key_value_heads"].get<int>());
  CHECK(c.text.rope_theta == doctest::Approx(dims["lm"]["rope_theta"].get<double>()));
  CHECK(c.text.sliding_window == 0);
  CHECK_FALSE(c.text.tie_word_embeddings);  // text_config wins over lm_config's default
  LoraConfig l = load_lora_config(golden() + "/models/adapter");
  CHECK(l.r == dims["lora"]["lora_r"].get<int>());
  CHECK(l.scaling() == doctest::Approx(dims["lora"]["lora_alpha"].get<double>() / dims["lora"]["lora_r"].get<double>()));
}

TEST_CASE("config: missing and invalid fields are named") {
  json j = golden_config();
  j["text_config"].erase("hidden_size");
  CHECK(error_of(j).find("text_config.hidden_size: missing") != std::string::npos);
  j = golden_config();
  j["vision_config"]["patch_size"] = "14";
  CHECK(error_of(j).find("vision_config.patch_size: must be an integer") != std::string::npos);
  j = golden_config();
  j["projector_config"]["num_query_tokens"] = 10;
  CHECK(error_of(j).find("perfect square") != std::string::npos);
  j = golden_config();
  j["text_config"]["num_key_value_heads"] = 3;
  CHECK(error_of(j).find("num_key_value_heads") != std::string::npos);
  j = golden_config();
  j.erase("vision_config");
  CHECK(error_of(j).find("missing object 'vision_config'") != std::string::npos);
  j = golden_config();
  j["text_config"]["vocab_size"] = -5;
  CHECK(error_of(j).find("out of range") != std::string::npos);
  j = golden_config();
  j["projector_config"]["projector_type"] = "resampler";
  try {
    parse_model_config(j, "config.json");
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.status() == Status::unsupported);
  }
  CHECK_THROWS_AS(load_model_config("/nonexistent"), Error);
  CHECK_THROWS_AS(parse_lora_config(json{{"r", 8}, {"lora_alpha", 16}, {"use_dora", true}}, "a"), Error);
  CHECK_THROWS_AS(parse_lora_config(json{{"lora_alpha", 16}}, "a"), Error);
}

TEST_CASE("npy: golden arrays read; corrupt ones are rejected") {
  NpyArray a = read_npy(golden() + "/merged_fp32/prompts/single.input_ids.npy");
  CHECK(a.descr == "<i8");
  CHECK(a.shape.size() == 1);
  CHECK(static_cast<int64_t>(a.as_int64().size()) == a.shape[0]);
  std::vector<uint8_t> junk = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 200, 0};
  CHECK_THROWS_AS(parse_npy(junk.data(), junk.size(), "junk"), Error);
  std::string tmp = "/tmp/m4cxr_npy_roundtrip.npy";
  float v[6] = {1, 2, 3, 4, 5, 6};
  write_npy(tmp, "<f4", {2, 3}, v, sizeof v);
  NpyArray b = read_npy(tmp);
  CHECK(b.shape == std::vector<int64_t>{2, 3});
  CHECK(b.as_float()[5] == 6.0f);
}
