// The machine's read bandwidth, measured next to the decode figures it is compared with.
// bench only.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace m4cxr {

// A buffer far larger than any last-level cache, on 2 MiB pages, every byte 1, read in
// short multi-threaded streaming passes: the bandwidth of one moment, for timing decode
// steps against it (paired_decode.h). Holds its buffer until destroyed. One thread at a
// time (it uses libtorch's intra-op pool).
class ReadProbe {
 public:
  // Throws Error(out_of_memory) when the buffer cannot be had; bytes is rounded up to 2 MiB.
  explicit ReadProbe(int64_t bytes = int64_t(1) << 30);
  // GB/s of one read of `bytes` (rounded down to 2 MiB, at least 2 MiB, at most the buffer),
  // each call a part after the last one's (wrapping), so that no pass finds the last one's
  // bytes in cache. Returns 0 when the bytes read back are not the bytes written.
  double gbs(int64_t bytes);
  int64_t size() const { return bytes_; }
  // The share of the buffer the kernel backs with huge pages (AnonHugePages of its mapping
  // in /proc/self/smaps), 0..1; -1 where that cannot be read. On a fragmented machine it
  // may get 4 KiB pages, and then reads below what 2 MiB-page weights can.
  double huge_page_share() const;

 private:
  at::Tensor buf_;
  int64_t bytes_ = 0, next_ = 0;
};

// GB/s: the median of `reps` streaming reads of a 1 GiB buffer (far larger than any
// last-level cache, on 2 MiB pages as the int8 weights: model/large_pages.h), split over
// libtorch's intra-op threads in contiguous parts, with the widest loads this CPU has and
// only an OR to keep them. (The bench used to sum a float buffer with at::sum, which in some
// minutes read 10-25 % slower than plain loads, so decode showed above 100 % of it.)
// Returns 0 when the bytes read back are not the bytes written (a broken read). Allocates
// and frees the buffer on every call; call it from one thread at a time (it uses the pool).
double read_bandwidth_gbs(int reps = 7);

}  // namespace m4cxr
