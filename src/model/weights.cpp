#include "model/weights.h"

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <ATen/ATen.h>

#include <memory>
#include <set>

#include "common/error.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "model/abstractor.h"
#include "model/language_model.h"
#include "model/large_pages.h"
#include "model/vision_encoder.h"

namespace m4cxr {

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

// Removes ".<segment>.<adapter name>." -> "." (PEFT inserts the adapter name after
// modules_to_save / lora_A / lora_B in live state dicts; saved adapters drop it).
void drop_segment_with_name(std::string& s, const std::string& segment) {
  const std::string key = "." + segment + ".";
  size_t p = s.find(key);
  if (p == std::string::npos) return;
  size_t name_end = s.find('.', p + key.size());
  if (name_end == std::string::npos) return;
  s.erase(p, name_end - p);
}

enum class Kind { plain, lora_a, lora_b, skip };

struct Canonical {
  std::string name;
  Kind kind = Kind::plain;
  int priority = 0;  // a fine-tuned modules_to_save copy beats a plain one
};

// Maps any PEFT / wrapper spelling onto the canonical name (docs/upstream-model.md §4.3).
Canonical canonicalize(std::string k) {
  Canonical c;
  if (ends_with(k, "rotary_emb.inv_freq")) {
    c.kind = Kind::skip;  // non-persistent buffer some exporters keep
    return c;
  }
  if (starts_with(k, "base_model.model.")) k.erase(0, 17);
  if (k.find(".original_module.") != std::string::npos) {
    c.kind = Kind::skip;  // the stock copy next to modules_to_save: never used
    return c;
  }
  if (k.find(".modules_to_save.") != std::string::npos) {
    drop_segment_with_name(k, "modules_to_save");
    c.priority = 1;
  }
  replace_all(k, ".base_layer.", ".");
  for (const char* ab : {"lora_A", "lora_B"}) {
    std::string tag = std::string(".") + ab + ".";
    size_t p = k.find(tag);
    if (p == std::string::npos) continue;
    if (!ends_with(k, ".weight")) break;
    c.kind = ab[5] == 'A' ? Kind::lora_a : Kind::lora_b;
    k = k.substr(0, p) + ".weight";
    break;
  }
  // Unknown wrapper prefixes ("model.", a remote-code module name): cut before the
  // first component that is one of ours.
  for (const char* root : {"vision_model.", "abstractor.", "language_model."}) {
    size_t p = k.find(root);
    if (p != std::string::npos && (p == 0 || k[p - 1] == '.')) {
      if (p > 0) k.erase(0, p);
      break;
    }
  }
  c.name = k;
  return c;
}

struct Found {
  const TensorView* view = nullptr;
  int priority = -1;
  std::string raw;
};

struct Collected {
  std::map<std::string, Found> plain, lora_a, lora_b;
};

void collect(const TensorSource& src, Collected& out, bool is_adapter) {
  for (const auto& kv : src.tensors()) {
    Canonical c = canonicalize(kv.first);
    if (c.kind == Kind::skip) continue;
    auto& dst = c.kind == Kind::plain ? out.plain : (c.kind == Kind::lora_a ? out.lora_a : out.lora_b);
    int prio = c.priority + (is_adapter ? 2 : 0);  // the adapter's copies replace the base ones
    auto it = dst.find(c.name);
    if (it != dst.end()) {
      if (it->second.priority == prio)
        fail(Status::format_error, "tensors '" + it->second.raw + "' and '" + kv.first + "' both map to '" + c.name + "'");
      if (it->second.priority > prio) continue;
    }
    dst[c.name] = Found{&kv.second, prio, kv.first};
  }
}

c10::ScalarType torch_dtype(const TensorView& v) {
  switch (v.dtype) {
    case DType::f32: return c10::kFloat;
    case DType::f16: return c10::kHalf;
    case DType::bf16: return c10::kBFloat16;
    case DType::f64: return c10::kDouble;
    default:
      fail(Status::unsupported, "tensor " + v.describe() + ": only F64/F32/F16/BF16 weights are supported");
  }
}

// Gives the pages wholly inside [p, p + n) of a read-only private file mapping back to the
// kernel: they leave this process's resident set and would be read from the file again if
// touched (so this never loses data). Lets a load that converts or quantizes weights one by
// one (int8, LoRA merges, dtype changes) drop each source tensor's pages as it goes.
void release_mapped_pages(const void* p, size_t n) {
#if defined(__linux__)
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
#else
  (void)p;
  (void)n;
#endif
}

// A view of the mapped bytes; the deleter keeps the mapping alive and, when the tensor is
// dropped, releases its pages.
at::Tensor view_of(const TensorView& v, const std::shared_ptr<TensorSource>& keep) {
  auto st = torch_dtype(v);
  void* p = const_cast<uint8_t*>(v.data);
  std::vector<int64_t> shape = v.shape;
  const size_t bytes = static_cast<size_t>(v.numel()) * dtype_size(v.dtype);
  auto t = at::from_blob(p, shape, [keep, bytes](void* data) { release_mapped_pages(data, bytes); },
                         at::TensorOptions().dtype(st).device(c10::kCPU));
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(v.dtype) != 0) t = t.clone();  // misaligned: copy
  return t;
}

