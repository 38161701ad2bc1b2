#include "engine/model.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <atomic>
#include <chrono>
#include <iomanip>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "engine/warm_up.h"
#include "io/mapped_file.h"
#include "model/cpu_features.h"
#include "model/device.h"
#include "model/fused_attention.h"
#include "model/linear_few_rows.h"

namespace m4cxr {

namespace {
std::atomic<int> g_intra_op_threads{0};  // of the latest load; 0 before any
}  // namespace

void apply_intra_op_threads() {
  const int n = g_intra_op_threads.load(std::memory_order_relaxed);
  if (n > 0 && at::get_num_threads() != n) at::set_num_threads(n);
}

std::shared_ptr<const Model> Model::load(const std::string& model_dir, const ModelOptions& options) {
  if (options.runtime.dtype != at::kFloat && options.runtime.dtype != at::kBFloat16 && options.runtime.dtype != at::kHalf)
    fail(Status::invalid_argument, "model dtype must be float32, bfloat16 or float16");
  if (options.threads < 0) fail(Status::invalid_argument, "threads must be >= 0");
  if (options.runtime.int8_weights && options.runtime.dtype != at::kBFloat16)
    fail(Status::invalid_argument, "int8 weights compute in bfloat16: set the dtype to bfloat16");
  if (options.runtime.int8_weights && !options.runtime.device.is_cpu())
    fail(Status::unsupported, "int8 weights are a CPU decoding path (quantized and multiplied on the host): on " +
                                  options.runtime.device.str() + " use bfloat16");
  check_device_available(options.runtime.device, options.runtime.device.str());
  if (!directory_exists(model_dir))
    fail(Status::io_error, file_exists(model_dir) ? "'" + model_dir + "' is a file; give the checkpoint folder that holds it"
                                                  : "model folder '" + model_dir + "' does not exist");
  const int threads = options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const auto t0 = std::chrono::steady_clock::now();
  const char* dtype = options.runtime.int8_weights           ? "int8 weights, bfloat16"
                      : options.runtime.dtype == at::kFloat ? "float32"
                      : options.runtime.dtype == at::kHalf  ? "float16"
                                                            : "bfloat16";
  log(LogLevel::info, "loading model '", model_dir, "' (", dtype, " on ", options.runtime.device.str(), ", ", threads,
      " intra-op thread(s)", options.threads > 0 ? "" : ": all cores", ")",
      options.adapter_dir.empty() ? "" : " with adapter '", options.adapter_dir, options.adapter_dir.empty() ? "" : "'");
  if (at::get_num_threads() != threads)
    log(LogLevel::debug, "libtorch intra-op threads ", at::get_num_threads(), " -> ", threads, " (process-wide)");
  g_intra_op_threads.store(threads, std::memory_order_relaxed);
  apply_intra_op_threads();
  c10::InferenceMode guard;

  std::shared_ptr<Model> m(new Model());
  m->dir_ = model_dir;
  m->runtime_ = options.runtime;
  // "cuda" names cuda:0, not whichever device the calling thread has current: tensors and
  // caches made later on other threads then land on the same GPU.
  if (m->runtime_.device.is_cuda() && !m->runtime_.device.has_index()) m->runtime_.device.set_index(0);
  m->config_ = load_model_config(model_dir);
  m->preprocess_ = load_preprocess_config(model_dir);
  if (!file_exists(join_path(model_dir, "preprocessor_config.json"))) {
    // No processor config: keep Rad-DINO's normalisation but size it to the encoder.
    log(LogLevel::info, "no preprocessor_config.json: Rad-DINO image normalisation, ", m->config_.vision.image_size,
        " px crop");
    m->preprocess_.shortest_edge = m->config_.vision.image_size;
    m->preprocess_.crop_height = m->preprocess_.crop_width = m->config_.vision.image_size;
  }
  if (m->preprocess_.crop_height != m->config_.vision.image_size || m->preprocess_.crop_width != m->config_.vision.image_size)
    fail(Status::model_error, "preprocessor crop size " + std::to_string(m->preprocess_.crop_width) + "x" +
                                  std::to_string(m->preprocess_.crop_height) + " does not match vision image_size " +
                                  std::to_string(m->config_.vision.image_size));
  const std::string tok = join_path(model_dir, "tokenizer.model");
  if (!file_exists(tok)) fail(Status::io_error, "no tokenizer.model in '" + model_dir + "'");
  m->tokenizer_ = Tokenizer::load(tok);
  if (m->tokenizer_->vocab_size() > m->config_.text.vocab_size)
    fail(Status::model_error, "tokenizer has " + std::to_string(m->tokenizer_->vocab_size()) +
                                  " pieces but the model's vocab_size is " + std::to_string(m->config_.text.vocab_size));

  WeightMap w = load_weights(model_dir, options.adapter_dir, m->config_, m->runtime_, &m->report_, options.progress);
  for (const auto& kv : w) m->weight_bytes_ += kv.second.numel() * kv.second.element_size();
  m->vision_ = std::make_unique<VisionEncoder>(m->config_.vision, w);
  m->abstractor_ = std::make_unique<Abstractor>(m->config_.projector, m->config_.vision.num_patches(), w);
  m->lm_ = std::make_unique<LanguageModel>(m->config_.text, w);
  w.clear();  // the networks hold what they use; a weight they drop is freed at once
  m->scheduler_ = std::make_unique<DecoderScheduler>(*m->lm_, m->runtime_.device);
  if (m->runtime_.int8_weights) {
    const auto tq = std::chrono::steady_clock::now();
    m->weight_bytes_ = static_cast<uint64_t>(static_cast<int64_t>(m->weight_bytes_) + m->lm_->quantize_int8_weights());
    log(LogLevel::info, "decoder projections and LM head quantized to int8 (per output channel) in ", std::fixed,
        std::setprecision(0), std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - tq).count(),
        " ms");
  }
  const LoadReport& r = m->report_;
  if (!r.unexpected.empty()) {
    std::string names;
    for (size_t i = 0; i < r.unexpected.size() && i < 3; ++i) names += (i ? ", " : "") + r.unexpected[i];
    log(LogLevel::warn, r.unexpected.size(), " checkpoint tensor(s) not used by the model (", names,
        r.unexpected.size() > 3 ? ", ..." : "", ")");
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::ostringstream lora;
  if (r.lora_pairs_merged > 0)
    lora << ", " << r.lora_pairs_merged << " LoRA pair(s) merged (scaling " << r.lora_scaling << ")";
  log(LogLevel::info, "model loaded in ", std::fixed, std::setprecision(0), ms, " ms: ", std::setprecision(1),
      static_cast<double>(m->weight_bytes_) / (1024.0 * 1024.0), " MiB of weights, ", m->config_.vision.num_hidden_layers,
      " vision + ", m->config_.text.num_hidden_layers, " text layers", lora.str());
  if (m->runtime_.device.is_cpu() && m->runtime_.dtype == at::kBFloat16) {
    const DecodeKernelChoice k = decode_kernel();
    const char* int8 = !m->runtime_.int8_weights ? ""
                       : !int8_vnni_enabled()     ? ", int8 widened to fp32"
                       : cpu_features().amx       ? ", int8 by AMX tiles (prefill too)"
                                                  : ", int8 by vnni";
    log(LogLevel::info, "decoding on the CPU through ", k.use_libtorch ? "libtorch" : linear_kernel_name(k.kernel), int8);
    const bool fused = fused_attention_enabled() && cpu_features().avx512_bf16;
    const char* fused_by = cpu_features().amx ? "fused (AMX tiles where the head width allows, else AVX512_BF16)"
                                              : "fused (AVX512_BF16)";
    log(LogLevel::info, "attention on the CPU ", fused ? fused_by : "through libtorch");
  }
  if (warm_up_needed(m->runtime_)) {
    const WarmUpReport wu = warm_up(m);
    log(LogLevel::info, "warmed up ", m->runtime_.device.str(), " in ", std::fixed, std::setprecision(0), wu.ms,
        " ms (CUDA context, cuBLAS, kernels: ", wu.images_encoded, " image, ", wu.prefilled_tokens, " prompt + ",
        wu.generated_tokens, " decoded tokens)");
  }
  return m;
}

at::Tensor Model::pixel_values(const std::vector<PreprocessedImage>& images) {
  std::vector<at::Tensor> ts;
  for (const auto& im : images) {
    at::Tensor t = at::from_blob(const_cast<float*>(im.chw.data()), {3, im.height, im.width}, at::kFloat);
    ts.push_back(t);
  }
  if (ts.empty()) return at::empty({0, 3, 0, 0}, at::kFloat);
  return at::stack(ts);  // copies: the result owns its memory
}

at::Tensor Model::encode_images(const at::Tensor& pixel_values, const TraceCallback& trace,
                                const CancelCheck& cancel) const {
  c10::InferenceMode guard;
  if (!pixel_values.defined() || pixel_values.dim() != 4)
    fail(Status::invalid_argument, "pixel_values must be a [N,3,H,W] tensor");
  if (pixel_values.size(0) == 0)
    return at::empty({0, num_visual_tokens(), config_.text.hidden_size},
                     at::TensorOptions().dtype(runtime_.dtype).device(runtime_.device));
  std::vector<at::Tensor> hidden;
  at::Tensor h = vision_->forward(pixel_values, config_.projector.feature_layer_index,
                                  trace ? collect_series(kVisionHiddenStates, &hidden) : TraceCallback(), cancel);
  at::Tensor feats = h.slice(1, 1);  // drop CLS
  if (trace) {
    trace(kVisionHiddenStates, at::stack(hidden, 1));
    trace("projector_input", feats);
  }
  return abstractor_->forward(feats, trace, cancel);
}

}  // namespace m4cxr

namespace m4cxr {

std::shared_ptr<const TokenTexts> Model::token_texts() const {
  std::call_once(token_texts_once_, [this] { token_texts_ = std::make_shared<const TokenTexts>(*tokenizer_); });
  return token_texts_;
}

}  // namespace m4cxr
