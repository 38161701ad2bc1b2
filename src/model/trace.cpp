#include "model/trace.h"

namespace m4cxr {

std::string series_stage(std::string_view series, size_t index) {
  return std::string(series) + "." + std::to_string(index);
}

TraceCallback collect_series(std::string_view series, std::vector<at::Tensor>* out, TraceCallback others) {
  std::string prefix = std::string(series) + ".";
  return [prefix = std::move(prefix), out, others = std::move(others)](std::string_view stage, const at::Tensor& value) {
    if (stage.size() > prefix.size() && stage.compare(0, prefix.size(), prefix) == 0) out->push_back(value);
    else if (others) others(stage, value);
  };
}

TraceCallback collect_stages(std::map<std::string, at::Tensor>* out) {
  return [out](std::string_view stage, const at::Tensor& value) { (*out)[std::string(stage)] = value; };
}

}  // namespace m4cxr
