// Writes a safetensors file (header padded to 8 bytes, tensors in the given order).
// Used by the benchmark (random real-size checkpoints) and by tests.
// Errors: Error(io_error) when the file cannot be written.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/safetensors.h"

namespace m4cxr {

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;  // numel * dtype_size bytes, borrowed
};

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace m4cxr
