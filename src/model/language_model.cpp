#include "model/language_model.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/error.h"
#include "model/decode_attention.h"
#include "model/decode_rows.h"
#include "model/linear_few_rows.h"

namespace m4cxr {

namespace {

// Decoding (a few rows) on the CPU in bf16 reads the weights through our own kernels
// (model/linear_few_rows.h); prefill and other dtypes/devices keep libtorch's GEMM (int8
// weights dequantized for it, or on CPUs with AMX our own int8 tile products).
at::Tensor project(const at::Tensor& x, const LanguageModel::Linear& l) {
  const int64_t rows = x.numel() / std::max<int64_t>(1, x.size(-1));
  if (l.i8.q.defined()) {
    // Beyond kMaxFewRows (a prefill): AMX tiles where the CPU has them (faster than the bf16
    // GEMM), else libtorch's GEMM on the weight dequantized tile by tile.
    if (x.device().is_cpu() && x.scalar_type() == at::kBFloat16 && rows >= 1 && rows <= kMaxFewRows)
      return linear_few_rows_int8(x, l.i8.q, l.i8.scale, decode_kernel().kernel, int8_vnni_enabled());
    if (int8_amx_prefill_applies(x, l.i8)) return linear_int8_amx_prefill(x, l.i8);
    return linear_dequantized(x, l.i8);
  }
  const DecodeKernelChoice k = decode_kernel();
  return !k.use_libtorch && linear_few_rows_applies(x, l.w) ? linear_few_rows(x, l.w, k.kernel) : at::linear(x, l.w);
}

// Several projections of the same x (q/k/v, gate/up). Decoding on the CPU takes them in one
// call: one pass of the threads over all their rows, x read (int8: quantized) once.
std::vector<at::Tensor> project_all(const at::Tensor& x, const std::vector<const LanguageModel::Linear*>& ls) {
  const int64_t rows = x.numel() / std::max<int64_t>(1, x.size(-1));
  const bool few = x.device().is_cpu() && x.scalar_type() == at::kBFloat16 && rows >= 1 && rows <= kMaxFewRows;
  bool all_int8 = few, all_bf16 = few && !decode_kernel().use_libtorch;
  for (const LanguageModel::Linear* l : ls) {
    all_int8 = all_int8 && l->i8.q.defined();
    all_bf16 = all_bf16 && !l->i8.q.defined() && linear_few_rows_applies(x, l->w);
  }
  if (all_int8) {
    std::vector<Int8Weight> ws;
    for (const LanguageModel::Linear* l : ls) ws.push_back(l->i8);
    return linear_few_rows_int8_multi(x, ws, decode_kernel().kernel, int8_vnni_enabled());
  }
  if (all_bf16) {
    std::vector<at::Tensor> ws;
    for (const LanguageModel::Linear* l : ls) ws.push_back(l->w);
    return linear_few_rows_multi(x, ws, decode_kernel().kernel);
  }
  std::vector<at::Tensor> out;
  for (const LanguageModel::Linear* l : ls) out.push_back(project(x, *l));
  return out;
}

int64_t bytes_of(const at::Tensor& t) { return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0; }

// Asks the kernel to read a CPU tensor's pages ahead (asynchronously; for a view of a mapped
// file, from the file). Only a hint: nothing happens where it does not apply.
void will_need(const at::Tensor& t) {
#if defined(__linux__)
  if (!t.defined() || !t.device().is_cpu() || bytes_of(t) == 0) return;
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(t.data_ptr()) / page * page;
  const uintptr_t end = reinterpret_cast<uintptr_t>(t.data_ptr()) + static_cast<uintptr_t>(bytes_of(t));
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_WILLNEED);
#else
  (void)t;
#endif
}

}  // namespace


LanguageModel::LanguageModel(const TextConfig& config, const WeightMap& w) : cfg_(config) {
  TensorDecls d(w);
  declare_tensors(d);
  // HF: inv_freq = 1 / base^(arange(0, d, 2).float() / d), computed in fp32.
  at::Tensor ar = at::arange(0, cfg_.head_dim, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat);
  inv_freq_ = 1.0 / at::pow(cfg_.rope_theta, ar / double(cfg_.head_dim));
  inv_freq_ = inv_freq_.to(at::kFloat).to(embed_.device());
}

std::vector<TensorSpec> LanguageModel::tensors(const TextConfig& config) {
  LanguageModel m;
  m.cfg_ = config;
  TensorDecls d;
  m.declare_tensors(d);
  return d.specs();
}

