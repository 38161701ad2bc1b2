// Memory for large weights on 2 MiB pages where the system allows, and which weights get it.
// Decoding streams every weight once per token: through 4 KiB pages that is a TLB miss every
// 4 KiB and a hardware prefetcher that stops at each page's end. Measured on this project's
// 2-core EPYC: the int8 kernel read 8-10 % faster from 2 MiB pages, and bf16 decode, timed
// token by token against the read bandwidth in the same state, 89 % of it on 2 MiB pages
// against 80 % from the mapped file in the host's fast state (95 % against 93 % in its slow
// one). Linux gives huge pages to regions marked MADV_HUGEPAGE when transparent huge pages
// are on "madvise" or "always"; elsewhere this is ordinary memory.
// Thread-safety: any number of threads.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace m4cxr {

// Which weights live on 2 MiB pages; the environment variable M4CXR_LARGE_PAGES chooses.
//  off           "0": none (ordinary memory everywhere).
//  made_at_load  unset, "" or "1" (the default): the weights the load makes anyway (int8,
//                converted from the file's dtype, LoRA-merged); the file's own bf16 weights
//                stay zero-copy views of the mapped file (an instant load, and pages that
//                several processes share through the page cache).
//  all           "all": also copies every weight the file holds in the runtime dtype onto
//                large pages (CPU, bf16/fp32; int8 loads are quantized from the file as in
//                made_at_load). Faster decoding for a slower load and memory of the process's
//                own: a 7B bf16 model is 14.5 GB anonymous memory (the file's page cache is
//                released as the load goes) instead of shared file pages.
enum class LargePages { off, made_at_load, all };

// Parses a value of M4CXR_LARGE_PAGES (nullptr: unset). Throws Error(invalid_argument),
// naming the accepted values, for anything else.
LargePages parse_large_pages(const char* value);

// The setting in force: set_large_pages' if it was called, else M4CXR_LARGE_PAGES, read
// once. Throws Error(invalid_argument) while the variable holds a value parse_large_pages
// refuses (so a load fails with the reason instead of ignoring a typo).
LargePages large_pages_setting();

// Overrides the environment for the process from now on (tests, benchmarks); tensors
// already made keep their memory.
void set_large_pages(LargePages setting);

// An uninitialised contiguous CPU tensor. From 2 MiB up, unless the setting is off, its
// memory is its own anonymous mapping, aligned to 2 MiB and marked for huge pages, released
// when the last reference goes; smaller ones come from libtorch's allocator. Throws
// Error(out_of_memory) when the memory cannot be had, Error(invalid_argument) for a negative
// size or a refused M4CXR_LARGE_PAGES.
at::Tensor empty_on_large_pages(const std::vector<int64_t>& sizes, c10::ScalarType dtype);

// A contiguous copy of `src` (any device) on the CPU in `dtype`, made by
// empty_on_large_pages. Throws as empty_on_large_pages.
at::Tensor copy_on_large_pages(const at::Tensor& src, c10::ScalarType dtype);

}  // namespace m4cxr
