// Decode kernels against libtorch and against the machine's read bandwidth, in one run:
// y = x · Wᵀ for one row x and bf16 weights of M4CXR's real widths (attention 4096x4096,
// MLP 14336x4096 and 4096x14336, LM head 32000x4096), each kernel this CPU runs and
// at::linear, median of several calls, then the int8 form; the read bandwidth (read_bandwidth.h) is taken
// before and after.
// Usage: m4cxr_bench_kernels [--threads N] [--reps R] [--rows T]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "model/cpu_features.h"
#include "read_bandwidth.h"
#include "model/int8_weight.h"
#include "model/linear_few_rows.h"

using namespace m4cxr;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename F>
double median_seconds(int reps, F&& f) {
  f();  // warm-up
  std::vector<double> s;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    f();
    s.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return median(s);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 7, rows = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--reps") reps = std::atoi(argv[i + 1]);
    else if (a == "--rows") rows = std::atoi(argv[i + 1]);
  }
  if (threads > 0) at::set_num_threads(threads);
  rows = std::clamp(rows, 1, kMaxFewRows);
  reps = std::max(reps, 1);
  c10::InferenceMode guard;
  const CpuFeatures& f = cpu_features();
  std::printf("CPU %s: avx2+fma %d, avx512 %d, avx512_bf16 %d, avx512_vnni %d, amx %d; %d threads; %d row(s)\n",
              f.model.c_str(), f.avx2_fma, f.avx512, f.avx512_bf16, f.avx512_vnni, f.amx, at::get_num_threads(), rows);
  std::printf("kernel chosen for decoding: %s\n", linear_kernel_name(best_linear_kernel()));
  const double bw_before = read_bandwidth_gbs(reps);
  struct Shape {
    const char* name;
    int64_t n, k;
  };
  const Shape shapes[] = {{"attention 4096x4096", 4096, 4096}, {"mlp up 14336x4096", 14336, 4096},
                          {"mlp down 4096x14336", 4096, 14336}, {"lm head 32000x4096", 32000, 4096}};
  std::vector<std::pair<std::string, double>> rates;  // kernel -> GB/s summed over shapes
  std::vector<double> total_bytes_secs;
  for (const Shape& s : shapes) {
    const at::Tensor w = (at::randn({s.n, s.k}) * 0.02).to(at::kBFloat16);
    const at::Tensor x = at::randn({rows, s.k}).to(at::kBFloat16);
    const double bytes = double(w.numel()) * 2;
    std::printf("%-22s", s.name);
    const double torch_s = median_seconds(reps, [&] { (void)at::linear(x, w); });
    std::printf("  at::linear %6.1f GB/s", bytes / torch_s / 1e9);
    for (LinearKernel k : {LinearKernel::amx, LinearKernel::avx512_bf16, LinearKernel::avx512, LinearKernel::avx2,
                           LinearKernel::portable}) {
      if (!linear_kernel_supported(k)) continue;
      if (k == LinearKernel::portable && s.n > 4096) continue;  // slow; one shape says enough
      const double secs = median_seconds(reps, [&] { (void)linear_few_rows(x, w, k); });
      std::printf("  %s %6.1f GB/s", linear_kernel_name(k), bytes / secs / 1e9);
    }
    // Weight-only int8: half the bytes; the same shapes through the decoder's int8 path (AMX
    // tiles or VNNI where the CPU has them).
    const Int8Weight q = quantize_int8(w);
    const double secs8 = median_seconds(reps, [&] { (void)linear_few_rows_int8(x, q.q, q.scale, best_linear_kernel(), int8_vnni_supported()); });
    const double best_bf16 = median_seconds(reps, [&] { (void)linear_few_rows(x, w); });
    std::printf("  | int8 %6.1f GB/s, %.2fx the bf16 kernel's speed\n", double(q.q.numel()) / secs8 / 1e9, best_bf16 / secs8);
  }
  const double bw_after = read_bandwidth_gbs(reps);
  std::printf("read bandwidth (median of %d multi-threaded reads of 1 GiB): %.1f GB/s before, %.1f GB/s after\n", reps, bw_before, bw_after);
  return 0;
}