void LanguageModel::declare_tensors(TensorDecls& d) {
  const TextConfig& t = cfg_;
  const int64_t H = t.hidden_size, V = t.vocab_size, Q = int64_t(t.num_attention_heads) * t.head_dim,
                KV = int64_t(t.num_key_value_heads) * t.head_dim, F = t.intermediate_size;
  const std::string m = "language_model.model.";
  embed_ = d.tensor(m + "embed_tokens.weight", {V, H});
  layers_.clear();
  for (int i = 0; i < t.num_hidden_layers; ++i) {
    const std::string l = m + "layers." + std::to_string(i) + ".";
    Layer y;
    y.q.w = d.tensor(l + "self_attn.q_proj.weight", {Q, H});
    y.k.w = d.tensor(l + "self_attn.k_proj.weight", {KV, H});
    y.v.w = d.tensor(l + "self_attn.v_proj.weight", {KV, H});
    y.o.w = d.tensor(l + "self_attn.o_proj.weight", {H, Q});
    y.gate.w = d.tensor(l + "mlp.gate_proj.weight", {F, H});
    y.up.w = d.tensor(l + "mlp.up_proj.weight", {F, H});
    y.down.w = d.tensor(l + "mlp.down_proj.weight", {H, F});
    y.in_norm = d.tensor(l + "input_layernorm.weight", {H});
    y.post_norm = d.tensor(l + "post_attention_layernorm.weight", {H});
    layers_.push_back(std::move(y));
  }
  norm_ = d.tensor(m + "norm.weight", {H});
  lm_head_.w = t.tie_word_embeddings ? embed_ : d.tensor("language_model.lm_head.weight", {V, H});
}

int64_t LanguageModel::quantize_int8_weights() {
  std::vector<std::pair<Linear*, bool>> order;  // (weight, shared with the embedding)
  for (Layer& y : layers_)
    for (Linear* l : {&y.q, &y.k, &y.v, &y.o, &y.gate, &y.up, &y.down}) order.emplace_back(l, false);
  order.emplace_back(&lm_head_, cfg_.tie_word_embeddings);  // a tied head's table stays for the embedding
  int64_t delta = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    Linear& l = *order[i].first;
    if (l.i8.q.defined()) continue;
    // The file's next weight is asked ahead while this one is quantized: through page
    // faults alone a cold 7B load read the file at 0.6 GB/s from a disk that streams 1.8.
    if (i == 0) will_need(l.w);
    if (i + 1 < order.size()) will_need(order[i + 1].first->w);
    l.i8 = quantize_int8(l.w);
    delta += bytes_of(l.i8.q) + bytes_of(l.i8.scale) - (order[i].second ? 0 : bytes_of(l.w));
    l.w = at::Tensor();  // releases it (the mapped file's pages or the converted copy)
  }
  return delta;
}

KvCache LanguageModel::make_cache(const Runtime& rt, int64_t initial_capacity) const {
  return KvCache(cfg_.num_hidden_layers, cfg_.num_key_value_heads, cfg_.head_dim, rt, initial_capacity);
}

at::Tensor LanguageModel::embed(const at::Tensor& ids) const { return at::embedding(embed_, ids.to(embed_.device())); }

at::Tensor LanguageModel::rms_norm(const at::Tensor& x, const at::Tensor& w) const {
  // A decode step on the CPU in bf16: one loop (model/decode_rows.h), same roundings.
  if (decode_rows_apply(x) && w.scalar_type() == at::kBFloat16) return rms_norm_rows(x, w, cfg_.rms_norm_eps);
  at::Tensor h = x.to(at::kFloat);
  at::Tensor var = h.pow(2).mean(-1, /*keepdim=*/true);
  h = h * at::rsqrt(var + cfg_.rms_norm_eps);
  return w * h.to(x.scalar_type());
}

namespace {
at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}
}  // namespace

void LanguageModel::check_segment(const Segment& s) const {
  if (s.cache == nullptr) fail(Status::invalid_argument, "decoder segment without a cache");
  if (!s.embeds.defined() || s.embeds.dim() != 2 || s.embeds.size(1) != cfg_.hidden_size)
    fail(Status::invalid_argument, "decoder expects embeddings [T, hidden]");
  const int64_t T = s.embeds.size(0);
  if (T == 0) fail(Status::invalid_argument, "decoder called with no tokens");
  const int64_t total = s.cache->length() + T;
  if (total > cfg_.max_position_embeddings)
    fail(Status::limit_exceeded, "sequence of " + std::to_string(total) + " tokens exceeds max_position_embeddings " +
                                     std::to_string(cfg_.max_position_embeddings));
}

