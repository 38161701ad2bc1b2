// m4cxr_bench: load time, peak RSS, image encoding and decoder throughput at the real
// M4CXR dimensions (ViT-B/14 at 518 px, C-Abstractor to 361 tokens, Mistral-7B-shaped
// decoder layers), with random bf16 weights written to a temporary checkpoint and
// loaded through the normal loader. Usage: m4cxr_bench [--layers N] [--dtype bf16|fp32|int8]
//   [--prompt T] [--decode T] [--threads N] [--keep DIR] [--concurrent N] [--device cpu|cuda|cuda:N] [--cot T]
//   [--paired T]
// --paired T (CPU; default 150, 0 = skip): decode timed token by token against the read
// bandwidth of the same moment (paired_decode.h), T steps per model: bf16 from the mapped
// file against bf16 copied onto 2 MiB pages (M4CXR_LARGE_PAGES=all; skipped when a second
// copy of the weights would pass a third of the memory), or int8 against bf16.
// --concurrent N: instead of the single-session figures, decode throughput of 1, 2, 4 ... N
// concurrent sessions (bench_concurrent.h; the prompt is then at most 128 text tokens).
// --device cuda adds what issue 15's table asks of a GPU: the first image after load (the
// load warms up), further images, prefill and decode timed with device synchronisation, a
// chain-of-thought report of --cot T tokens per turn (default 128; 0 = skip), and the GPU
// memory of this process (nvidia-smi) against the weights plus the KV cache.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "bench_concurrent.h"
#include "compute_peak.h"
#include "paired_decode.h"
#include "read_bandwidth.h"
#include "engine/conversation.h"
#include "model/cpu_features.h"
#include "model/fused_attention.h"
#include "model/large_pages.h"
#include "model/linear_few_rows.h"
#include "engine/model.h"
#include "io/mapped_file.h"
#include "io/safetensors_writer.h"
#include "model/device.h"

#include <torch/cuda.h>
#include <unistd.h>

using namespace m4cxr;
using Clock = std::chrono::steady_clock;

