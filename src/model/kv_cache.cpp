#include "model/kv_cache.h"

#include <ATen/ATen.h>

#include "common/error.h"

namespace m4cxr {

KvCache::KvCache(int layers, int kv_heads, int head_dim, const Runtime& runtime, int64_t initial_capacity)
    : layers_(layers), kv_heads_(kv_heads), head_dim_(head_dim), rt_(runtime) {
  k_.resize(static_cast<size_t>(layers));
  v_.resize(static_cast<size_t>(layers));
  reserve(initial_capacity);
}

void KvCache::reserve(int64_t extra) {
  const int64_t need = length_ + extra;
  if (need <= capacity_) return;
  int64_t cap = capacity_ > 0 ? capacity_ : 256;
  while (cap < need) cap *= 2;
  auto opts = at::TensorOptions().dtype(rt_.dtype).device(rt_.device);
  for (int l = 0; l < layers_; ++l) {
    at::Tensor nk = at::empty({kv_heads_, cap, head_dim_}, opts);
    at::Tensor nv = at::empty({kv_heads_, cap, head_dim_}, opts);
    if (length_ > 0) {
      nk.slice(1, 0, length_).copy_(k_[l].slice(1, 0, length_));
      nv.slice(1, 0, length_).copy_(v_[l].slice(1, 0, length_));
    }
    k_[l] = nk;
    v_[l] = nv;
  }
  capacity_ = cap;
}

void KvCache::write(int layer, const at::Tensor& k, const at::Tensor& v) {
  const int64_t t = k.size(1);
  if (length_ + t > capacity_) fail(Status::internal, "kv cache write past capacity");
  k_[layer].slice(1, length_, length_ + t).copy_(k);
  v_[layer].slice(1, length_, length_ + t).copy_(v);
}

at::Tensor KvCache::keys(int layer, int64_t n) const { return k_[layer].slice(1, 0, n); }
at::Tensor KvCache::values(int layer, int64_t n) const { return v_[layer].slice(1, 0, n); }

void KvCache::truncate(int64_t n) {
  if (n < 0 || n > length_) fail(Status::internal, "kv cache truncate out of range");
  length_ = n;
}

size_t KvCache::bytes() const {
  size_t b = 0;
  for (const auto& t : k_) b += t.numel() * t.element_size();
  for (const auto& t : v_) b += t.numel() * t.element_size();
  return b;
}

}  // namespace m4cxr