at::Tensor LanguageModel::forward(const at::Tensor& embeds, KvCache& cache, bool all_logits,
                                  const TraceCallback& trace, const CancelCheck& cancel) const {
  std::vector<at::Tensor> out = run({Segment{embeds, &cache, all_logits, cancel}}, trace);
  if (!out[0].defined()) fail(Status::cancelled, "cancelled during decoding");
  return out[0];
}

std::vector<at::Tensor> LanguageModel::forward_batch(const std::vector<Segment>& segments) const {
  return run(segments, {});
}

std::vector<at::Tensor> LanguageModel::run(const std::vector<Segment>& segments, const TraceCallback& trace) const {
  for (const Segment& s : segments) check_segment(s);
  const auto dtype = embed_.scalar_type();
  const int64_t nh = cfg_.num_attention_heads, nkv = cfg_.num_key_value_heads, hd = cfg_.head_dim;
  const int64_t group = nh / nkv;
  const double scale = std::sqrt(double(hd));

  // Per sequence: its rows in the batch, RoPE tables and causal mask for its positions.
  struct Live {
    size_t index = 0;
    int64_t T = 0, start = 0, total = 0, row = 0;
    at::Tensor cos, sin, mask;
  };
  std::vector<Live> live;
  std::vector<at::Tensor> rows;
  for (size_t i = 0; i < segments.size(); ++i) {
    const Segment& s = segments[i];
    Live l;
    l.index = i;
    l.T = s.embeds.size(0);
    l.start = s.cache->length();
    l.total = l.start + l.T;
    s.cache->reserve(l.T);
    // RoPE tables for positions start..total-1 (fp32, then the activation dtype, as HF).
    at::Tensor pos = at::arange(l.start, l.total, at::TensorOptions().dtype(at::kLong)).to(at::kFloat).to(inv_freq_.device());
    at::Tensor freqs = at::outer(pos, inv_freq_);
    at::Tensor emb = at::cat({freqs, freqs}, -1);
    l.cos = emb.cos().to(dtype).unsqueeze(0);  // [1, T, hd]
    l.sin = emb.sin().to(dtype).unsqueeze(0);
    // Causal mask (HF adds finfo.min, not -inf); also the sliding window if configured.
    const bool windowed = cfg_.sliding_window > 0 && l.total > cfg_.sliding_window;
    if (l.T > 1 || windowed) {
      const auto longs = at::TensorOptions().dtype(at::kLong).device(s.embeds.device());
      at::Tensor qpos = at::arange(l.start, l.total, longs).unsqueeze(1);
      at::Tensor kpos = at::arange(0, l.total, longs).unsqueeze(0);
      at::Tensor blocked = kpos > qpos;
      if (windowed) blocked = blocked.logical_or(kpos <= qpos - cfg_.sliding_window);
      l.mask = at::zeros({l.T, l.total}, at::TensorOptions().dtype(at::kFloat).device(s.embeds.device()))
                   .masked_fill(blocked, std::numeric_limits<float>::lowest());
    }
    live.push_back(std::move(l));
    rows.push_back(s.embeds.to(dtype));
  }
  auto place_rows = [&]() {
    int64_t r = 0;
    for (Live& l : live) {
      l.row = r;
      r += l.T;
    }
  };
  place_rows();
  at::Tensor h = rows.size() == 1 ? rows[0] : at::cat(rows, 0);
  rows.clear();

  // Hidden state i (0 = embeds) is traced when layer i starts; the last one after the loop.
  for (size_t li = 0; li < layers_.size(); ++li) {
    if (trace) trace(series_stage(kLlmHiddenStates, li), h);
    // A cancelled sequence leaves the pass here; the others go on without its rows.
    bool dropped = false;
    std::vector<at::Tensor> kept;
    for (auto it = live.begin(); it != live.end();) {
      const CancelCheck& c = segments[it->index].cancel;
      if (c && c()) {
        it = live.erase(it);
        dropped = true;
      } else {
        ++it;
      }
    }
    if (live.empty()) return std::vector<at::Tensor>(segments.size());
    if (dropped) {
      for (const Live& l : live) kept.push_back(h.slice(0, l.row, l.row + l.T));
      h = kept.size() == 1 ? kept[0] : at::cat(kept, 0);
      place_rows();
    }
    const Layer& L = layers_[li];
    at::Tensor x = rms_norm(h, L.in_norm);
    const std::vector<at::Tensor> qkv = project_all(x, {&L.q, &L.k, &L.v});
    const at::Tensor &q_all = qkv[0], &k_all = qkv[1], &v_all = qkv[2];
    // Attention is per sequence. With several on the CPU they run side by side on the
    // intra-op threads (each one's small products on one thread) rather than one after
    // another, each split across the threads for too little work to gain.
    std::vector<at::Tensor> attn(live.size());
    auto attend = [&](size_t i) {
      const Live& l = live[i];
      const int64_t T = l.T;
      KvCache& cache = *segments[l.index].cache;
      at::Tensor q = q_all.slice(0, l.row, l.row + T), k = k_all.slice(0, l.row, l.row + T);
      const at::Tensor v = v_all.slice(0, l.row, l.row + T).view({T, nkv, hd}).transpose(0, 1);
      if (decode_rows_apply(q) && decode_rows_apply(k)) {
        // A decode step on the CPU in bf16: one loop each (model/decode_rows.h), same roundings.
        q = rope_rows(q, l.cos, l.sin, hd).view({T, nh, hd}).transpose(0, 1);  // [nh, T, hd]
        k = rope_rows(k, l.cos, l.sin, hd).view({T, nkv, hd}).transpose(0, 1);  // [nkv, T, hd]
      } else {
        q = q.view({T, nh, hd}).transpose(0, 1);
        k = k.view({T, nkv, hd}).transpose(0, 1);
        q = q * l.cos + rotate_half(q) * l.sin;
        k = k * l.cos + rotate_half(k) * l.sin;
      }
      cache.write(static_cast<int>(li), k, v);
      at::Tensor K = cache.keys(static_cast<int>(li), l.total), V = cache.values(static_cast<int>(li), l.total);
      // Query heads j*group .. j*group+group-1 share kv head j (repeat_kv).
      // Scale q rather than the [T, total] scores (upstream divides the scores): same up to rounding.
      const at::Tensor qs = q * (1.0 / scale);
      if (T == 1 && !l.mask.defined() && decode_attention_applies(qs, K, V)) {
        // A decode step in bf16 on the CPU: straight from the cache (model/decode_attention.h).
        attn[i] = decode_attention(qs, K, V).transpose(0, 1).reshape({T, nh * hd});
        return;
      }
      at::Tensor qg = qs.reshape({nkv, group * T, hd});
      at::Tensor scores = at::matmul(qg, K.transpose(1, 2)).view({nkv, group, T, l.total});
      if (l.mask.defined()) scores = scores + l.mask;  // promotes to fp32 like HF's fp32 mask add
      at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(dtype);
      at::Tensor a = at::matmul(probs.view({nkv, group * T, l.total}), V).view({nh, T, hd});
      attn[i] = a.transpose(0, 1).reshape({T, nh * hd});
    };
    if (live.size() > 1 && h.device().is_cpu()) {
      // The pool's threads take the caller's thread-local state (inference mode above all).
      const at::ThreadLocalState caller;
      at::parallel_for(0, static_cast<int64_t>(live.size()), 1, [&](int64_t b, int64_t e) {
        const at::ThreadLocalStateGuard state(caller);
        for (int64_t i = b; i < e; ++i) attend(static_cast<size_t>(i));
      });
    } else {
      for (size_t i = 0; i < live.size(); ++i) attend(i);
    }
    at::Tensor a = attn.size() == 1 ? attn[0] : at::cat(attn, 0);
    h = h + project(a, L.o);
    x = rms_norm(h, L.post_norm);
    const std::vector<at::Tensor> gate_up = project_all(x, {&L.gate, &L.up});
    h = h + project(at::silu(gate_up[0]) * gate_up[1], L.down);
  }
  // Logits of every row of the sequences that asked for all, else of their last row.
  std::vector<at::Tensor> picked;
  for (const Live& l : live) {
    segments[l.index].cache->advance(l.T);
    picked.push_back(segments[l.index].all_logits ? h.slice(0, l.row, l.row + l.T)
                                                  : h.slice(0, l.row + l.T - 1, l.row + l.T));
  }
  at::Tensor last = rms_norm(picked.size() == 1 ? picked[0] : at::cat(picked, 0), norm_);
  if (trace) trace(series_stage(kLlmHiddenStates, layers_.size()), segments[0].all_logits ? last : h);
  const at::Tensor logits = project(last, lm_head_).to(at::kFloat);
  std::vector<at::Tensor> out(segments.size());
  int64_t r = 0;
  for (const Live& l : live) {
    const int64_t n = segments[l.index].all_logits ? l.T : 1;
    out[l.index] = logits.slice(0, r, r + n);
    r += n;
  }
  return out;
}

}  // namespace m4cxr
