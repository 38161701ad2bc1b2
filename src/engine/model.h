// A loaded M4CXR model: config, tokenizer, preprocessing settings and the three
// networks (vision encoder, C-Abstractor, Mistral decoder) with their weights.
// Immutable after load: every const method may be called from many threads at once
// (sessions share one Model). Errors are m4cxr::Error.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/decoder_scheduler.h"
#include "image/preprocess.h"
#include "io/model_config.h"
#include "model/abstractor.h"
#include "model/language_model.h"
#include "model/runtime.h"
#include "model/trace.h"
#include "model/vision_encoder.h"
#include "model/weights.h"
#include "tasks/token_constraint.h"
#include "text/tokenizer.h"

namespace m4cxr {

struct ModelOptions {
  std::string adapter_dir;  // PEFT adapter folder applied on top of the checkpoint ("" = none)
  Runtime runtime;          // default: bf16 on CPU
  int threads = 0;          // intra-op threads; 0 = all cores (libtorch's default is 1 on Debian)
  LoadProgress progress;    // optional; return false to abort the load
};

// libtorch's intra-op thread count is a process-wide setting (Model::load sets it), but
// OpenMP keeps it per thread and libtorch reads it once per thread: a thread that
// computed before a later load would keep the earlier count. Applies the count of the
// latest load to the calling thread; called before computing (cheap when it agrees).
void apply_intra_op_threads();

class Model {
 public:
  // Loads `model_dir` (config.json, *.safetensors, tokenizer.model, optional
  // preprocessor_config.json). Throws Error.
  static std::shared_ptr<const Model> load(const std::string& model_dir, const ModelOptions& options = {});

  const std::string& directory() const noexcept { return dir_; }
  const ModelConfig& config() const noexcept { return config_; }
  const Runtime& runtime() const noexcept { return runtime_; }
  const Tokenizer& tokenizer() const noexcept { return *tokenizer_; }
  const PreprocessConfig& preprocess_config() const noexcept { return preprocess_; }
  const VisionEncoder& vision() const noexcept { return *vision_; }
  const Abstractor& abstractor() const noexcept { return *abstractor_; }
  const LanguageModel& language_model() const noexcept { return *lm_; }
  // Where every conversation's decoder passes go (batched across sessions); internally
  // synchronised, hence usable through a const Model.
  DecoderScheduler& decoder_scheduler() const noexcept { return *scheduler_; }
  const LoadReport& load_report() const noexcept { return report_; }
  int num_visual_tokens() const noexcept { return config_.num_visual_tokens(); }
  uint64_t weight_bytes() const noexcept { return weight_bytes_; }
  // What each token adds to a decoded answer (constrained decoding); computed on first
  // use (tens of milliseconds for 32000 pieces), then shared. Thread-safe.
  std::shared_ptr<const TokenTexts> token_texts() const;

  // Stacks preprocessed images into pixel_values [N,3,H,W] float32.
  static at::Tensor pixel_values(const std::vector<PreprocessedImage>& images);

  // pixel_values [N,3,H,W] -> visual tokens [N, Q, hidden] in the runtime dtype.
  // `trace` (optional, model/trace.h) receives vision_hidden_states [N, L+1, 1+P, D]
  // (the encoder's series, stacked), projector_input and every abstractor stage.
  at::Tensor encode_images(const at::Tensor& pixel_values, const TraceCallback& trace = {},
                           const CancelCheck& cancel = {}) const;

 private:
  Model() = default;
  std::string dir_;
  ModelConfig config_;
  Runtime runtime_;
  PreprocessConfig preprocess_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<VisionEncoder> vision_;
  std::unique_ptr<Abstractor> abstractor_;
  std::unique_ptr<LanguageModel> lm_;
  LoadReport report_;
  uint64_t weight_bytes_ = 0;
  mutable std::once_flag token_texts_once_;
  mutable std::shared_ptr<const TokenTexts> token_texts_;
  std::unique_ptr<DecoderScheduler> scheduler_;  // last: stops its worker before the networks go
};

}  // namespace m4cxr