namespace {

double since_ms(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

long peak_rss_kb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

nlohmann::json real_config(int layers) {
  nlohmann::json c;
  c["architectures"] = {"MllmForConditionalGeneration"};
  c["torch_dtype"] = "bfloat16";
  c["vision_config"] = {{"encoder_type", "dinov2"}, {"hidden_size", 768}, {"num_hidden_layers", 12},
                        {"num_attention_heads", 12}, {"mlp_ratio", 4}, {"patch_size", 14}, {"image_size", 518},
                        {"layer_norm_eps", 1e-6}, {"qkv_bias", true}, {"hidden_act", "gelu"}, {"use_swiglu_ffn", false}};
  c["projector_config"] = {{"projector_type", "c-abs"}, {"depth", 3}, {"mlp_depth", 2}, {"hidden_size", 1024},
                           {"num_query_tokens", 361}, {"num_eos_tokens", 0}, {"pos_emb", true},
                           {"feature_layer_index", -1}, {"prenorm", false}, {"encoder_hidden_size", 768},
                           {"output_hidden_size", 4096}};
  c["text_config"] = {{"model_type", "mistral"}, {"vocab_size", 32000}, {"hidden_size", 4096},
                      {"intermediate_size", 14336}, {"num_hidden_layers", layers}, {"num_attention_heads", 32},
                      {"num_key_value_heads", 8}, {"rms_norm_eps", 1e-5}, {"rope_theta", 1e6},
                      {"max_position_embeddings", 32768}, {"sliding_window", nullptr},
                      {"tie_word_embeddings", false}, {"hidden_act", "silu"}, {"bos_token_id", 1}, {"eos_token_id", 2}};
  return c;
}

// The decoder layers of a checkpoint this bench wrote (its config.json); -1 when unreadable.
int checkpoint_layers(const std::string& dir) {
  try {
    std::ifstream in(join_path(dir, "config.json"));
    const nlohmann::json c = nlohmann::json::parse(in);
    return c.at("text_config").at("num_hidden_layers").get<int>();
  } catch (const std::exception&) {
    return -1;
  }
}

void write_checkpoint(const std::string& dir, int layers) {
  ::mkdir(dir.c_str(), 0755);
  nlohmann::json cfg = real_config(layers);
  std::ofstream(join_path(dir, "config.json")) << cfg.dump(2);
  auto tok = read_file_bytes(std::string(M4CXR_SOURCE_DIR) + "/tests/data/mistral-tokenizer/tokenizer.model", 1 << 24);
  std::ofstream(join_path(dir, "tokenizer.model"), std::ios::binary).write(reinterpret_cast<const char*>(tok.data()), tok.size());
  ModelConfig mc = parse_model_config(cfg, "bench config");
  std::vector<at::Tensor> keep;
  std::vector<TensorToWrite> out;
  at::manual_seed(0);
  for (const auto& s : expected_tensors(mc)) {
    const bool is_scale = s.name.find("norm") != std::string::npos || s.name.find(".bn.") != std::string::npos ||
                          s.name.find("lambda1") != std::string::npos;
    at::Tensor t = is_scale ? at::ones(s.shape) : at::randn(s.shape) * 0.02;
    t = t.to(at::kBFloat16).contiguous();
    keep.push_back(t);
    out.push_back(TensorToWrite{s.name, DType::bf16, s.shape, t.data_ptr()});
  }
  write_safetensors(join_path(dir, "model.safetensors"), out);
}

long current_rss_kb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

// Waits for the device's queued work, so wall-clock timings include it (CUDA runs async).
void sync(const c10::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize(d.index());
}

// This process's GPU memory as nvidia-smi reports it (the CUDA context, the caching
// allocator's reserve and every tensor), in bytes; -1 when nvidia-smi cannot tell.
double gpu_memory_of_this_process() {
  FILE* p = ::popen("nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null", "r");
  if (p == nullptr) return -1;
  const long me = static_cast<long>(::getpid());
  double mib = -1;
  char line[256];
  while (std::fgets(line, sizeof line, p) != nullptr) {
    long pid = 0;
    double used = 0;
    if (std::sscanf(line, "%ld, %lf", &pid, &used) == 2 && pid == me) mib = used;
  }
  ::pclose(p);
  return mib < 0 ? -1 : mib * 1024 * 1024;
}

// Issue 15's chain-of-thought report: one image, then two turns of `tokens` generated
// tokens each (the second turn's prompt extends the first with its answer and a question,
// as the CoT tasks do), timed end to end from the pixels, device synchronised. Returns ms;
// *positions receives the KV cache's final length.
double cot_report_ms(const std::shared_ptr<const Model>& model, const at::Tensor& pixels, int tokens,
                     int64_t* positions) {
  sync(model->runtime().device);
  const auto t0 = Clock::now();
  const at::Tensor vis = model->encode_images(pixels);
  Conversation conv(model);
  conv.set_images(vis);
  std::vector<int32_t> ids{1};
  ids.insert(ids.end(), static_cast<size_t>(model->num_visual_tokens()), -1);
  for (int i = 0; i < 60; ++i) ids.push_back(1000 + i);  // the first turn's instruction
  GenerationOptions go;
  go.max_new_tokens = tokens;
  go.stop_on_eos = false;
  const std::vector<int32_t> first = conv.generate(ids, go);
  ids.insert(ids.end(), first.begin(), first.end());
  for (int i = 0; i < 40; ++i) ids.push_back(2000 + i);  // the second turn's question
  const std::vector<int32_t> second = conv.generate(ids, go);
  sync(model->runtime().device);
  *positions = static_cast<int64_t>(ids.size() + second.size());
  return since_ms(t0);
}

}  // namespace

int main(int argc, char** argv) {
  int layers = 2, prompt = 512, decode = 32, threads = 0, concurrent = 0, cot = 128, paired = 150;
  bool layers_given = false;
  std::string dtype = "bf16", dir, device = "cpu";
  const char* usage =
      "usage: m4cxr_bench [--layers N] [--dtype bf16|fp32|int8] [--prompt T] [--decode T] [--threads N]\n"
      "                   [--keep DIR] [--concurrent N] [--device cpu|cuda|cuda:N] [--cot T] [--paired T]\n";
  for (int i = 1; i < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf("%s", usage);
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "m4cxr_bench: %s needs a value\n%s", a.c_str(), usage);
      return 2;
    }
    if (a == "--layers") layers = std::atoi(argv[i + 1]), layers_given = true;
    else if (a == "--dtype") dtype = argv[i + 1];
    else if (a == "--prompt") prompt = std::atoi(argv[i + 1]);
    else if (a == "--decode") decode = std::atoi(argv[i + 1]);
    else if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--keep") dir = argv[i + 1];
    else if (a == "--concurrent") concurrent = std::atoi(argv[i + 1]);
    else if (a == "--device") device = argv[i + 1];
    else if (a == "--cot") cot = std::atoi(argv[i + 1]);
    else if (a == "--paired") paired = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "m4cxr_bench: unknown option %s\n%s", a.c_str(), usage);
      return 2;
    }
  }
  if (layers < 1) {
    std::fprintf(stderr, "m4cxr_bench: --layers must be at least 1\n");
    return 2;
  }
  try {
    const bool tmp = dir.empty();
    if (tmp) dir = "/tmp/m4cxr_bench_ckpt";
    // A folder written before: its own layer count, unless --layers asks for another (the
    // temporary folder is then written anew; a kept one is not overwritten).
    if (file_exists(join_path(dir, "model.safetensors"))) {
      const int have = checkpoint_layers(dir);
      if (!layers_given) layers = have;
      else if (have != layers && !tmp)
        throw std::runtime_error(dir + " holds a checkpoint of " + std::to_string(have) + " decoder layers, not " +
                                 std::to_string(layers) + " (--layers)");
    }
    if (!file_exists(join_path(dir, "model.safetensors")) || checkpoint_layers(dir) != layers) {
      auto t0 = Clock::now();
      write_checkpoint(dir, layers);
      std::printf("wrote random checkpoint (%d decoder layers) to %s in %.0f ms\n", layers, dir.c_str(), since_ms(t0));
    }
    ModelOptions o;
    if (dtype != "bf16" && dtype != "fp32" && dtype != "int8") throw std::runtime_error("--dtype must be bf16, fp32 or int8");
    o.runtime.dtype = dtype == "fp32" ? at::kFloat : at::kBFloat16;
    o.runtime.int8_weights = dtype == "int8";
    // Bytes per weight element the decoder reads per token (int8: plus one fp32 scale per row, ignored).
    const double elem = dtype == "fp32" ? 4 : dtype == "int8" ? 1 : 2;
    o.threads = threads;
    o.runtime.device = parse_device(device);
    const bool on_gpu = o.runtime.device.is_cuda();
    auto t0 = Clock::now();
    auto model = Model::load(dir, o);
    const double load_ms = since_ms(t0);
    const c10::Device dev = model->runtime().device;
    if (on_gpu) {
      // Issue 15's first row: the first image right after the load returned (which warmed up).
      const at::Tensor first_pixels = at::randn({1, 3, 518, 518});
      const auto tf = Clock::now();
      model->encode_images(first_pixels);
      sync(dev);
      std::printf("device %s: first image after load %.1f ms; host RSS after load %.2f GB (peak %.2f GB)\n",
                  dev.str().c_str(), since_ms(tf), current_rss_kb() / 1e6, peak_rss_kb() / 1e6);
    }
    const CpuFeatures& cpu = cpu_features();
    std::printf("CPU %s (avx2+fma %d, avx512 %d, avx512_bf16 %d, avx512_vnni %d, amx %d); decode kernel %s\n",
                cpu.model.c_str(), cpu.avx2_fma, cpu.avx512, cpu.avx512_bf16, cpu.avx512_vnni, cpu.amx,
                dtype == "fp32"   ? "at::linear (fp32)"
                : dtype == "bf16" ? linear_kernel_name(decode_kernel().kernel)
                : !int8_vnni_enabled() ? "int8 widened to fp32"
                : cpu.amx              ? "int8: AMX tiles (tdpbssd)"
                                       : "int8: VNNI (vpdpbusd)");
    std::printf("threads %d, dtype %s\n", at::get_num_threads(), dtype.c_str());
    std::printf("model load: %.0f ms, weights %.2f GB, peak RSS %.2f GB\n", load_ms, model->weight_bytes() / 1e9,
                peak_rss_kb() / 1e6);

    if (concurrent > 0) {
      run_concurrent_bench(model, concurrent, std::min(prompt, 128), decode);
      return 0;
    }
    c10::InferenceMode guard;
    at::Tensor pv = at::randn({1, 3, 518, 518});
    model->encode_images(pv);  // warm-up
    const int reps = 3;
    t0 = Clock::now();
    at::Tensor vis;
    for (int i = 0; i < reps; ++i) vis = model->encode_images(pv);
    sync(dev);
    std::printf("vision + projector: %.0f ms per image -> [%ld, %ld, %ld]\n", since_ms(t0) / reps, (long)vis.size(0),
                (long)vis.size(1), (long)vis.size(2));
    auto t1 = Clock::now();
    {
      t1 = Clock::now();
      at::Tensor h = model->vision().forward(pv, -1);
      sync(dev);
      const double v_ms = since_ms(t1);
      t1 = Clock::now();
      model->abstractor().forward(h.slice(1, 1));
      sync(dev);
      std::printf("  of which vision encoder %.0f ms, C-Abstractor %.0f ms\n", v_ms, since_ms(t1));
      if (!on_gpu && fused_attention_enabled() && cpu.avx512_bf16) {
        // The same encoder with libtorch's unfused attention, in the same minutes.
        set_fused_attention(false);
        const auto tu = Clock::now();
        model->vision().forward(pv, -1);
        const double unfused_ms = since_ms(tu);
        set_fused_attention(true);
        std::printf("  vision encoder with libtorch's unfused attention instead: %.0f ms (fused: %.2fx)\n", unfused_ms,
                    unfused_ms / v_ms);
      }
      if (!on_gpu) {
        // What the encoder's arithmetic alone needs at this CPU's measured peak.
        const VisionConfig& vc = model->config().vision;
        const double gflop =
            vit_flops(vc.image_size, vc.patch_size, vc.hidden_size, vc.intermediate_size, vc.num_hidden_layers) / 1e9;
        const char* instruction = "";
        double peak = dot_product_peak_gflops(at::get_num_threads(), &instruction);
        // With AMX the encoder's products are tile products (oneDNN's GEMMs, the fused
        // attention): their peak is the floor.
        if (const double amx = amx_peak_gflops(at::get_num_threads()); amx > peak) {
          peak = amx;
          instruction = "AMX tdpbf16ps";
        }
        if (peak > 0)
          std::printf("  vision encoder: %.0f GFLOP per image; dot-product peak of %d threads here (%s, measured) "
                      "%.0f GFLOP/s, so at least %.0f ms; measured %.0f ms = %.0f %% of that peak\n",
                      gflop, at::get_num_threads(), instruction, peak, 1000.0 * gflop / peak, v_ms,
                      100.0 * gflop / peak / (v_ms / 1000.0));
      }
    }


    Conversation conv(model);
    conv.set_images(vis);
    std::vector<int32_t> ids(static_cast<size_t>(prompt));
    // BOS, one image (361 placeholders), then text ids
    for (int i = 0; i < prompt; ++i) ids[static_cast<size_t>(i)] = i == 0 ? 1 : (i <= 361 ? -1 : 1000 + i % 20000);
    const double bw_before = read_bandwidth_gbs();
    GenerationStats st;
    GenerationOptions go;
    go.max_new_tokens = decode;
    go.stop_on_eos = false;
    conv.generate(ids, go, {}, &st);
    conv.reset();
    conv.set_images(vis);
    conv.generate(ids, go, {}, &st);  // second run: warm
    const auto& tc = model->config().text;
    const double layer_bytes = double(tc.hidden_size) * (2.0 * tc.num_attention_heads * tc.head_dim +
                                                         2.0 * tc.num_key_value_heads * tc.head_dim +
                                                         3.0 * tc.intermediate_size) * elem;
    const double token_bytes = layer_bytes * tc.num_hidden_layers + double(tc.vocab_size) * tc.hidden_size * elem;
    const double bf16_token_bytes = token_bytes / elem * 2;
    const double dec_tps = (st.generated_tokens - 1) / (st.decode_ms / 1000.0);
    std::printf("prefill: %ld tokens in %.0f ms = %.0f tokens/s (%d decoder layers)\n", (long)st.prefilled_tokens,
                st.prefill_ms, st.prefilled_tokens / (st.prefill_ms / 1000.0), tc.num_hidden_layers);
    std::printf("decode: %ld tokens, %.1f tokens/s, %.2f GB/s of weights read (%.0f MB per token)\n",
                (long)st.generated_tokens, dec_tps, dec_tps * token_bytes / 1e9, token_bytes / 1e6);
    const double layers32 = 32.0 / tc.num_hidden_layers;
    std::printf("extrapolated to 32 layers: prefill %.0f tokens/s, decode %.2f tokens/s\n",
                st.prefilled_tokens / (st.prefill_ms / 1000.0) / layers32,
                token_bytes / (layer_bytes * 32 + double(tc.vocab_size) * tc.hidden_size * elem) * dec_tps);
    // The same decode with libtorch's at::linear for the projections, in the same minutes.
    if (on_gpu) {
      // Prefill alone, timed to the end of the device's work (the stats stop at the host).
      Conversation pc(model);
      pc.set_images(vis);
      std::vector<double> ms;
      for (int r = 0; r < 3; ++r) {
        pc.reset();
        pc.set_images(vis);
        sync(dev);
        const auto tp = Clock::now();
        (void)pc.prefill(ids);
        sync(dev);
        ms.push_back(since_ms(tp));
      }
      std::sort(ms.begin(), ms.end());
      std::printf("prefill %zu tokens (device synchronised, median of 3): %.1f ms\n", ids.size(), ms[1]);
      std::printf("decode (device synchronised per token: the id reaches the host): %.1f tokens/s\n", dec_tps);
      if (cot > 0) {
        int64_t positions = 0;
        const double cot_ms = cot_report_ms(model, pv, cot, &positions);
        std::printf("CoT report, 1 image, 2 x %d tokens: %.0f ms (%ld KV positions)\n", cot, cot_ms, (long)positions);
        const double elem_act = dtype == "fp32" ? 4 : 2;
        const double kv_bytes = 2.0 * tc.num_hidden_layers * tc.num_key_value_heads * tc.head_dim * double(positions) * elem_act;
        const double gpu = gpu_memory_of_this_process();
        const double need = double(model->weight_bytes()) + kv_bytes;
        if (gpu > 0)
          std::printf("GPU memory of this process (nvidia-smi): %.2f GB; weights %.2f GB + KV cache %.3f GB = %.2f GB; "
                      "ratio %.3f (target <= 1.1)\n",
                      gpu / 1e9, model->weight_bytes() / 1e9, kv_bytes / 1e9, need / 1e9, gpu / need);
        else
          std::printf("GPU memory: nvidia-smi gave no figure for this process; weights %.2f GB + KV cache %.3f GB\n",
                      model->weight_bytes() / 1e9, kv_bytes / 1e9);
      }
    }
    double torch_tps = 0;
    if (dtype == "bf16" && !on_gpu) {
      const DecodeKernelChoice own = decode_kernel();
      DecodeKernelChoice torch = own;
      torch.use_libtorch = true;
      set_decode_kernel(torch);
      GenerationStats ts;
      conv.reset();
      conv.set_images(vis);
      conv.generate(ids, go, {}, &ts);
      set_decode_kernel(own);
      torch_tps = (ts.generated_tokens - 1) / (ts.decode_ms / 1000.0);
    }
    const double bw_after = read_bandwidth_gbs();
    const double bw = (bw_before + bw_after) / 2;
    std::printf("read bandwidth (median of 7 multi-threaded reads of 1 GiB): %.1f GB/s before decoding, %.1f GB/s after\n",
                bw_before, bw_after);
    std::printf("decode reads weights at %.0f %% of that bandwidth (their mean)\n", 100.0 * dec_tps * token_bytes / 1e9 / bw);
    if (torch_tps > 0)
      std::printf("decode with at::linear instead: %.1f tokens/s, %.0f %% of the bandwidth (own kernels: %.2fx)\n",
                  torch_tps, 100.0 * torch_tps * token_bytes / 1e9 / bw, dec_tps / torch_tps);
    std::printf("peak RSS: %.2f GB\n", peak_rss_kb() / 1e6);
    if (dtype == "bf16" && !on_gpu && paired > 0) {
      // The same weights copied onto 2 MiB pages, if a second copy fits comfortably.
      const double memory = double(::sysconf(_SC_PHYS_PAGES)) * double(::sysconf(_SC_PAGESIZE));
      if (double(model->weight_bytes()) > memory / 3) {
        std::printf("paired decode skipped: a second copy of %.1f GB of weights would pass a third of %.1f GB\n",
                    model->weight_bytes() / 1e9, memory / 1e9);
      } else {
        const LargePages before = large_pages_setting();
        set_large_pages(LargePages::all);
        const auto t_copy = Clock::now();
        auto copied = Model::load(dir, o);
        const double copy_ms = since_ms(t_copy);
        set_large_pages(before);
        std::printf("the same checkpoint loaded with M4CXR_LARGE_PAGES=all (weights copied onto 2 MiB pages): %.0f ms\n",
                    copy_ms);
        const char* first = before == LargePages::all ? "bf16, M4CXR_LARGE_PAGES=all" : "bf16, mapped file (default)";
        run_paired_decode({PairedModel{first, model, token_bytes},
                           PairedModel{"bf16, on 2 MiB pages (=all)", copied, token_bytes}},
                          vis, paired);
      }
    }
    if (dtype == "int8") {
      // int8 against bf16 on the same weights and prompt: relative L2 of the last
      // position's logits, and over 64 greedy bf16 tokens (teacher-forced into the int8
      // model) how often int8's best token is bf16's.
      ModelOptions bo = o;
      bo.runtime.int8_weights = false;
      auto bf16 = Model::load(dir, bo);
      {
        // Speed against bf16 on the same weights in the same minutes: rounds alternate
        // int8 and bf16 (prefill of the same prompt, then decode), medians of 5: the host's
        // bandwidth jumps between about 35 and 65 GB/s within seconds.
        auto tps = [&](const std::shared_ptr<const Model>& m, double* prefill) {
          Conversation c(m);
          c.set_images(vis);
          GenerationStats s;
          c.generate(ids, go, {}, &s);
          *prefill = s.prefilled_tokens / (s.prefill_ms / 1000.0);
          return (s.generated_tokens - 1) / (s.decode_ms / 1000.0);
        };
        double unused;
        tps(bf16, &unused);  // warm-up
        std::vector<double> dec8, dec16, pre8, pre16;
        constexpr int kRounds = 5;
        for (int r = 0; r < kRounds; ++r) {
          double p;
          dec8.push_back(tps(model, &p));
          pre8.push_back(p);
          dec16.push_back(tps(bf16, &p));
          pre16.push_back(p);
        }
        auto median = [](std::vector<double> v) {
          std::sort(v.begin(), v.end());
          return v[v.size() / 2];
        };
        const double d8 = median(dec8), d16 = median(dec16), p8 = median(pre8), p16 = median(pre16);
        std::printf("int8 against bf16 on the same weights, rounds alternating in this run (medians of %d): "
                    "decode %.1f vs %.1f tokens/s = %.2fx; prefill %.0f vs %.0f tokens/s = %+.1f %%\n",
                    kRounds, d8, d16, d8 / d16, p8, p16, 100.0 * (p8 / p16 - 1.0));
        std::printf("  decode ratio of each round:");
        for (int r = 0; r < kRounds; ++r) std::printf(" %.2f", dec8[static_cast<size_t>(r)] / dec16[static_cast<size_t>(r)]);
        std::printf("\n");
      }
      if (paired > 0)
        run_paired_decode({PairedModel{"int8 (bytes of int8 weights)", model, token_bytes},
                           PairedModel{"bf16, mapped file (default)", bf16, bf16_token_bytes}},
                          vis, paired);
      Conversation cb(bf16), ci(model);
      cb.set_images(vis);
      ci.set_images(vis);
      const at::Tensor lb = cb.prefill(ids).reshape({-1}), li = ci.prefill(ids).reshape({-1});
      const double rel_l2 = ((li - lb).norm() / lb.norm()).item<double>();
      cb.reset();
      cb.set_images(vis);
      GenerationOptions g64;
      g64.max_new_tokens = 64;
      g64.stop_on_eos = false;
      const std::vector<int32_t> ref = cb.generate(ids, g64);
      auto agreement = [&] {
        ci.reset();
        ci.set_images(vis);
        (void)ci.prefill(ids);
        std::vector<int32_t> seq = ids;
        int agree = 0;
        for (int32_t want : ref) {
          const at::Tensor l = ci.prefill(seq).reshape({-1});
          agree += l.argmax().item<int64_t>() == want;
          seq.push_back(want);
        }
        return agree;
      };
      std::printf("int8 vs bf16: relative L2 of the last prompt position's logits %.4f\n", rel_l2);
      std::printf("  greedy agreement over %zu bf16 tokens (teacher-forced): %d with int8 decoding as configured (%s)",
                  ref.size(), agreement(), int8_vnni_enabled() ? "vnni" : "widened");
      if (int8_vnni_enabled()) {
        set_int8_vnni(false);
        std::printf(", %d with int8 widened to fp32", agreement());
        set_int8_vnni(true);
      }
      std::printf("\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "m4cxr_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
