// Memory for large weights made at load (int8), on 2 MiB pages where the system allows.
// Decoding streams every weight once per token: through 4 KiB pages that is a TLB miss every
// 4 KiB, and measured on this project's 2-core EPYC the int8 kernel read 8-10 % faster from
// 2 MiB pages. Linux gives them to regions marked MADV_HUGEPAGE when transparent huge pages
// are on "madvise" or "always"; elsewhere this is ordinary memory.
// Thread-safety: any number of threads.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace m4cxr {

// An uninitialised contiguous CPU tensor. From 2 MiB up its memory is its own anonymous
// mapping, aligned to 2 MiB and marked for huge pages, released when the last reference
// goes; smaller ones come from libtorch's allocator. Throws Error(out_of_memory) when the
// memory cannot be had.
at::Tensor empty_on_large_pages(const std::vector<int64_t>& sizes, c10::ScalarType dtype);

}  // namespace m4cxr
