// One declaration per checkpoint tensor, in the spirit of llama.cpp's create_tensor:
// each network declares the tensors it reads (name, shape, optional) in one function,
// and the same code serves twice.
//  - Collecting (TensorDecls()): records the declarations; the weight loader's list of
//    expected tensors (expected_tensors) is the concatenation of every network's list.
//  - Binding (TensorDecls(weights)): also hands each declared tensor to the network
//    from the map load_weights produced (which already checked presence and shape).
// Plain data; not shared between threads.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace m4cxr {

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  bool optional = false;  // present in real checkpoints but unused (final LN, mask token)
};

using WeightMap = std::map<std::string, at::Tensor>;

// "[a, b, c]": a shape as error messages show it.
std::string shape_string(const std::vector<int64_t>& shape);

class TensorDecls {
 public:
  TensorDecls() = default;                                                   // collecting
  explicit TensorDecls(const WeightMap& weights) : weights_(&weights) {}     // binding

  // A tensor the network needs. Binding: the loaded tensor (Error(internal) if absent
  // or of another shape); collecting: an undefined tensor.
  at::Tensor tensor(const std::string& name, std::vector<int64_t> shape);
  // A tensor checkpoints may lack: undefined when absent.
  at::Tensor optional(const std::string& name, std::vector<int64_t> shape);

  const std::vector<TensorSpec>& specs() const noexcept { return specs_; }

 private:
  at::Tensor declare(const std::string& name, std::vector<int64_t> shape, bool optional);
  const WeightMap* weights_ = nullptr;
  std::vector<TensorSpec> specs_;
};

}  // namespace m4cxr
