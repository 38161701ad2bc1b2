#include "model/device.h"

#include <torch/cuda.h>

#include "common/error.h"

namespace m4cxr {

namespace {
constexpr const char* kAccepted = "expected \"cpu\", \"cuda\" or \"cuda:N\"";
constexpr int kMaxIndexDigits = 4;  // c10::DeviceIndex is 8 bits: bigger numbers would wrap
}  // namespace

c10::Device parse_device(const std::string& spec) {
  if (spec == "cpu") return c10::Device(c10::kCPU);
  if (spec == "cuda") return c10::Device(c10::kCUDA, 0);
  const std::string prefix = "cuda:";
  if (spec.compare(0, prefix.size(), prefix) == 0) {
    const std::string n = spec.substr(prefix.size());
    bool digits = !n.empty() && n.size() <= static_cast<size_t>(kMaxIndexDigits) && (n == "0" || n[0] != '0');
    for (char c : n) digits = digits && c >= '0' && c <= '9';
    if (digits) {
      const int index = std::stoi(n);
      if (index <= 127) return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
      fail(Status::invalid_argument, "device '" + spec + "': CUDA device index " + n + " is out of range");
    }
  }
  fail(Status::invalid_argument, "unknown device '" + spec + "': " + kAccepted);
}

int cuda_device_count() { return static_cast<int>(torch::cuda::device_count()); }

void check_device_available(const c10::Device& device, const std::string& spelled) {
  if (device.is_cpu()) return;
  if (!device.is_cuda()) fail(Status::invalid_argument, "unknown device '" + spelled + "': " + kAccepted);
  const int count = torch::cuda::is_available() ? cuda_device_count() : 0;
  if (count == 0)
    fail(Status::unsupported, "device '" + spelled +
                                  "' requested but CUDA is not available here (this libtorch has no CUDA, or no GPU is "
                                  "visible to the process)");
  const int index = device.has_index() ? device.index() : 0;
  if (index >= count)
    fail(Status::invalid_argument, "device '" + spelled + "' requested but only " + std::to_string(count) +
                                       " CUDA device(s) are visible (cuda:0 to cuda:" + std::to_string(count - 1) + ")");
}

}  // namespace m4cxr
