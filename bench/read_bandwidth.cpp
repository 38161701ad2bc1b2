#include "read_bandwidth.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

#include "model/avx512_math.h"
#include "model/cpu_features.h"
#include "model/large_pages.h"

namespace m4cxr {

namespace {

// OR of every byte of [p, p + n), n a multiple of 256; the result only keeps the loads.
#if defined(__x86_64__)
__attribute__((target("avx512f"))) uint64_t or_avx512(const uint8_t* p, int64_t n) {
  __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
  for (int64_t i = 0; i < n; i += 256) {
    a = _mm512_or_si512(a, _mm512_loadu_si512(p + i));
    b = _mm512_or_si512(b, _mm512_loadu_si512(p + i + 64));
    c = _mm512_or_si512(c, _mm512_loadu_si512(p + i + 128));
    d = _mm512_or_si512(d, _mm512_loadu_si512(p + i + 192));
  }
  return static_cast<uint64_t>(_mm512_reduce_or_epi64(_mm512_or_si512(_mm512_or_si512(a, b), _mm512_or_si512(c, d))));
}

__attribute__((target("avx2"))) uint64_t or_avx2(const uint8_t* p, int64_t n) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for (int64_t i = 0; i < n; i += 128) {
    a = _mm256_or_si256(a, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    b = _mm256_or_si256(b, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    c = _mm256_or_si256(c, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    d = _mm256_or_si256(d, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d)));
  return lanes[0] | lanes[1] | lanes[2] | lanes[3];
}
#endif

uint64_t or_portable(const uint8_t* p, int64_t n) {
  uint64_t a = 0, b = 0;
  for (int64_t i = 0; i < n; i += 16) {
    uint64_t x, y;
    std::memcpy(&x, p + i, 8);
    std::memcpy(&y, p + i + 8, 8);
    a |= x;
    b |= y;
  }
  return a | b;
}

}  // namespace

double read_bandwidth_gbs(int reps) {
  constexpr int64_t kBytes = int64_t(1) << 30, kChunk = int64_t(2) << 20;
  const at::Tensor buf = empty_on_large_pages({kBytes}, at::kByte);
  at::parallel_for(0, kBytes / kChunk, 1, [&](int64_t b, int64_t e) {  // touched by the threads that read it
    std::memset(buf.data_ptr<uint8_t>() + b * kChunk, 1, static_cast<size_t>((e - b) * kChunk));
  });
  const CpuFeatures& cpu = cpu_features();
  auto read = [&](const uint8_t* p, int64_t n) {
#if defined(__x86_64__)
    if (cpu.avx512) return or_avx512(p, n);
    if (cpu.avx2_fma) return or_avx2(p, n);
#endif
    return or_portable(p, n);
  };
  std::atomic<uint64_t> sink{0};
  auto once = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    at::parallel_for(0, kBytes / kChunk, 1, [&](int64_t b, int64_t e) {
      sink.fetch_or(read(buf.data_ptr<uint8_t>() + b * kChunk, (e - b) * kChunk), std::memory_order_relaxed);
    });
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  once();  // warm-up
  std::vector<double> secs;
  for (int i = 0; i < reps; ++i) secs.push_back(once());
  std::sort(secs.begin(), secs.end());
  if (sink.load() != 0x0101010101010101ULL) return 0;  // every byte is 1: anything else is a broken read
  return double(kBytes) / secs[secs.size() / 2] / 1e9;
}

}  // namespace m4cxr
