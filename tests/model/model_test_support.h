// Helpers for the model-stage tests: golden paths (M4CXR_GOLDEN_DIR), .npy -> tensor,
// temporary checkpoint folders built from the golden tiny models, status capture, and
// one cached Model per (folder, adapter, dtype).
#pragma once

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <stdlib.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"
#include "engine/model.h"
#include "io/mapped_file.h"
#include "io/model_config.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "model/weights.h"
#include "support/npy_support.h"

// c10 pulls in glog, whose CHECK* macros replace doctest's when <doctest/doctest.h> was
// included first (a failing glog CHECK aborts the run instead of reporting). Make sure
// the doctest assertions are the ones in force in every file that includes this header.
#include <doctest/doctest.h>
#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_GT
#undef CHECK_LT
#undef CHECK_GE
#undef CHECK_LE
#define CHECK(...) DOCTEST_CHECK(__VA_ARGS__)
#define CHECK_EQ(...) DOCTEST_CHECK_EQ(__VA_ARGS__)
#define CHECK_NE(...) DOCTEST_CHECK_NE(__VA_ARGS__)
#define CHECK_GT(...) DOCTEST_CHECK_GT(__VA_ARGS__)
#define CHECK_LT(...) DOCTEST_CHECK_LT(__VA_ARGS__)
#define CHECK_GE(...) DOCTEST_CHECK_GE(__VA_ARGS__)
#define CHECK_LE(...) DOCTEST_CHECK_LE(__VA_ARGS__)

namespace mt {

namespace fs = std::filesystem;

inline std::string golden_dir() {
  const char* env = std::getenv("M4CXR_GOLDEN_DIR");
  return (env && *env) ? std::string(env) : std::string(M4CXR_TEST_DATA) + "/golden";
}

inline std::string gpath(const std::string& rel) { return m4cxr::join_path(golden_dir(), rel); }

inline const nlohmann::json& manifest() {
  static nlohmann::json m = nlohmann::json::parse(m4cxr::read_file_text(gpath("manifest.json")));
  return m;
}

inline at::Tensor npy(const std::string& rel) {
  m4cxr::NpyArray a = m4cxr::read_npy(gpath(rel));
  if (a.descr == "<i8" || a.descr == "<i4") return at::tensor(a.as_int64(), at::kLong).reshape(a.shape);
  return at::tensor(a.as_float(), at::kFloat).reshape(a.shape);
}

inline std::vector<int32_t> npy_ids(const std::string& rel) { return m4cxr::test::npy_ids(m4cxr::read_npy(gpath(rel))); }

// Runs f; returns the m4cxr::Error status it threw (ok when it did not throw).
template <class F>
m4cxr::Status status_of(F&& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const m4cxr::Error& e) {
    if (message) *message = e.what();
    return e.status();
  }
  return m4cxr::Status::ok;
}

inline const char* name(m4cxr::Status s) { return m4cxr::status_name(s); }

// A fresh folder under the system temp dir, removed with everything in it.
struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "m4cxr_model_test_XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
    path = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string sub(const std::string& n) const { return m4cxr::join_path(path, n); }
};

