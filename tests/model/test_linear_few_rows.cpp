// The decode kernels (model/linear_few_rows.h): every kernel this CPU runs against an fp64
// reference and against at::linear, for 1..4 rows, widths with and without a tail, and
// row counts that do and do not split evenly over the threads; what they refuse.
#include <doctest/doctest.h>

#include <ATen/Parallel.h>

#include "model_test_support.h"

#include "model/cpu_features.h"
#include "model/int8_weight.h"
#include "model/linear_few_rows.h"

using namespace m4cxr;

namespace {

// bf16 weights of `rows` rows of K values each, and their int8 quantizations.
void random_weights(int64_t K, std::initializer_list<int64_t> rows, std::vector<at::Tensor>* ws,
                    std::vector<Int8Weight>* qs) {
  for (int64_t N : rows) {
    ws->push_back((at::randn({N, K}) * 0.05).to(at::kBFloat16));
    qs->push_back(quantize_int8(ws->back()));
  }
}

// Every kernel; each test runs those this CPU has. amx takes the weights that fit its tiles
// (rows a multiple of 16; K of 32 in bf16, of 128 in int8) and hands the others to avx512_bf16.
constexpr LinearKernel kAllKernels[] = {LinearKernel::amx, LinearKernel::avx512_bf16, LinearKernel::avx512,
                                        LinearKernel::avx2, LinearKernel::portable};

}  // namespace

TEST_CASE("linear_few_rows: every kernel this CPU has equals an fp64 reference to bf16 rounding") {
  c10::InferenceMode g;
  at::manual_seed(7);
  MESSAGE("CPU: " << cpu_features().model << "; best decode kernel: " << std::string(linear_kernel_name(best_linear_kernel())));
  int kernels_run = 0;
  for (LinearKernel k : kAllKernels) {
    if (!linear_kernel_supported(k)) continue;
    ++kernels_run;
    CAPTURE(linear_kernel_name(k));
    for (int64_t K : {int64_t(4096), int64_t(96), int64_t(70), int64_t(33), int64_t(1)})
      for (int64_t N : {int64_t(1), int64_t(64), int64_t(65), int64_t(300)})
        for (int64_t T = 1; T <= kMaxFewRows; ++T) {
          CAPTURE(K);
          CAPTURE(N);
          CAPTURE(T);
          const at::Tensor x = at::randn({T, K}).to(at::kBFloat16);
          const at::Tensor w = (at::randn({N, K}) * 0.05).to(at::kBFloat16);
          const at::Tensor y = linear_few_rows(x, w, k);
          REQUIRE((y.scalar_type() == at::kBFloat16));
          REQUIRE((y.sizes().vec() == std::vector<int64_t>{T, N}));
          const at::Tensor ref = at::matmul(x.to(at::kDouble), w.to(at::kDouble).t());
          // One bf16 rounding of the result (2^-8 relative) plus fp32 summation error.
          const at::Tensor err = (y.to(at::kDouble) - ref).abs();
          const at::Tensor bound = ref.abs() * (1.0 / 256) + 1e-5 * std::sqrt(double(K));
          CHECK(at::le(err, bound).all().item<bool>());
          const at::Tensor torch = at::linear(x, w).to(at::kDouble);
          CHECK(at::le((y.to(at::kDouble) - torch).abs(), torch.abs() * (2.0 / 256) + 1e-5 * std::sqrt(double(K))).all().item<bool>());
        }
  }
  CHECK(kernels_run >= 1);  // portable always
  CHECK(linear_kernel_supported(LinearKernel::portable));
  CHECK(linear_kernel_supported(best_linear_kernel()));
  // amx exactly where the CPU has AMX (and AVX512_BF16 for the weights that do not fit);
  // never picked by itself (a caller that batches asks for it); elsewhere refused.
  CHECK(linear_kernel_supported(LinearKernel::amx) == (cpu_features().amx && cpu_features().avx512_bf16));
  CHECK_FALSE((best_linear_kernel() == LinearKernel::amx));
  if (!linear_kernel_supported(LinearKernel::amx)) {
    const at::Tensor w = at::randn({16, 32}).to(at::kBFloat16);
    CHECK(mt::status_of([&] { linear_few_rows(at::randn({1, 32}).to(at::kBFloat16), w, LinearKernel::amx); }) ==
          Status::invalid_argument);
    DecodeKernelChoice amx;
    amx.kernel = LinearKernel::amx;
    CHECK(mt::status_of([&] { set_decode_kernel(amx); }) == Status::invalid_argument);
  }
}

