#include "read_bandwidth.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
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

namespace {
constexpr int64_t kChunk = int64_t(2) << 20;  // each thread's parts: whole huge pages
}  // namespace

ReadProbe::ReadProbe(int64_t bytes) {
  bytes_ = std::max<int64_t>(kChunk, (bytes + kChunk - 1) / kChunk * kChunk);
  buf_ = empty_on_large_pages({bytes_}, at::kByte);
  uint8_t* p = buf_.data_ptr<uint8_t>();
  at::parallel_for(0, bytes_ / kChunk, 1, [&](int64_t b, int64_t e) {  // touched by the threads that read it
    std::memset(p + b * kChunk, 1, static_cast<size_t>((e - b) * kChunk));
  });
}

double ReadProbe::gbs(int64_t bytes) {
  const int64_t n = std::min(bytes_, std::max<int64_t>(kChunk, bytes / kChunk * kChunk));
  if (next_ + n > bytes_) next_ = 0;
  const uint8_t* base = buf_.data_ptr<uint8_t>() + next_;
  next_ += n;
  const CpuFeatures& cpu = cpu_features();
  auto read = [&](const uint8_t* p, int64_t len) {
#if defined(__x86_64__)
    if (cpu.avx512) return or_avx512(p, len);
    if (cpu.avx2_fma) return or_avx2(p, len);
#endif
    return or_portable(p, len);
  };
  std::atomic<uint64_t> sink{0};
  const auto t0 = std::chrono::steady_clock::now();
  at::parallel_for(0, n / kChunk, 1, [&](int64_t b, int64_t e) {
    sink.fetch_or(read(base + b * kChunk, (e - b) * kChunk), std::memory_order_relaxed);
  });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (sink.load() != 0x0101010101010101ULL) return 0;  // every byte is 1: anything else is a broken read
  return double(n) / secs / 1e9;
}

double ReadProbe::huge_page_share() const {
  std::ifstream f("/proc/self/smaps");
  if (!f) return -1;
  const uintptr_t at = reinterpret_cast<uintptr_t>(buf_.data_ptr());
  std::string line;
  bool in = false;
  while (std::getline(f, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
      in = at >= lo && at < hi;
      continue;
    }
    long kb = 0;
    if (in && std::sscanf(line.c_str(), "AnonHugePages: %ld kB", &kb) == 1)
      return std::min(1.0, double(kb) * 1024.0 / double(bytes_));
  }
  return -1;
}

double read_bandwidth_gbs(int reps) {
  ReadProbe probe;
  probe.gbs(probe.size());  // warm-up
  std::vector<double> gbs;
  for (int i = 0; i < reps; ++i) {
    const double g = probe.gbs(probe.size());
    if (g == 0) return 0;
    gbs.push_back(g);
  }
  std::sort(gbs.begin(), gbs.end());
  return gbs[gbs.size() / 2];
}

}  // namespace m4cxr
