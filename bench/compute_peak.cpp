#include "compute_peak.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include "model/amx_tiles.h"
#include "model/avx512_math.h"
#include "model/cpu_features.h"

namespace m4cxr {

namespace {

constexpr long kIterations = 20'000'000;  // 240 M instructions per thread: ~0.1 s

// 12 independent accumulators: enough chains to cover the instruction's latency.
#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) float run_bf16() {
  __m512 a[12];
  for (auto& v : a) v = _mm512_setzero_ps();
  __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80);
  const __m512bh w = (__m512bh)_mm512_set1_epi16(0x3f80);
  for (long i = 0; i < kIterations; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) a[j] = _mm512_dpbf16_ps(a[j], x, w);
    asm volatile("" : "+v"(x));  // keeps the loop from being folded
  }
  float s = 0;
  for (auto& v : a) s += _mm512_reduce_add_ps(v);
  return s;
}

__attribute__((target("avx512f"))) float run_avx512() {
  __m512 a[12];
  for (auto& v : a) v = _mm512_setzero_ps();
  __m512 x = _mm512_set1_ps(1e-9f);
  const __m512 w = _mm512_set1_ps(1.0f);
  for (long i = 0; i < kIterations; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) a[j] = _mm512_fmadd_ps(x, w, a[j]);
    asm volatile("" : "+v"(x));
  }
  float s = 0;
  for (auto& v : a) s += _mm512_reduce_add_ps(v);
  return s;
}

__attribute__((target("avx2,fma"))) float run_avx2() {
  __m256 a[12];
  for (auto& v : a) v = _mm256_setzero_ps();
  __m256 x = _mm256_set1_ps(1e-9f);
  const __m256 w = _mm256_set1_ps(1.0f);
  for (long i = 0; i < kIterations; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) a[j] = _mm256_fmadd_ps(x, w, a[j]);
    asm volatile("" : "+x"(x));
  }
  alignas(32) float out[8];
  float s = 0;
  for (auto& v : a) {
    _mm256_store_ps(out, v);
    for (float f : out) s += f;
  }
  return s;
}

// AMX: 4 independent tile products (16 x 32 by 32 x 16 bf16, 16384 flops each) per step.
constexpr long kAmxIterations = 2'000'000;
__attribute__((target("amx-tile,amx-bf16"))) float run_amx() {
  alignas(64) static const uint16_t ones[16 * 32] = {};
  configure_amx_tiles();
  _tile_loadd(4, ones, 64);
  _tile_loadd(5, ones, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (long i = 0; i < kAmxIterations; ++i) {
    _tile_dpbf16ps(0, 4, 5);
    _tile_dpbf16ps(1, 4, 5);
    _tile_dpbf16ps(2, 4, 5);
    _tile_dpbf16ps(3, 4, 5);
  }
  alignas(64) float out[16 * 16];
  _tile_stored(0, out, 64);
  release_amx_tiles();
  return out[0];
}
#endif


// Seconds for `threads` threads (libtorch's intra-op pool) to run `run` once each.
double seconds_on_threads(int threads, float (*run)()) {
  std::atomic<float> sink{0};
  const auto t0 = std::chrono::steady_clock::now();
  at::parallel_for(0, threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) sink = sink + run();
  });
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

double amx_peak_gflops(int threads) {
#if defined(__x86_64__)
  if (!cpu_features().amx) return 0;
  threads = std::max(1, threads);
  return threads * double(kAmxIterations) * 4 * 16384 / seconds_on_threads(threads, run_amx) / 1e9;
#else
  (void)threads;
  return 0;
#endif
}

double dot_product_peak_gflops(int threads, const char** name) {
  const CpuFeatures& f = cpu_features();
  float (*run)() = nullptr;
  double flops_per_instruction = 0;
  *name = "none";
#if defined(__x86_64__)
  if (f.avx512_bf16) run = run_bf16, flops_per_instruction = 64, *name = "vdpbf16ps zmm";
  else if (f.avx512) run = run_avx512, flops_per_instruction = 32, *name = "vfmadd fp32 zmm";
  else if (f.avx2_fma) run = run_avx2, flops_per_instruction = 16, *name = "vfmadd fp32 ymm";
#endif
  if (run == nullptr) return 0;
  threads = std::max(1, threads);
  return threads * double(kIterations) * 12 * flops_per_instruction / seconds_on_threads(threads, run) / 1e9;
}

double vit_flops(int image_size, int patch_size, int hidden, int intermediate, int layers) {
  const double side = double(image_size / patch_size), patches = side * side, tokens = patches + 1;
  const double d = hidden, patch_in = 3.0 * patch_size * patch_size;
  const double per_layer = 2 * tokens * (4 * d * d + 2 * d * intermediate)  // q, k, v, o and the MLP
                           + 2 * 2 * tokens * tokens * d;                     // scores and weighted values
  return 2 * patches * patch_in * d + layers * per_layer;
}

}  // namespace m4cxr