TEST_CASE("linear_few_rows: leading shapes are kept; what it does not take is refused") {
  c10::InferenceMode g;
  const at::Tensor w = at::randn({8, 16}).to(at::kBFloat16);
  const at::Tensor x = at::randn({1, 2, 16}).to(at::kBFloat16);
  REQUIRE(linear_few_rows_applies(x, w));
  CHECK((linear_few_rows(x, w).sizes().vec() == std::vector<int64_t>{1, 2, 8}));
  CHECK_FALSE(linear_few_rows_applies(at::randn({kMaxFewRows + 1, 16}).to(at::kBFloat16), w));  // prefill: libtorch's GEMM
  CHECK_FALSE(linear_few_rows_applies(at::randn({1, 16}), w));                     // fp32
  CHECK_FALSE(linear_few_rows_applies(x, w.t()));                                  // not [N, K] contiguous
  CHECK_FALSE(linear_few_rows_applies(at::randn({1, 15}).to(at::kBFloat16), w));   // widths differ
  CHECK(mt::status_of([&] { linear_few_rows(at::randn({kMaxFewRows + 1, 16}).to(at::kBFloat16), w); }) == Status::invalid_argument);
}

TEST_CASE("int8 weights: quantization error within half a step; every kernel equals an fp64 reference") {
  c10::InferenceMode g;
  at::manual_seed(11);
  const at::Tensor w = at::randn({300, 70}) * 0.05;
  w[5].zero_();  // an all-zero row
  const Int8Weight q = quantize_int8(w.to(at::kBFloat16));
  REQUIRE((q.q.scalar_type() == at::kChar));
  REQUIRE((q.scale.sizes().vec() == std::vector<int64_t>{300}));
  const at::Tensor wb = w.to(at::kBFloat16).to(at::kFloat);
  const at::Tensor err = (dequantize(q, at::kFloat) - wb).abs();
  CHECK(at::le(err, q.scale.unsqueeze(1) * 0.5 + 1e-7).all().item<bool>());
  CHECK(q.q[5].abs().sum().item<int64_t>() == 0);
  // The one-pass bf16 dequantization (prefill) rounds the same values the same way.
  CHECK(at::equal(dequantize(q, at::kBFloat16), dequantize(q, at::kFloat).to(at::kBFloat16)));
  CHECK(q.q.abs().max().item<int64_t>() <= 127);
  CHECK(mt::status_of([&] { quantize_int8(at::ones({3})); }) == Status::invalid_argument);
  int kernels_run = 0;
  for (LinearKernel k : kAllKernels) {
    if (!linear_kernel_supported(k)) continue;
    ++kernels_run;
    CAPTURE(linear_kernel_name(k));
    for (int64_t K : {int64_t(4096), int64_t(70), int64_t(33)})
      for (int64_t N : {int64_t(1), int64_t(65), int64_t(300)})
        for (int64_t T = 1; T <= kMaxFewRows; ++T) {
          CAPTURE(K);
          CAPTURE(N);
          CAPTURE(T);
          const Int8Weight qw = quantize_int8(at::randn({N, K}) * 0.05);
          const at::Tensor x = at::randn({T, K}).to(at::kBFloat16);
          const at::Tensor y = linear_few_rows_int8(x, qw.q, qw.scale, k, /*vnni=*/false);
          REQUIRE((y.sizes().vec() == std::vector<int64_t>{T, N}));
          const at::Tensor ref = at::matmul(x.to(at::kDouble), dequantize(qw, at::kDouble).t());
          const at::Tensor bound = ref.abs() * (1.0 / 256) + 1e-5 * std::sqrt(double(K));
          CHECK(at::le((y.to(at::kDouble) - ref).abs(), bound).all().item<bool>());
        }
  }
  CHECK(kernels_run >= 1);
  if (int8_vnni_supported()) {
    // VNNI quantizes x per 128-value block: its error is at most half a step of that
    // block's scale per value, times |W|.
    // With the best kernel: on AMX CPUs the 128-row weights with K a multiple of 128 take
    // the tiles, the others VNNI; the same quantization of x either way.
    for (int64_t K : {int64_t(4096), int64_t(256), int64_t(300), int64_t(100)})
      for (int64_t N : {int64_t(128), int64_t(130)})
      for (int64_t T = 1; T <= kMaxFewRows; ++T) {
        CAPTURE(K);
        CAPTURE(N);
        CAPTURE(T);
        const Int8Weight qw = quantize_int8(at::randn({N, K}) * 0.05);
        at::Tensor xf = at::randn({T, K});
        xf.select(1, 3).mul_(50);  // an outlier channel, as LLM activations have
        const at::Tensor x = xf.to(at::kBFloat16);
        const at::Tensor y = linear_few_rows_int8(x, qw.q, qw.scale, best_linear_kernel(), /*vnni=*/true);
        const at::Tensor wd = dequantize(qw, at::kDouble);
        const at::Tensor xd = x.to(at::kDouble);
        const at::Tensor ref = at::matmul(xd, wd.t());
        const int64_t kmain = K / 128 * 128;
        at::Tensor step = at::zeros({T, K}, at::kDouble);
        if (kmain > 0)
          step.slice(1, 0, kmain).copy_(
              (xd.slice(1, 0, kmain).view({T, kmain / 128, 128}).abs().amax(-1, true) / 127).expand({T, kmain / 128, 128}).reshape({T, kmain}));
        const at::Tensor bound = 0.5 * at::matmul(step, wd.abs().t()) + ref.abs() * (1.0 / 256) + 1e-4;
        CHECK(at::le((y.to(at::kDouble) - ref).abs(), bound).all().item<bool>());
      }
  } else {
    MESSAGE("no AVX512_VNNI here: the VNNI int8 path is not exercised");
    CHECK(mt::status_of([&] {
            const Int8Weight w8 = quantize_int8(at::randn({8, 16}));
            linear_few_rows_int8(at::randn({1, 16}).to(at::kBFloat16), w8.q, w8.scale, LinearKernel::portable, true);
          }) == Status::invalid_argument);
  }
  const Int8Weight qw = quantize_int8(at::randn({8, 16}));
  CHECK(mt::status_of([&] { linear_few_rows_int8(at::randn({kMaxFewRows + 1, 16}).to(at::kBFloat16), qw.q, qw.scale); }) ==
        Status::invalid_argument);
  CHECK(mt::status_of([&] { linear_few_rows_int8(at::randn({1, 16}).to(at::kBFloat16), qw.q, qw.scale.slice(0, 1)); }) ==
        Status::invalid_argument);
}

