// m4cxr_model_options.device end to end: the spellings the header promises, the error
// codes and messages for everything else, and that the device is checked before the
// checkpoint is read. Runs on any machine: where a GPU is visible it checks the CUDA
// successes instead of the "no CUDA" refusals.
#include <cstring>
#include <string>
#include <thread>

#include "capi_support.h"

using namespace capi_test;

namespace {

struct Attempt {
  m4cxr_status status;
  std::string message;
  bool out_null;
};

Attempt load_on(const char* device, const std::string& dir = golden() + "/models/merged_fp32") {
  m4cxr_model_options o;
  m4cxr_model_options_default(&o);
  o.dtype = M4CXR_DTYPE_FLOAT32;
  o.threads = 2;
  o.device = device;
  m4cxr_model* m = reinterpret_cast<m4cxr_model*>(&o);  // garbage: must be overwritten
  Attempt a{m4cxr_model_load(dir.c_str(), &o, &m), m4cxr_last_error(), m == nullptr};
  m4cxr_model_free(m);
  return a;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// Whether this process sees a GPU through a CUDA libtorch (the C ABI's own answer).
bool cuda_here() { return load_on("cuda").status == M4CXR_OK; }

}  // namespace

TEST_CASE("capi device: spellings other than cpu, cuda, cuda:N are INVALID_ARGUMENT naming the accepted forms") {
  for (const char* d : {"gpu", "CUDA", "cuda:x", "cuda:-1", "cuda:", "cuda:01", "cuda:1.5", " cuda", "cpu:0", "cpu:1",
                        "meta", "mps", "cuda:99999", "cuda:0:1"}) {
    INFO("device '" << d << "'");
    const Attempt a = load_on(d);
    CHECK(a.status == M4CXR_ERR_INVALID_ARGUMENT);
    CHECK(a.out_null);
    CHECK(contains(a.message, d));
    CHECK((contains(a.message, "expected \"cpu\", \"cuda\" or \"cuda:N\"") || contains(a.message, "out of range")));
  }
}

TEST_CASE("capi device: the device is refused before the checkpoint folder is looked at") {
  const Attempt a = load_on("gpu", golden() + "/no/such/folder");
  CHECK(a.status == M4CXR_ERR_INVALID_ARGUMENT);  // not IO: the folder was never opened
  CHECK(contains(a.message, "unknown device 'gpu'"));
}

TEST_CASE("capi device: cpu and the default (NULL or empty) load on the CPU and report \"cpu\"") {
  for (const char* d : {"cpu", static_cast<const char*>(nullptr), ""}) {
    m4cxr_model_options o;
    m4cxr_model_options_default(&o);
    o.dtype = M4CXR_DTYPE_FLOAT32;
    o.threads = 2;
    o.device = d;
    m4cxr_model* m = nullptr;
    REQUIRE_MESSAGE(m4cxr_model_load((golden() + "/models/merged_fp32").c_str(), &o, &m) == M4CXR_OK, m4cxr_last_error());
    m4cxr_model_info info;
    info.struct_size = sizeof info;
    REQUIRE(m4cxr_model_get_info(m, &info) == M4CXR_OK);
    CHECK(std::string(info.device) == "cpu");
    m4cxr_model_free(m);
  }
}

TEST_CASE("capi device: CUDA without a GPU is UNSUPPORTED; with one, an index past the last GPU is INVALID_ARGUMENT") {
  if (!cuda_here()) {
    for (const char* d : {"cuda", "cuda:0", "cuda:1", "cuda:127"}) {
      INFO("device '" << d << "'");
      const Attempt a = load_on(d);
      CHECK(a.status == M4CXR_ERR_UNSUPPORTED);
      CHECK(a.out_null);
      CHECK(contains(a.message, (std::string("device '") + d + "' requested but CUDA is not available").c_str()));
    }
    return;
  }
  // A GPU machine (scripts/cuda_check.sh): "cuda" is cuda:0, and the index is checked.
  m4cxr_model_options o;
  m4cxr_model_options_default(&o);
  o.dtype = M4CXR_DTYPE_FLOAT32;
  o.device = "cuda";
  m4cxr_model* m = nullptr;
  REQUIRE_MESSAGE(m4cxr_model_load((golden() + "/models/merged_fp32").c_str(), &o, &m) == M4CXR_OK, m4cxr_last_error());
  m4cxr_model_info info;
  info.struct_size = sizeof info;
  REQUIRE(m4cxr_model_get_info(m, &info) == M4CXR_OK);
  CHECK(std::string(info.device) == "cuda:0");
  m4cxr_model_free(m);
  const Attempt past = load_on("cuda:127");
  CHECK(past.status == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(contains(past.message, "CUDA device(s) are visible"));
}

namespace {

// The greedy chain-of-thought report's final text on `device`, run on its own thread;
// "" plus *error when any step fails (no doctest assertion off the main thread).
std::string report_on(const char* device, std::string* error) {
  m4cxr_model_options o;
  m4cxr_model_options_default(&o);
  o.dtype = M4CXR_DTYPE_FLOAT32;
  o.threads = 2;
  o.device = device;
  m4cxr_model* m = nullptr;
  m4cxr_image* im = nullptr;
  m4cxr_session* s = nullptr;
  m4cxr_task* t = nullptr;
  m4cxr_result* r = nullptr;
  std::string text;
  auto g = greedy(12);
  if (m4cxr_model_load((golden() + "/models/merged_fp32").c_str(), &o, &m) == M4CXR_OK &&
      m4cxr_image_from_file(m, (golden() + "/images/gray8_73x101.png").c_str(), &im) == M4CXR_OK &&
      m4cxr_session_create(m, &s) == M4CXR_OK &&
      m4cxr_report(s, (const m4cxr_image* const*)&im, 1, &g, &t) == M4CXR_OK && m4cxr_task_run(t, nullptr, nullptr) == M4CXR_OK &&
      m4cxr_task_result(t, &r) == M4CXR_OK)
    text = m4cxr_result_text(r);
  else
    *error = std::string(device) + ": " + m4cxr_last_error();
  m4cxr_result_free(r);
  m4cxr_task_free(t);
  m4cxr_session_free(s);
  m4cxr_image_free(im);
  m4cxr_model_free(m);
  return text;
}

}  // namespace

TEST_CASE("capi device: two models on two GPUs in one process, used at once, give the CPU's report") {
  const Attempt second = load_on("cuda:1");
  if (second.status != M4CXR_OK) {  // fewer than two GPUs here: cuda:1 is refused, never a crash
    CHECK((second.status == M4CXR_ERR_UNSUPPORTED || second.status == M4CXR_ERR_INVALID_ARGUMENT));
    CHECK(second.out_null);
    MESSAGE("two-GPU check skipped: " << second.message);
    return;
  }
  std::string err_cpu, err0, err1, on0, on1;
  const std::string on_cpu = report_on("cpu", &err_cpu);
  std::thread a([&] { on0 = report_on("cuda:0", &err0); });
  std::thread b([&] { on1 = report_on("cuda:1", &err1); });
  a.join();
  b.join();
  CHECK_MESSAGE(err_cpu.empty(), err_cpu);
  CHECK_MESSAGE(err0.empty(), err0);
  CHECK_MESSAGE(err1.empty(), err1);
  CHECK(!on_cpu.empty());
  CHECK(on0 == on_cpu);
  CHECK(on1 == on_cpu);
}