// A checkpoint tensor on the runtime's device, still in the file's dtype. Without `copy` (the
// CPU's default) the mapped view itself. With `copy`, a copy on rt.device made straight from
// the mapped pages (no converted host copy first: a narrowing conversion then runs on the
// device, where it is cheap; on the CPU on large pages, model/large_pages.h); the view is
// this function's last reference, so its deleter releases the pages on return and the host
// never holds more than one tensor of the file.
at::Tensor place(at::Tensor mapped, const Runtime& rt, bool copy) {
  if (!copy) return mapped;
  return rt.device.is_cpu() ? copy_on_large_pages(mapped, mapped.scalar_type()) : mapped.to(rt.device);
}

// In rt's dtype on rt's device; a conversion on the CPU lands on large pages (the decoder
// streams these weights once per token).
at::Tensor to_runtime(at::Tensor t, const Runtime& rt) {
  if (t.scalar_type() != rt.dtype)
    t = t.device().is_cpu() && rt.device.is_cpu() ? copy_on_large_pages(t, rt.dtype) : t.to(rt.dtype);
  if (t.device() != rt.device) t = t.to(rt.device);
  return t;
}

}  // namespace

std::vector<TensorSpec> expected_tensors(const ModelConfig& c) {
  std::vector<TensorSpec> s = VisionEncoder::tensors(c.vision);
  for (const auto& part : {Abstractor::tensors(c.projector, c.vision.num_patches()), LanguageModel::tensors(c.text)})
    s.insert(s.end(), part.begin(), part.end());
  return s;
}

