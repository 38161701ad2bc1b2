#include "io/model_config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "io/mapped_file.h"

namespace m4cxr {

namespace {

using json = nlohmann::json;

struct Reader {
  const json& j;
  std::string where;  // "config.json: text_config"

  [[noreturn]] void bad(const std::string& field, const std::string& what) const {
    fail(Status::format_error, where + "." + field + ": " + what);
  }
  bool has(const char* f) const { return j.contains(f) && !j[f].is_null(); }
  int64_t integer(const char* f, int64_t lo, int64_t hi) const {
    if (!has(f)) bad(f, "missing");
    const json& v = j[f];
    if (!v.is_number_integer()) {
      // json writers sometimes store integral values as 4.0
      if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) {
        double d = v.get<double>();
        if (d < lo || d > hi) bad(f, "value out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return static_cast<int64_t>(d);
      }
      bad(f, "must be an integer");
    }
    int64_t x = v.get<int64_t>();
    if (x < lo || x > hi) bad(f, "value " + std::to_string(x) + " out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return x;
  }
  int64_t integer_or(const char* f, int64_t dflt, int64_t lo, int64_t hi) const {
    return has(f) ? integer(f, lo, hi) : dflt;
  }
  double number(const char* f) const {
    if (!has(f)) bad(f, "missing");
    if (!j[f].is_number()) bad(f, "must be a number");
    double d = j[f].get<double>();
    if (!std::isfinite(d)) bad(f, "must be finite");
    return d;
  }
  double number_or(const char* f, double dflt) const { return has(f) ? number(f) : dflt; }
  bool boolean_or(const char* f, bool dflt) const {
    if (!has(f)) return dflt;
    if (!j[f].is_boolean()) bad(f, "must be true or false");
    return j[f].get<bool>();
  }
  std::string string_or(const char* f, const std::string& dflt) const {
    if (!has(f)) return dflt;
    if (!j[f].is_string()) bad(f, "must be a string");
    return j[f].get<std::string>();
  }
};

const json& section(const json& root, const char* name, const std::string& label) {
  if (!root.contains(name) || !root[name].is_object())
    fail(Status::format_error, label + ": missing object '" + name + "'");
  return root[name];
}

json parse_json_file(const std::string& path) {
  std::string text = read_file_text(path, 16u << 20);
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) fail(Status::format_error, "'" + path + "' is not valid JSON");
  if (!j.is_object()) fail(Status::format_error, "'" + path + "' is not a JSON object");
  return j;
}

}  // namespace

double LoraConfig::scaling() const { return use_rslora ? lora_alpha / std::sqrt(double(r)) : lora_alpha / r; }

namespace {

VisionConfig parse_vision_config(const json& root, const std::string& label) {
  Reader r{section(root, "vision_config", label), label + ": vision_config"};
  std::string enc = r.string_or("encoder_type", "dinov2");
  if (enc != "dinov2") fail(Status::unsupported, r.where + ".encoder_type: '" + enc + "' (only dinov2 is implemented)");
  VisionConfig v;
  v.hidden_size = (int)r.integer("hidden_size", 1, 1 << 16);
  v.num_hidden_layers = (int)r.integer("num_hidden_layers", 1, 1024);
  v.num_attention_heads = (int)r.integer("num_attention_heads", 1, 1024);
  if (v.hidden_size % v.num_attention_heads != 0) r.bad("num_attention_heads", "does not divide hidden_size");
  double mlp_ratio = r.number_or("mlp_ratio", 4.0);
  if (mlp_ratio <= 0 || mlp_ratio > 64) r.bad("mlp_ratio", "out of range");
  v.intermediate_size = static_cast<int>(v.hidden_size * mlp_ratio);
  v.patch_size = (int)r.integer("patch_size", 1, 1024);
  v.image_size = (int)r.integer("image_size", 1, 1 << 14);
  if (v.image_size < v.patch_size) r.bad("image_size", "smaller than patch_size");
  v.num_channels = (int)r.integer_or("num_channels", 3, 3, 3);
  v.layer_norm_eps = r.number_or("layer_norm_eps", 1e-6);
  v.qkv_bias = r.boolean_or("qkv_bias", true);
  if (r.boolean_or("use_swiglu_ffn", false)) fail(Status::unsupported, r.where + ".use_swiglu_ffn: true is not supported by m4cxr");
  std::string act = r.string_or("hidden_act", "gelu");
  if (act != "gelu") fail(Status::unsupported, r.where + ".hidden_act: '" + act + "' (only exact gelu is implemented)");
  if (r.integer_or("num_register_tokens", 0, 0, 1024) != 0)
    fail(Status::unsupported, r.where + ".num_register_tokens: register tokens are not supported by m4cxr");
  return v;
}

// projector_config (or visual_projector_config); output_hidden_size stays 0 when absent.
ProjectorConfig parse_projector_config(const json& root, const std::string& label, const VisionConfig& vision) {
  const char* key = root.contains("projector_config") ? "projector_config" : "visual_projector_config";
  Reader r{section(root, key, label), label + ": " + key};
  std::string type = r.string_or("projector_type", "c-abs");
  if (type != "c-abs") fail(Status::unsupported, r.where + ".projector_type: '" + type + "' (only c-abs is implemented)");
  ProjectorConfig p;
  p.depth = (int)r.integer("depth", 1, 64);
  p.mlp_depth = (int)r.integer("mlp_depth", 1, 64);
  p.hidden_size = (int)r.integer("hidden_size", 1, 1 << 16);
  if (r.has("num_query_tokens")) {
    p.num_query_tokens = (int)r.integer("num_query_tokens", 1, 1 << 16);
  } else {
    Reader top{root, label};
    p.num_query_tokens = (int)top.integer("num_query_tokens", 1, 1 << 16);
  }
  int side = static_cast<int>(std::lround(std::sqrt(double(p.num_query_tokens))));
  if (side * side != p.num_query_tokens) r.bad("num_query_tokens", "must be a perfect square");
  if (r.integer_or("num_eos_tokens", 0, 0, 1 << 16) != 0)
    fail(Status::unsupported, r.where + ".num_eos_tokens: learnable eos tokens are not supported by m4cxr");
  if (r.boolean_or("prenorm", false)) fail(Status::unsupported, r.where + ".prenorm: true is not supported by m4cxr");
  p.pos_emb = r.boolean_or("pos_emb", true);
  p.feature_layer_index = (int)r.integer_or("feature_layer_index", -1, -1024, 1024);
  p.encoder_hidden_size = (int)r.integer_or("encoder_hidden_size", vision.hidden_size, 1, 1 << 16);
  if (p.encoder_hidden_size != vision.hidden_size)
    r.bad("encoder_hidden_size", "does not match vision_config.hidden_size");
  p.output_hidden_size = (int)r.integer_or("output_hidden_size", 0, 0, 1 << 16);
  int L = vision.num_hidden_layers;
  if (p.feature_layer_index < -(L + 1) || p.feature_layer_index > L)
    r.bad("feature_layer_index", "outside the vision encoder's hidden states");
  return p;
}

TextConfig parse_text_config(const json& root, const std::string& label) {
  Reader r{section(root, "text_config", label), label + ": text_config"};
  std::string mt = r.string_or("model_type", "mistral");
  if (mt != "mistral" && mt != "llama" && mt != "")
    fail(Status::unsupported, r.where + ".model_type: '" + mt + "' (only mistral is implemented)");
  std::string act = r.string_or("hidden_act", "silu");
  if (act != "silu") fail(Status::unsupported, r.where + ".hidden_act: '" + act + "' (only silu is implemented)");
  if (r.has("rope_scaling")) fail(Status::unsupported, r.where + ".rope_scaling is not supported by m4cxr");
  TextConfig t;
  t.vocab_size = (int)r.integer("vocab_size", 3, 1 << 22);
  t.hidden_size = (int)r.integer("hidden_size", 1, 1 << 17);
  t.intermediate_size = (int)r.integer("intermediate_size", 1, 1 << 18);
  t.num_hidden_layers = (int)r.integer("num_hidden_layers", 1, 1024);
  t.num_attention_heads = (int)r.integer("num_attention_heads", 1, 1024);
  t.num_key_value_heads = (int)r.integer_or("num_key_value_heads", t.num_attention_heads, 1, 1024);
  if (t.num_attention_heads % t.num_key_value_heads != 0)
    r.bad("num_key_value_heads", "does not divide num_attention_heads");
  if (t.hidden_size % t.num_attention_heads != 0) r.bad("num_attention_heads", "does not divide hidden_size");
  t.head_dim = (int)r.integer_or("head_dim", t.hidden_size / t.num_attention_heads, 2, 1 << 12);
  if (t.head_dim % 2 != 0) r.bad("head_dim", "must be even for rotary embeddings");
  t.rms_norm_eps = r.number_or("rms_norm_eps", 1e-5);
  t.rope_theta = r.number_or("rope_theta", 10000.0);
  if (t.rope_theta <= 0) r.bad("rope_theta", "must be positive");
  t.max_position_embeddings = r.integer_or("max_position_embeddings", 32768, 1, int64_t(1) << 30);
  t.sliding_window = r.integer_or("sliding_window", 0, 0, int64_t(1) << 30);
  t.tie_word_embeddings = r.boolean_or("tie_word_embeddings", false);
  t.bos_token_id = (int)r.integer_or("bos_token_id", 1, 0, t.vocab_size - 1);
  t.eos_token_id = (int)r.integer_or("eos_token_id", 2, 0, t.vocab_size - 1);
  return t;
}

}  // namespace

ModelConfig parse_model_config(const json& root, const std::string& label) {
  if (!root.is_object()) fail(Status::format_error, label + ": not a JSON object");
  ModelConfig c;
  c.torch_dtype = root.contains("torch_dtype") && root["torch_dtype"].is_string() ? root["torch_dtype"].get<std::string>() : "";
  c.vision = parse_vision_config(root, label);
  c.projector = parse_projector_config(root, label, c.vision);
  c.text = parse_text_config(root, label);
  if (c.projector.output_hidden_size == 0) c.projector.output_hidden_size = c.text.hidden_size;
  if (c.projector.output_hidden_size != c.text.hidden_size)
    fail(Status::format_error, label + ": projector_config.output_hidden_size (" + std::to_string(c.projector.output_hidden_size) +
                                   ") does not match text_config.hidden_size (" + std::to_string(c.text.hidden_size) + ")");
  return c;
}

ModelConfig load_model_config(const std::string& model_dir) {
  std::string path = join_path(model_dir, "config.json");
  if (!file_exists(path)) fail(Status::io_error, "no config.json in '" + model_dir + "'");
  return parse_model_config(parse_json_file(path), path);
}

LoraConfig parse_lora_config(const json& j, const std::string& label) {
  Reader r{j, label};
  std::string type = r.string_or("peft_type", "LORA");
  if (type != "LORA") fail(Status::unsupported, label + ".peft_type: '" + type + "' (only LORA adapters are supported)");
  if (r.boolean_or("use_dora", false)) fail(Status::unsupported, label + ".use_dora: DoRA adapters are not supported by m4cxr");
  for (const char* f : {"rank_pattern", "alpha_pattern"})
    if (r.has(f) && !(j[f].is_object() && j[f].empty()))
      fail(Status::unsupported, label + "." + f + ": per-module ranks/alphas are not supported by m4cxr");
  if (r.boolean_or("fan_in_fan_out", false)) fail(Status::unsupported, label + ".fan_in_fan_out: true is not supported by m4cxr");
  std::string bias = r.string_or("bias", "none");
  if (bias != "none") fail(Status::unsupported, label + ".bias: '" + bias + "' (only 'none')");
  LoraConfig c;
  c.r = (int)r.integer("r", 1, 1 << 16);
  c.lora_alpha = r.number("lora_alpha");
  c.use_rslora = r.boolean_or("use_rslora", false);
  if (r.has("target_modules")) {
    const json& t = j["target_modules"];
    if (t.is_string()) c.target_modules = t.get<std::string>();
    else if (t.is_array()) {
      for (const auto& e : t) {
        if (!e.is_string()) r.bad("target_modules", "entries must be strings");
        c.target_module_list.push_back(e.get<std::string>());
      }
    } else r.bad("target_modules", "must be a string or a list");
  }
  if (r.has("modules_to_save")) {
    if (!j["modules_to_save"].is_array()) r.bad("modules_to_save", "must be a list");
    for (const auto& e : j["modules_to_save"]) {
      if (!e.is_string()) r.bad("modules_to_save", "entries must be strings");
      c.modules_to_save.push_back(e.get<std::string>());
    }
  }
  return c;
}

LoraConfig load_lora_config(const std::string& adapter_dir) {
  std::string path = join_path(adapter_dir, "adapter_config.json");
  if (!file_exists(path)) fail(Status::io_error, "no adapter_config.json in '" + adapter_dir + "'");
  return parse_lora_config(parse_json_file(path), path);
}

}  // namespace m4cxr