TEST_CASE("int8 vnni switch: off is off, on follows the CPU; decode kernel choice can be set and read back") {
  const bool before = int8_vnni_enabled();
  set_int8_vnni(false);
  CHECK_FALSE(int8_vnni_enabled());
  set_int8_vnni(true);
  CHECK(int8_vnni_enabled() == int8_vnni_supported());
  set_int8_vnni(before);
  const DecodeKernelChoice was = decode_kernel();
  DecodeKernelChoice torch = was;
  torch.use_libtorch = true;
  set_decode_kernel(torch);
  CHECK(decode_kernel().use_libtorch);
  DecodeKernelChoice portable;
  portable.kernel = LinearKernel::portable;
  set_decode_kernel(portable);
  CHECK_FALSE(decode_kernel().use_libtorch);
  CHECK((decode_kernel().kernel == LinearKernel::portable));
  set_decode_kernel(was);
  CHECK((decode_kernel().kernel == was.kernel));
}

// Batched decoding (engine/decoder_scheduler.h) promises that a session's rows come out the
// same whoever shares the pass: every kernel computes each row of x on its own.
TEST_CASE("decode kernels: each row's result is the same alone and among kMaxFewRows rows") {
  c10::InferenceMode g;
  at::manual_seed(13);
  // K not a multiple of any block, and one the AMX tiles take (with rows that fit them).
  // W rows go in tiles of 3 (then 2 or 1), split across threads: every remainder occurs.
  for (int64_t K : {int64_t(4096 + 70), int64_t(4096)})
  for (int64_t N : {int64_t(200), int64_t(202), int64_t(7), int64_t(2), int64_t(208), int64_t(16)}) {
    CAPTURE(K);
    CAPTURE(N);
    const at::Tensor x = at::randn({kMaxFewRows, K}).to(at::kBFloat16);
    const at::Tensor w = (at::randn({N, K}) * 0.05).to(at::kBFloat16);
    const Int8Weight qw = quantize_int8(w);
    for (LinearKernel k : kAllKernels) {
      if (!linear_kernel_supported(k)) continue;
      CAPTURE(linear_kernel_name(k));
      const at::Tensor all = linear_few_rows(x, w, k), all8 = linear_few_rows_int8(x, qw.q, qw.scale, k, false);
      for (int64_t t : {int64_t(0), int64_t(5), int64_t(kMaxFewRows - 1)}) {
        CAPTURE(t);
        CHECK(at::equal(all[t], linear_few_rows(x.slice(0, t, t + 1), w, k)[0]));
        CHECK(at::equal(all8[t], linear_few_rows_int8(x.slice(0, t, t + 1), qw.q, qw.scale, k, false)[0]));
        CHECK(at::equal(all.slice(0, 4, 7), linear_few_rows(x.slice(0, 4, 7), w, k)));
      }
    }
    if (int8_vnni_supported()) {
      const at::Tensor all = linear_few_rows_int8(x, qw.q, qw.scale, best_linear_kernel(), true);
      for (int64_t t = 0; t < kMaxFewRows; ++t)
        CHECK(at::equal(all[t], linear_few_rows_int8(x.slice(0, t, t + 1), qw.q, qw.scale, best_linear_kernel(), true)[0]));
    }
  }
}

