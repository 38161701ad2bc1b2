// What the CPU this process runs on can do, read once with CPUID/XGETBV (the library is
// built for plain x86-64 and picks its kernels at run time; see linear_few_rows.h).
// Thread-safe (computed once, then immutable).
#pragma once

#include <string>

namespace m4cxr {

struct CpuFeatures {
  bool avx2_fma = false;     // AVX2 + FMA, with the OS saving YMM state
  bool avx512 = false;       // AVX-512 F/BW/VL, with the OS saving ZMM state
  bool avx512_bf16 = false;  // AVX512_BF16 (vdpbf16ps)
  bool avx512_vnni = false;  // AVX512_VNNI (vpdpbusd)
  bool amx = false;          // AMX-TILE/BF16/INT8 and AVX-512, with the OS allowing tile data
                             // (on Linux: granted to this process when first read)
  std::string model;         // brand string, e.g. "AMD EPYC 9R14 96-Core Processor"
};

const CpuFeatures& cpu_features();

}  // namespace m4cxr
