#include "model/cpu_features.h"

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace m4cxr {

namespace {

#if defined(__x86_64__) || defined(__i386__)
bool cpuid(unsigned leaf, unsigned sub, unsigned r[4]) { return __get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3]) != 0; }

uint64_t xgetbv0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

// Linux (5.16+) hands out AMX tile state only to processes that ask for it: a tile
// instruction before arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA) is killed with SIGILL.
// The permission is the whole process's, so asking once here covers every thread.
bool amx_permitted() {
#if defined(__linux__) && defined(__x86_64__)
  constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned r[4] = {0, 0, 0, 0};
  if (!cpuid(1, 0, r)) return f;
  const bool osxsave = (r[2] >> 27) & 1, fma = (r[2] >> 12) & 1;
  const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  const bool ymm = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
  const bool zmm = ymm && (xcr0 & 0xE0) == 0xE0;   // opmask + ZMM halves
  const bool tiles = (xcr0 & 0x60000) == 0x60000;  // XTILECFG + XTILEDATA
  unsigned l7[4] = {0, 0, 0, 0}, l7s1[4] = {0, 0, 0, 0};
  if (cpuid(7, 0, l7)) {
    f.avx2_fma = ymm && fma && ((l7[1] >> 5) & 1);
    const bool f512 = (l7[1] >> 16) & 1, bw = (l7[1] >> 30) & 1, vl = (l7[1] >> 31) & 1;
    f.avx512 = zmm && f512 && bw && vl;
    f.avx512_vnni = f.avx512 && ((l7[2] >> 11) & 1);
    f.amx = tiles && ((l7[3] >> 24) & 1) && ((l7[3] >> 22) & 1) && ((l7[3] >> 25) & 1) && f.avx512 && amx_permitted();
    if (l7[0] >= 1 && cpuid(7, 1, l7s1)) f.avx512_bf16 = f.avx512 && ((l7s1[0] >> 5) & 1);
  }
  unsigned b[12] = {0};
  if (cpuid(0x80000000u, 0, r) && r[0] >= 0x80000004u) {
    for (unsigned i = 0; i < 3; ++i) cpuid(0x80000002u + i, 0, b + 4 * i);
    char brand[49] = {0};
    std::memcpy(brand, b, 48);
    f.model = brand;
    while (!f.model.empty() && f.model.back() == ' ') f.model.pop_back();
    while (!f.model.empty() && f.model.front() == ' ') f.model.erase(0, 1);
  }
  return f;
}
#else
CpuFeatures detect() { return {}; }
#endif

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

}  // namespace m4cxr