TEST_CASE("int8 prefill: the weight dequantized tile by tile gives exactly the whole dequantized product") {
  c10::InferenceMode g;
  at::manual_seed(17);
  for (int64_t N : {int64_t(600), int64_t(256), int64_t(30)}) {
    CAPTURE(N);
    const Int8Weight w = quantize_int8((at::randn({N, 96}) * 0.05).to(at::kBFloat16));
    const at::Tensor x = at::randn({2, 40, 96}).to(at::kBFloat16);
    const at::Tensor y = linear_dequantized(x, w);
    REQUIRE((y.sizes().vec() == std::vector<int64_t>{2, 40, N}));
    CHECK(at::equal(y, at::linear(x, dequantize(w, at::kBFloat16))));
  }
  CHECK_THROWS(linear_dequantized(at::randn({3, 95}).to(at::kBFloat16), quantize_int8(at::randn({4, 96}))));
}

TEST_CASE("int8 quantization: the vectorised bf16 path gives the bytes and scales of the scalar one") {
  c10::InferenceMode g;
  at::manual_seed(19);
  for (int64_t K : {int64_t(4096), int64_t(70), int64_t(5)}) {
    CAPTURE(K);
    at::Tensor w = (at::randn({40, K}) * 0.05).to(at::kBFloat16);
    w[3].zero_();
    // Ties: scale 1 (max 127), values k + 0.5 round to even in both paths.
    w[7].zero_();
    w[7][0] = 127.0;
    for (int64_t k = 1; k < std::min<int64_t>(K, 5); ++k) w[7][k] = double(k) + 0.5;
    const Int8Weight vec = quantize_int8(w);                   // bf16 source: vectorised where AVX-512
    const Int8Weight ref = quantize_int8(w.to(at::kFloat));  // fp32 source: the scalar loop
    CHECK(at::equal(vec.q, ref.q));
    CHECK(at::equal(vec.scale, ref.scale));
    if (K >= 5) CHECK(at::equal(vec.q[7].slice(0, 1, 5), at::tensor({2, 2, 4, 4}, at::kChar)));
  }
}