namespace {

// Opens the checkpoint (and the adapter folder, if any) and sorts their tensors by
// canonical name and kind.
struct Sources {
  std::shared_ptr<TensorSource> base, adapter;
  Collected found;
  // The source that owns a found tensor (kept alive by the tensors viewing it).
  const std::shared_ptr<TensorSource>& owner(const Found& f) const { return f.priority >= 2 ? adapter : base; }
};

Sources open_sources(const std::string& model_dir, const std::string& adapter_dir) {
  Sources s;
  s.base = std::shared_ptr<TensorSource>(TensorSource::open_directory(model_dir));
  collect(*s.base, s.found, false);
  if (!adapter_dir.empty()) {
    if (!directory_exists(adapter_dir)) fail(Status::io_error, "adapter folder '" + adapter_dir + "' does not exist");
    s.adapter = std::shared_ptr<TensorSource>(TensorSource::open_directory(adapter_dir));
    collect(*s.adapter, s.found, true);
  }
  return s;
}

// LoRA scaling from adapter_config.json (0 without LoRA tensors); checks that every
// lora_A has its lora_B (and back) and r rows.
double lora_scaling(const Collected& found, const std::string& model_dir, const std::string& adapter_dir) {
  if (found.lora_a.empty() && found.lora_b.empty()) return 0;
  std::string cfg_dir;
  if (!adapter_dir.empty() && file_exists(join_path(adapter_dir, "adapter_config.json"))) cfg_dir = adapter_dir;
  else if (file_exists(join_path(model_dir, "adapter_config.json"))) cfg_dir = model_dir;
  if (cfg_dir.empty())
    fail(Status::format_error, "checkpoint has LoRA tensors (e.g. '" +
                                   (found.lora_a.empty() ? found.lora_b.begin()->second.raw : found.lora_a.begin()->second.raw) +
                                   "') but no adapter_config.json giving lora_alpha and r");
  LoraConfig lc = load_lora_config(cfg_dir);
  for (const auto& kv : found.lora_a) {
    if (!found.lora_b.count(kv.first)) fail(Status::model_error, "LoRA tensor '" + kv.second.raw + "' has no lora_B partner");
    const auto& a = *kv.second.view;
    if (a.shape.size() != 2 || a.shape[0] != lc.r)
      fail(Status::model_error, "LoRA tensor " + a.describe() + " does not have r = " + std::to_string(lc.r) + " rows");
  }
  for (const auto& kv : found.lora_b)
    if (!found.lora_a.count(kv.first)) fail(Status::model_error, "LoRA tensor '" + kv.second.raw + "' has no lora_A partner");
  return lc.scaling();
}

// Checks the found tensors against the specs: mis-shaped and missing ones are errors,
// unexpected ones go to `unexpected`. Returns the bytes that will be loaded.
uint64_t check_against_specs(const Collected& found, const std::vector<TensorSpec>& specs, const std::string& model_dir,
                             std::vector<std::string>* unexpected) {
  std::set<std::string> expected_names;
  std::vector<std::string> missing;
  uint64_t total = 0;
  for (const auto& s : specs) {
    expected_names.insert(s.name);
    auto it = found.plain.find(s.name);
    if (it == found.plain.end()) {
      if (!s.optional) missing.push_back(s.name);
      continue;
    }
    const TensorView& v = *it->second.view;
    if (v.shape != s.shape)
      fail(Status::model_error, "tensor " + v.describe() + " has shape " + shape_string(v.shape) + ", expected " +
                                    shape_string(s.shape) + " from config.json");
    total += v.nbytes;
  }
  if (!missing.empty()) {
    std::string list;
    for (size_t i = 0; i < missing.size() && i < 8; ++i) list += (i ? ", " : "") + missing[i];
    if (missing.size() > 8) list += ", ... (" + std::to_string(missing.size()) + " in all)";
    fail(Status::model_error, "checkpoint '" + model_dir + "' lacks tensors: " + list);
  }
  for (const auto& kv : found.plain)
    if (!expected_names.count(kv.first)) unexpected->push_back(kv.second.raw);
  for (const auto& kv : found.lora_a) {
    auto it = found.plain.find(kv.first);
    if (!expected_names.count(kv.first) || it == found.plain.end())
      fail(Status::model_error, "LoRA tensor '" + kv.second.raw + "' targets '" + kv.first + "', which the model does not have");
    const auto& base_w = *it->second.view;
    const auto& a = *kv.second.view;
    const auto& b = *found.lora_b.at(kv.first).view;
    if (a.shape.size() != 2 || b.shape.size() != 2 || a.shape[1] != base_w.shape[1] || b.shape[0] != base_w.shape[0] ||
        b.shape[1] != a.shape[0])
      fail(Status::model_error, "LoRA pair for '" + kv.first + "' has shapes A " + shape_string(a.shape) + ", B " +
                                    shape_string(b.shape) + " that do not fit the weight " + shape_string(base_w.shape));
  }
  return total;
}

// The weight `name` as a runtime tensor, with its LoRA pair merged in fp32 (at least
// as accurate as PEFT's in-dtype merge) before the cast.
at::Tensor materialize(const Sources& src, const std::string& name, const Found& f, double scaling, const Runtime& rt,
                       bool copy, LoadReport& rep) {
  at::Tensor t = place(view_of(*f.view, src.owner(f)), rt, copy);
  auto la = src.found.lora_a.find(name);
  if (la != src.found.lora_a.end()) {
    const Found& fb = src.found.lora_b.at(name);
    at::Tensor a = place(view_of(*la->second.view, src.owner(la->second)), rt, copy).to(at::kFloat);
    at::Tensor b = place(view_of(*fb.view, src.owner(fb)), rt, copy).to(at::kFloat);
    t = t.to(at::kFloat) + at::matmul(b, a) * scaling;
    ++rep.lora_pairs_merged;
  }
  return to_runtime(t, rt);
}

}  // namespace

WeightMap load_weights(const std::string& model_dir, const std::string& adapter_dir, const ModelConfig& config,
                       const Runtime& rt, LoadReport* report, const LoadProgress& progress,
                       WeightTransfer transfer) {
  // M4CXR_LARGE_PAGES=all copies the file's weights onto large pages (model/large_pages.h),
  // except for an int8 load, which quantizes the decoder's weights from the mapped file.
  // Read first on every device, so that a refused value fails any load.
  const LargePages pages = large_pages_setting();
  const bool copy = transfer == WeightTransfer::copy_each || !rt.device.is_cpu() ||
                    (pages == LargePages::all && !rt.int8_weights);
  const Sources src = open_sources(model_dir, adapter_dir);
  LoadReport local;
  LoadReport& rep = report ? *report : local;
  rep = LoadReport{};
  const double scaling = lora_scaling(src.found, model_dir, adapter_dir);
  rep.lora_scaling = scaling;

  const auto specs = expected_tensors(config);
  const uint64_t total = check_against_specs(src.found, specs, model_dir, &rep.unexpected);

  WeightMap out;
  uint64_t done = 0;
  for (const auto& s : specs) {
    auto it = src.found.plain.find(s.name);
    if (it == src.found.plain.end()) continue;
    out.emplace(s.name, materialize(src, s.name, it->second, scaling, rt, copy, rep));
    done += it->second.view->nbytes;
    if (progress && !progress(total ? double(done) / double(total) : 1.0))
      fail(Status::cancelled, "model load cancelled by the progress callback");
  }
  rep.bytes_read = done;
  return out;
}

const at::Tensor& weight(const WeightMap& w, const std::string& name) {
  auto it = w.find(name);
  if (it == w.end()) fail(Status::internal, "weight '" + name + "' was not loaded");
  return it->second;
}

}  // namespace m4cxr
