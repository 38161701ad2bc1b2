// The machine's read bandwidth, measured next to the decode figures it is compared with.
// bench only.
#pragma once

namespace m4cxr {

// GB/s: the median of `reps` streaming reads of a 1 GiB buffer (far larger than any
// last-level cache, on 2 MiB pages as the int8 weights: model/large_pages.h), split over
// libtorch's intra-op threads in contiguous parts, with the widest loads this CPU has and
// only an OR to keep them. (The bench used to sum a float buffer with at::sum, which in some
// minutes read 10-25 % slower than plain loads, so decode showed above 100 % of it.)
// Returns 0 when the bytes read back are not the bytes written (a broken read). Allocates
// and frees the buffer on every call; call it from one thread at a time (it uses the pool).
double read_bandwidth_gbs(int reps = 7);

}  // namespace m4cxr