// A checkpoint tensor that owns its bytes.
struct OwnedTensor {
  std::string name;
  m4cxr::DType dtype = m4cxr::DType::f32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

using TensorList = std::vector<OwnedTensor>;

// Every tensor of a golden model folder (single, sharded or adapter), by name order.
inline TensorList read_tensors(const std::string& rel_dir) {
  auto src = m4cxr::TensorSource::open_directory(gpath(rel_dir));
  TensorList out;
  for (const auto& kv : src->tensors()) {
    const auto& v = kv.second;
    out.push_back(OwnedTensor{kv.first, v.dtype, v.shape, std::vector<uint8_t>(v.data, v.data + v.nbytes)});
  }
  return out;
}

inline c10::ScalarType scalar_of(m4cxr::DType d) {
  switch (d) {
    case m4cxr::DType::f32: return at::kFloat;
    case m4cxr::DType::bf16: return at::kBFloat16;
    case m4cxr::DType::f16: return at::kHalf;
    case m4cxr::DType::f64: return at::kDouble;
    case m4cxr::DType::i32: return at::kInt;
    case m4cxr::DType::i64: return at::kLong;
    default: throw std::runtime_error("test helper: unhandled dtype");
  }
}

inline at::Tensor to_tensor(const OwnedTensor& t) {
  at::Tensor r = at::empty(t.shape, at::TensorOptions().dtype(scalar_of(t.dtype)));
  REQUIRE(static_cast<size_t>(r.numel() * r.element_size()) == t.bytes.size());
  if (!t.bytes.empty()) std::memcpy(r.data_ptr(), t.bytes.data(), t.bytes.size());
  return r;
}

inline OwnedTensor from_tensor(const std::string& name, const at::Tensor& t_in) {
  at::Tensor t = t_in.contiguous();
  OwnedTensor o;
  o.name = name;
  switch (t.scalar_type()) {
    case at::kFloat: o.dtype = m4cxr::DType::f32; break;
    case at::kBFloat16: o.dtype = m4cxr::DType::bf16; break;
    case at::kInt: o.dtype = m4cxr::DType::i32; break;
    default: throw std::runtime_error("test helper: unhandled scalar type");
  }
  o.shape = t.sizes().vec();
  const auto* p = static_cast<const uint8_t*>(t.data_ptr());
  o.bytes.assign(p, p + t.numel() * t.element_size());
  return o;
}

inline OwnedTensor* find(TensorList& ts, const std::string& name) {
  for (auto& t : ts)
    if (t.name == name) return &t;
  return nullptr;
}

inline bool erase(TensorList& ts, const std::string& name) {
  for (auto it = ts.begin(); it != ts.end(); ++it)
    if (it->name == name) {
      ts.erase(it);
      return true;
    }
  return false;
}

inline void write_tensors(const std::string& file, const TensorList& ts) {
  std::vector<m4cxr::TensorToWrite> w;
  for (const auto& t : ts) w.push_back(m4cxr::TensorToWrite{t.name, t.dtype, t.shape, t.bytes.data()});
  m4cxr::write_safetensors(file, w);
}

// Creates `dir` holding config.json, tokenizer.model, preprocessor_config.json of
// golden `config_from` (all of them unless excluded) and model.safetensors of `ts`.
inline void write_checkpoint(const std::string& dir, const TensorList& ts,
                             const std::string& config_from = "models/merged_fp32",
                             const std::vector<std::string>& skip_files = {}) {
  fs::create_directories(dir);
  for (const char* f : {"config.json", "tokenizer.model", "preprocessor_config.json"}) {
    bool skip = false;
    for (const auto& s : skip_files) skip = skip || s == f;
    if (!skip) fs::copy_file(gpath(config_from + "/" + f), m4cxr::join_path(dir, f), fs::copy_options::overwrite_existing);
  }
  write_tensors(m4cxr::join_path(dir, "model.safetensors"), ts);
}

inline m4cxr::ModelConfig config_of(const std::string& rel_dir) { return m4cxr::load_model_config(gpath(rel_dir)); }

inline m4cxr::Runtime runtime(c10::ScalarType dtype) {
  m4cxr::Runtime rt;
  rt.dtype = dtype;
  return rt;
}

// One model per (folder, adapter, dtype), loaded once for the whole run.
inline std::shared_ptr<const m4cxr::Model> model(const std::string& model_rel, const std::string& adapter_rel = "",
                                                 c10::ScalarType dtype = at::kFloat) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const m4cxr::Model>> cache;
  std::lock_guard<std::mutex> lock(mu);
  std::string key = model_rel + "|" + adapter_rel + "|" + c10::toString(dtype);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  m4cxr::ModelOptions o;
  o.runtime.dtype = dtype;
  o.threads = 2;
  if (!adapter_rel.empty()) o.adapter_dir = gpath(adapter_rel);
  auto m = m4cxr::Model::load(gpath(model_rel), o);
  cache[key] = m;
  return m;
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kFloat) - b.to(at::kFloat)).abs().max().item<double>();
}

// pixel_values [N,3,H,W] of golden images named in the manifest (e.g. "rgb_150x200.jpg").
inline at::Tensor pixel_values_of(const nlohmann::json& image_names) {
  std::vector<at::Tensor> pv;
  for (const auto& n : image_names) pv.push_back(npy(manifest()["images"][n.get<std::string>()]["pixel_values"]));
  if (pv.empty()) return at::Tensor();
  return at::stack(pv);
}

}  // namespace mt
