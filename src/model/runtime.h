// Where and in which precision the model runs. Plain data.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace m4cxr {

struct Runtime {
  c10::ScalarType dtype = c10::kBFloat16;  // weights and activations (kFloat or kBFloat16)
  // Decoder projections and LM head as weight-only int8 (model/int8_weight.h), quantized at
  // load; activations and every other weight in `dtype` (which must be kBFloat16).
  bool int8_weights = false;
  c10::Device device = c10::Device(c10::kCPU);
};

}  // namespace m4cxr
