// The most dot-product arithmetic this CPU does, measured: a floor for compute-bound stages
// (the vision encoder) next to their measured time. bench only.
#pragma once

namespace m4cxr {

// GFLOP/s of back-to-back register-only multiply-adds on `threads` threads (libtorch's
// intra-op pool), with the widest instruction the decode kernels use here: AVX512_BF16
// vdpbf16ps (64 flops each), else AVX-512 or AVX2 fp32 FMA; 0 where none of them exists.
// `name` receives the instruction measured.
double dot_product_peak_gflops(int threads, const char** name);

// GFLOP/s of back-to-back AMX bf16 tile products (tdpbf16ps, register tiles only) on
// `threads` threads: the peak of the GEMMs oneDNN runs on such CPUs; 0 without AMX.
double amx_peak_gflops(int threads);

// Multiply-add flops of one image through a DINOv2 ViT of this shape (patch embedding, every
// layer's projections, MLP and attention products; no norms or softmax).
double vit_flops(int image_size, int patch_size, int hidden, int intermediate, int layers);

}  // namespace m4cxr
