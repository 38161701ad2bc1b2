// Issue 11: M4CXR_DTYPE_INT8 through the C API on the tiny golden model: it loads, reports
// itself, weighs less than bf16, runs a task with the same prompt, and records the dtype in
// the replay; an unknown dtype is refused. (Its accuracy: tests/golden, the int8 tolerance set.)
#include "capi_support.h"

using namespace capi_test;

TEST_CASE("capi int8: loads, reports INT8, weighs less than bf16, runs tasks") {
  auto load = [](m4cxr_dtype dtype) {
    m4cxr_model_options o;
    m4cxr_model_options_default(&o);
    o.dtype = dtype;
    o.threads = 1;
    m4cxr_model* m = nullptr;
    REQUIRE_MESSAGE(m4cxr_model_load((golden() + "/models/merged_fp32").c_str(), &o, &m) == M4CXR_OK,
                    m4cxr_last_error());
    return m;
  };
  m4cxr_model* int8 = load(M4CXR_DTYPE_INT8);
  m4cxr_model* bf16 = load(M4CXR_DTYPE_BFLOAT16);
  m4cxr_model_info a, b;
  a.struct_size = b.struct_size = sizeof a;
  REQUIRE(m4cxr_model_get_info(int8, &a) == M4CXR_OK);
  REQUIRE(m4cxr_model_get_info(bf16, &b) == M4CXR_OK);
  CHECK(a.dtype == M4CXR_DTYPE_INT8);
  CHECK(b.dtype == M4CXR_DTYPE_BFLOAT16);
  CHECK(a.weight_bytes < b.weight_bytes);

  m4cxr_session* s = nullptr;
  REQUIRE(m4cxr_session_create(int8, &s) == M4CXR_OK);
  m4cxr_image* im = nullptr;
  REQUIRE(m4cxr_image_from_file(int8, (golden() + "/images/gray8_73x101.png").c_str(), &im) == M4CXR_OK);
  auto g = greedy(6);
  m4cxr_task* t = nullptr;
  REQUIRE(m4cxr_report(s, (const m4cxr_image* const*)&im, 1, &g, &t) == M4CXR_OK);
  Run r;
  drive(t, r);
  CHECK(r.json["replay"]["runtime_dtype"] == "int8");
  CHECK(r.json["stats"]["generated_tokens"].get<int64_t>() > 0);
  REQUIRE(r.json["turns"].size() == 2);
  m4cxr_image_free(im);
  m4cxr_session_free(s);
  m4cxr_model_free(int8);
  m4cxr_model_free(bf16);

  m4cxr_model_options o;
  m4cxr_model_options_default(&o);
  o.dtype = static_cast<m4cxr_dtype>(3);
  m4cxr_model* m = nullptr;
  CHECK(m4cxr_model_load((golden() + "/models/merged_fp32").c_str(), &o, &m) == M4CXR_ERR_INVALID_ARGUMENT);
  CHECK(std::string(m4cxr_last_error()).find("dtype") != std::string::npos);
  CHECK(m == nullptr);
}
