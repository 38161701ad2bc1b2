// parse_device / check_device_available (model/device.h): the accepted spellings, the
// refusals, and Model::load refusing an unusable CUDA device before the checkpoint is read.
#include <doctest/doctest.h>

#include "model_test_support.h"

#include "model/device.h"

TEST_CASE("device: cpu, cuda (= cuda:0) and cuda:N parse; every other spelling is invalid_argument") {
  CHECK((m4cxr::parse_device("cpu") == c10::Device(c10::kCPU)));
  CHECK((m4cxr::parse_device("cuda") == c10::Device(c10::kCUDA, 0)));
  CHECK((m4cxr::parse_device("cuda:0") == c10::Device(c10::kCUDA, 0)));
  CHECK((m4cxr::parse_device("cuda:7") == c10::Device(c10::kCUDA, 7)));
  CHECK((m4cxr::parse_device("cuda:127") == c10::Device(c10::kCUDA, 127)));
  for (const char* bad : {"", "gpu", "CUDA", "Cpu", "cuda:x", "cuda:-1", "cuda:+1", "cuda:", "cuda:01", "cuda:128",
                          "cuda:99999", "cuda:0:1", "cuda: 1", " cuda", "cpu:0", "meta", "mps", "hip"}) {
    INFO("'" << bad << "'");
    std::string msg;
    CHECK(mt::status_of([&] { (void)m4cxr::parse_device(bad); }, &msg) == m4cxr::Status::invalid_argument);
    CHECK(msg.find(std::string("'") + bad + "'") != std::string::npos);
  }
}

TEST_CASE("device: without a visible GPU, CUDA devices are unsupported; the CPU always passes") {
  CHECK_NOTHROW(m4cxr::check_device_available(c10::Device(c10::kCPU), "cpu"));
  if (m4cxr::cuda_device_count() > 0) {  // a GPU machine (scripts/cuda_check.sh): only the index can be wrong
    const int n = m4cxr::cuda_device_count();
    CHECK_NOTHROW(m4cxr::check_device_available(c10::Device(c10::kCUDA, 0), "cuda:0"));
    std::string msg;
    CHECK(mt::status_of([&] { m4cxr::check_device_available(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(n)), "x"); },
                        &msg) == m4cxr::Status::invalid_argument);
    CHECK(msg.find("CUDA device(s) are visible") != std::string::npos);
    return;
  }
  for (int i : {0, 1}) {
    std::string msg;
    CHECK(mt::status_of([&] { m4cxr::check_device_available(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(i)), "cuda"); },
                        &msg) == m4cxr::Status::unsupported);
    CHECK(msg.find("device 'cuda' requested but CUDA is not available") != std::string::npos);
  }
  m4cxr::ModelOptions o;
  o.runtime.device = c10::Device(c10::kCUDA, 0);
  std::string msg;
  CHECK(mt::status_of([&] { (void)m4cxr::Model::load(mt::gpath("no/such/folder"), o); }, &msg) == m4cxr::Status::unsupported);
  CHECK(msg.find("CUDA is not available") != std::string::npos);  // not "folder does not exist": checked first
}

TEST_CASE("device: int8 weights on a CUDA device are unsupported, on any machine, before the checkpoint is read") {
  m4cxr::ModelOptions o;
  o.runtime.int8_weights = true;
  o.runtime.device = c10::Device(c10::kCUDA, 0);
  std::string msg;
  CHECK(mt::status_of([&] { (void)m4cxr::Model::load(mt::gpath("no/such/folder"), o); }, &msg) == m4cxr::Status::unsupported);
  CHECK(msg.find("int8 weights are a CPU decoding path") != std::string::npos);
}
