// Per-conversation key/value cache of the decoder. Storage is allocated once per
// capacity step (doubling), never per token: appending T tokens writes into the
// preallocated [layers][kv_heads, capacity, head_dim] buffers.
// Not thread-safe: one cache belongs to one session, used by one thread at a time.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "model/runtime.h"

namespace m4cxr {

class KvCache {
 public:
  KvCache(int layers, int kv_heads, int head_dim, const Runtime& runtime, int64_t initial_capacity = 512);

  int64_t length() const noexcept { return length_; }
  int64_t capacity() const noexcept { return capacity_; }
  // Makes room for `extra` more tokens (reallocating only when capacity is exceeded).
  void reserve(int64_t extra);
  // Writes k, v [kv_heads, T, head_dim] of `layer` at positions [length, length+T).
  void write(int layer, const at::Tensor& k, const at::Tensor& v);
  // Views of the first `n` positions of a layer.
  at::Tensor keys(int layer, int64_t n) const;
  at::Tensor values(int layer, int64_t n) const;
  // Commits T written positions (after every layer wrote them).
  void advance(int64_t t) { length_ += t; }
  // Forgets everything after `n` tokens (n <= length).
  void truncate(int64_t n);
  void clear() { length_ = 0; }
  size_t bytes() const;

 private:
  int layers_, kv_heads_, head_dim_;
  Runtime rt_;
  int64_t length_ = 0, capacity_ = 0;
  std::vector<at::Tensor> k_, v_;
};

}  // namespace m4cxr
