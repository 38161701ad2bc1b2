// Helpers shared by the golden tests: where the golden folder is, npy -> tensor, and
// closeness checks that print the worst element.
#pragma once

#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/model.h"
#include "io/mapped_file.h"
#include "io/npy.h"
#include "model/device.h"
#include "support/npy_support.h"

namespace golden {

inline std::string dir() {
  const char* env = std::getenv("M4CXR_GOLDEN_DIR");
  return (env && *env) ? std::string(env) : std::string(M4CXR_TEST_DATA) + "/golden";
}

inline std::string path(const std::string& rel) { return m4cxr::join_path(dir(), rel); }

// The device the golden models run on: M4CXR_TEST_DEVICE ("cpu" when unset or empty;
// "cuda" or "cuda:N" in scripts/cuda_check.sh), spelled as the C ABI's device option.
inline c10::Device device() {
  static const c10::Device d = [] {
    const char* env = std::getenv("M4CXR_TEST_DEVICE");
    const c10::Device parsed = m4cxr::parse_device((env && *env) ? env : "cpu");
    // cuDNN convolutions default to TF32 (10-bit mantissa) for fp32 tensors: the golden
    // tolerances are those of true fp32, so the suite asks for it (process-wide setting).
    if (parsed.is_cuda()) {
      at::globalContext().setAllowTF32CuDNN(false);
      at::globalContext().setAllowTF32CuBLAS(false);
    }
    return parsed;
  }();
  return d;
}

inline const nlohmann::json& manifest() {
  static nlohmann::json m = nlohmann::json::parse(m4cxr::read_file_text(path("manifest.json")));
  return m;
}

inline at::Tensor npy(const std::string& rel) {
  m4cxr::NpyArray a = m4cxr::read_npy(path(rel));
  if (a.descr == "<i8" || a.descr == "<i4") {
    auto v = a.as_int64();
    return at::tensor(v, at::kLong).reshape(a.shape);
  }
  auto v = a.as_float();
  return at::tensor(v, at::kFloat).reshape(a.shape);
}

inline std::vector<int32_t> npy_ids(const std::string& rel) { return m4cxr::test::npy_ids(m4cxr::read_npy(path(rel))); }

// |a - b| <= atol + rtol * |b| everywhere (numpy allclose); reports the worst element.
inline void check_close(const at::Tensor& got_in, const at::Tensor& want_in, double atol, double rtol,
                        const std::string& what) {
  at::Tensor got = got_in.to(at::kFloat).cpu().contiguous(), want = want_in.to(at::kFloat).cpu().contiguous();
  INFO(what);
  REQUIRE(got.sizes() == want.sizes());
  at::Tensor excess = (got - want).abs() - (atol + rtol * want.abs());
  double worst = excess.max().item<double>();
  double maxabs = (got - want).abs().max().item<double>();
  INFO("max |diff| = " << maxabs << " (atol " << atol << ", rtol " << rtol << ")");
  CHECK(worst <= 0.0);
}

// One model per (folder, adapter, dtype), loaded once for the whole run.
inline std::shared_ptr<const m4cxr::Model> model(const std::string& model_rel, const std::string& adapter_rel,
                                                 c10::ScalarType dtype) {
  static std::map<std::string, std::shared_ptr<const m4cxr::Model>> cache;
  std::string key = model_rel + "|" + adapter_rel + "|" + c10::toString(dtype);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  m4cxr::ModelOptions o;
  o.runtime.dtype = dtype;
  o.runtime.device = device();
  o.threads = 2;
  if (!adapter_rel.empty()) o.adapter_dir = path(adapter_rel);
  auto m = m4cxr::Model::load(path(model_rel), o);
  cache[key] = m;
  return m;
}

// The model with int8 decoder weights (activations bf16); loaded once.
inline std::shared_ptr<const m4cxr::Model> model_int8(const std::string& model_rel) {
  static std::map<std::string, std::shared_ptr<const m4cxr::Model>> cache;
  auto it = cache.find(model_rel);
  if (it != cache.end()) return it->second;
  m4cxr::ModelOptions o;
  o.runtime.dtype = at::kBFloat16;
  o.runtime.int8_weights = true;
  o.runtime.device = device();
  o.threads = 2;
  auto m = m4cxr::Model::load(path(model_rel), o);
  cache[model_rel] = m;
  return m;
}

}  // namespace golden
