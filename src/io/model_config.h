// Typed view of an M4CXR checkpoint's config.json (HoneybeeConfig layout: vision_config,
// projector_config, text_config) and of a PEFT adapter_config.json. Every field the
// engine relies on is checked; a missing or invalid one raises Error(format_error)
// naming the file and the field; a valid but unimplemented variant raises
// Error(unsupported). Immutable plain data, safe to share between threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace m4cxr {

struct VisionConfig {  // HF Dinov2Config
  int hidden_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int intermediate_size = 0;  // hidden_size * mlp_ratio
  int patch_size = 0;
  int image_size = 0;
  int num_channels = 3;
  double layer_norm_eps = 1e-6;
  bool qkv_bias = true;
  int num_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
};

struct ProjectorConfig {  // Honeybee C-Abstractor ("c-abs")
  int depth = 0;               // Bottleneck blocks per RegStage
  int mlp_depth = 0;           // readout: Linear, then (SiLU, Linear) x (mlp_depth-1)
  int hidden_size = 0;
  int num_query_tokens = 0;    // a perfect square
  int encoder_hidden_size = 0;
  int output_hidden_size = 0;
  bool pos_emb = true;
  int feature_layer_index = -1;  // index into hidden_states (embeddings, block 1..L)
};

struct TextConfig {  // HF MistralConfig
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;
  double rms_norm_eps = 1e-5;
  double rope_theta = 1e6;
  int64_t max_position_embeddings = 32768;
  int64_t sliding_window = 0;  // 0 = none
  bool tie_word_embeddings = false;
  int bos_token_id = 1;
  int eos_token_id = 2;
};

struct ModelConfig {
  VisionConfig vision;
  ProjectorConfig projector;
  TextConfig text;
  std::string torch_dtype;  // as written in config.json ("float32", "bfloat16", ...)
  int num_visual_tokens() const { return projector.num_query_tokens; }
};

struct LoraConfig {  // PEFT adapter_config.json
  int r = 0;
  double lora_alpha = 0;
  bool use_rslora = false;
  std::string target_modules;  // regex (full match) or "" when given as a list
  std::vector<std::string> target_module_list;
  std::vector<std::string> modules_to_save;
  double scaling() const;  // alpha / r, or alpha / sqrt(r) with rslora
};

ModelConfig parse_model_config(const nlohmann::json& j, const std::string& label);
ModelConfig load_model_config(const std::string& model_dir);  // reads <dir>/config.json
LoraConfig parse_lora_config(const nlohmann::json& j, const std::string& label);
LoraConfig load_lora_config(const std::string& adapter_dir);  // reads adapter_config.json

}  // namespace m4cxr
