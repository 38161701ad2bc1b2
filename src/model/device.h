// Which device a model runs on: parsing the C ABI's device strings and checking that the
// device exists in this process. Kept apart from the networks so that every front end
// (C ABI, CLI, bindings, Model::load) refuses a bad device the same way, before a byte of
// the checkpoint is read.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace m4cxr {

// "cpu", "cuda" (= "cuda:0") or "cuda:N" (N decimal, no sign, no leading zero): the
// spellings m4cxr promises. Anything else (c10 also accepts "cpu:1", "meta", "mps",
// "cuda:99999" wrapped to a negative index, ...) is Error(invalid_argument) naming the
// accepted forms. Existence is not checked here (see check_device_available).
c10::Device parse_device(const std::string& spec);

// Throws Error(unsupported) when `device` is CUDA and this libtorch has no CUDA or sees no
// GPU, Error(invalid_argument) when its index is not below the number of visible GPUs.
// `spelled` is the user's spelling for the message. CPU always passes.
void check_device_available(const c10::Device& device, const std::string& spelled);

// How many CUDA devices this process sees (0 with a CPU-only libtorch).
int cuda_device_count();

}  // namespace m4cxr