// The decoder's q/k/v and gate/up go through one call: its rows split over the threads as
// one range, so a thread's part may end inside any weight; each output must still be the
// single-weight call's, bit for bit.
TEST_CASE("several weights in one call: each output is the single-weight call's, bit for bit") {
  c10::InferenceMode g;
  at::manual_seed(19);
  // At K = 4096 the weights of 128, 64 and 16 rows fit the AMX tiles and the others do not.
  for (int64_t K : {int64_t(4096 + 70), int64_t(4096)}) {
  CAPTURE(K);
  std::vector<at::Tensor> ws;
  std::vector<Int8Weight> qs;
  random_weights(K, {130, 7, 65, 1, 128, 64, 16}, &ws, &qs);
  for (int64_t T : {int64_t(1), int64_t(3), int64_t(kMaxFewRows)}) {
    CAPTURE(T);
    const at::Tensor x = at::randn({T, K}).to(at::kBFloat16);
    for (LinearKernel k : kAllKernels) {
      if (!linear_kernel_supported(k)) continue;
      CAPTURE(linear_kernel_name(k));
      const std::vector<at::Tensor> ys = linear_few_rows_multi(x, ws, k);
      const std::vector<at::Tensor> y8 = linear_few_rows_int8_multi(x, qs, k, false);
      REQUIRE(ys.size() == ws.size());
      REQUIRE(y8.size() == ws.size());
      for (size_t i = 0; i < ws.size(); ++i) {
        CAPTURE(i);
        CHECK(at::equal(ys[i], linear_few_rows(x, ws[i], k)));
        CHECK(at::equal(y8[i], linear_few_rows_int8(x, qs[i].q, qs[i].scale, k, false)));
      }
    }
    if (int8_vnni_supported()) {
      const std::vector<at::Tensor> y8 = linear_few_rows_int8_multi(x, qs, best_linear_kernel(), true);
      for (size_t i = 0; i < qs.size(); ++i)
        CHECK(at::equal(y8[i], linear_few_rows_int8(x, qs[i].q, qs[i].scale, best_linear_kernel(), true)));
    }
  }
  }
  const int64_t K = 4096 + 70;
  std::vector<at::Tensor> ws;
  std::vector<Int8Weight> qs;
  random_weights(K, {130}, &ws, &qs);
  const at::Tensor x = at::randn({1, K}).to(at::kBFloat16);
  CHECK(mt::status_of([&] { linear_few_rows_multi(x, {}); }) == Status::invalid_argument);
  CHECK(mt::status_of([&] { linear_few_rows_int8_multi(x, {}); }) == Status::invalid_argument);
  // One weight of another width refuses the whole call.
  CHECK(mt::status_of([&] { linear_few_rows_multi(x, {ws[0], at::randn({4, K - 1}).to(at::kBFloat16)}); }) ==
        Status::invalid_argument);
  CHECK(mt::status_of([&] { linear_few_rows_int8_multi(x, {qs[0], quantize_int8(at::randn({4, K - 1}))}); }) ==
        Status::invalid_argument);
}

// The VNNI path quantizes x per 128-value block with round to nearest, ties to even: a row
// whose values sit exactly on half steps must come out as the even neighbours.
TEST_CASE("int8 vnni: activations round half to even") {
  if (!int8_vnni_supported()) {
    MESSAGE("no AVX512_VNNI here: nothing to check");
    return;
  }
  c10::InferenceMode g;
  // max |x| = 127 makes the step 1: x = 0.5, 1.5, 2.5, -0.5, -2.5 quantize to 0, 2, 2, 0, -2.
  at::Tensor xf = at::zeros({1, 128});
  const std::vector<float> v{127, 0.5f, 1.5f, 2.5f, -0.5f, -2.5f};
  for (size_t i = 0; i < v.size(); ++i) xf[0][static_cast<int64_t>(i)] = v[i];
  // One weight row per input position (identity), scale 1: y_i = round(x_i) exactly.
  Int8Weight id{at::eye(128).to(at::kChar).contiguous(), at::ones({128})};
  for (int64_t T : {int64_t(1), int64_t(2)}) {
    CAPTURE(T);
    const at::Tensor y = linear_few_rows_int8(xf.expand({T, 128}).to(at::kBFloat16), id.q, id.scale,
                                              best_linear_kernel(), true).to(at::kFloat);
    const std::vector<float> want{127, 0, 2, 2, 0, -2};
    for (size_t i = 0; i < want.size(); ++i) CHECK(y[T - 1][static_cast<int64_t>(i)].item<float>() == want[i]);
  }
}

