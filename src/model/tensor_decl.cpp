#include "model/tensor_decl.h"

#include "common/error.h"

namespace m4cxr {

std::string shape_string(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

at::Tensor TensorDecls::tensor(const std::string& name, std::vector<int64_t> shape) {
  return declare(name, std::move(shape), false);
}

at::Tensor TensorDecls::optional(const std::string& name, std::vector<int64_t> shape) {
  return declare(name, std::move(shape), true);
}

at::Tensor TensorDecls::declare(const std::string& name, std::vector<int64_t> shape, bool optional) {
  specs_.push_back(TensorSpec{name, shape, optional});
  if (weights_ == nullptr) return at::Tensor();
  auto it = weights_->find(name);
  if (it == weights_->end()) {
    if (optional) return at::Tensor();
    fail(Status::internal, "weight '" + name + "' was not loaded");
  }
  if (it->second.sizes().vec() != shape)
    fail(Status::internal, "weight '" + name + "' has shape " + shape_string(it->second.sizes().vec()) + ", declared " +
                               shape_string(shape));
  return it->second;
}

}  // namespace m4cxr