// The rows are split over the threads in shares and then in chunks taken from a shared
// counter, which falls differently every call: no output may depend on where its row fell.
TEST_CASE("decode kernels: results do not depend on the thread count or how the rows fell") {
  c10::InferenceMode g;
  at::manual_seed(23);
  const int threads_before = at::get_num_threads();
  // At K = 4096 the weights of 512 and 16 rows fit the AMX tiles, between two that do not.
  for (int64_t K : {int64_t(4096 + 40), int64_t(4096)}) {
  CAPTURE(K);
  std::vector<at::Tensor> ws;
  std::vector<Int8Weight> qs;
  random_weights(K, {1000, 37, 512, 515, 16}, &ws, &qs);  // shares, and chunks across the weights
  // The decoder's kernel, and amx where the CPU has it.
  for (LinearKernel kernel : kAllKernels) {
  if (!linear_kernel_supported(kernel) || (kernel != best_linear_kernel() && kernel != LinearKernel::amx)) continue;
  CAPTURE(linear_kernel_name(kernel));
  for (int64_t T : {int64_t(1), int64_t(5)}) {
    CAPTURE(T);
    const at::Tensor x = at::randn({T, K}).to(at::kBFloat16);
    at::set_num_threads(1);
    const std::vector<at::Tensor> want = linear_few_rows_multi(x, ws, kernel);
    const std::vector<at::Tensor> want8 = linear_few_rows_int8_multi(x, qs, kernel, int8_vnni_supported());
    for (int threads : {2, 3}) {
      CAPTURE(threads);
      at::set_num_threads(threads);
      for (int rep = 0; rep < 3; ++rep) {
        const std::vector<at::Tensor> got = linear_few_rows_multi(x, ws, kernel);
        const std::vector<at::Tensor> got8 = linear_few_rows_int8_multi(x, qs, kernel, int8_vnni_supported());
        for (size_t i = 0; i < ws.size(); ++i) {
          CAPTURE(i);
          CHECK(at::equal(got[i], want[i]));
          CHECK(at::equal(got8[i], want8[i]));
        }
      }
    }
  }
  }
  }
  at::set_num_threads(threads_before);
}

// int8 prefill on AMX CPUs: every row exactly what a decode step of that row gives, within the
// integer path's bound of exact math; refused where it does not apply.
TEST_CASE("int8 prefill on AMX: each row as its decode step gives it, bit for bit") {
  c10::InferenceMode g;
  at::manual_seed(31);
  const Int8Weight qw = quantize_int8((at::randn({160, 256}) * 0.05).to(at::kBFloat16));
  const at::Tensor x = at::randn({2, 21, 256}).to(at::kBFloat16);  // 42 rows: two groups of 16 and 10
  if (!cpu_features().amx || !int8_vnni_enabled()) {
    CHECK_FALSE(int8_amx_prefill_applies(x, qw));
    CHECK(mt::status_of([&] { linear_int8_amx_prefill(x, qw); }) == Status::invalid_argument);
    return;
  }
  REQUIRE(int8_amx_prefill_applies(x, qw));
  const at::Tensor y = linear_int8_amx_prefill(x, qw);
  REQUIRE((y.sizes().vec() == std::vector<int64_t>{2, 21, 160}));
  const at::Tensor rows = x.reshape({42, 256}), y2 = y.reshape({42, 160});
  for (int64_t t : {int64_t(0), int64_t(15), int64_t(16), int64_t(33), int64_t(41)}) {
    CAPTURE(t);
    CHECK(at::equal(y2[t], linear_few_rows_int8(rows.slice(0, t, t + 1), qw.q, qw.scale, best_linear_kernel(), true)[0]));
  }
  // The same bound as the decode path's: half a step of each 128-value block's scale of x.
  const at::Tensor xd = rows.to(at::kDouble), wd = dequantize(qw, at::kDouble);
  const at::Tensor ref = at::matmul(xd, wd.t());
  const at::Tensor step = (xd.view({42, 2, 128}).abs().amax(-1, true) / 127).expand({42, 2, 128}).reshape({42, 256});
  const at::Tensor bound = 0.5 * at::matmul(step, wd.abs().t()) + ref.abs() * (1.0 / 256) + 1e-4;
  CHECK(at::le((y2.to(at::kDouble) - ref).abs(), bound).all().item<bool>());
  // Refused: rows or widths the tiles do not take, fp32 x, the integer path turned off.
  CHECK_FALSE(int8_amx_prefill_applies(x, quantize_int8(at::randn({150, 256}))));
  CHECK_FALSE(int8_amx_prefill_applies(at::randn({3, 200}).to(at::kBFloat16), quantize_int8(at::randn({160, 200}))));
  CHECK_FALSE(int8_amx_prefill_applies(x.to(at::kFloat), qw));
  set_int8_vnni(false);
  CHECK_FALSE(int8_amx_prefill_applies(x, qw));
  set_int8_vnni(true);
  CHECK(mt::status_of([&] { linear_int8_amx_prefill(x.to(at::kFloat), qw); }) == Status::invalid_argument);
}
