#!/usr/bin/env bash
# Issue 15's check on a GPU machine with a CUDA PyTorch (pip), in one run of under 8 minutes:
#   1. builds m4cxr against the libtorch inside that PyTorch (as ../shared/gpu/build_cuda.sh did),
#   2. runs the golden suite (and the C API suite, whose greedy outputs are golden too) with
#      M4CXR_TEST_DEVICE=cuda: fp32 at the golden tolerances, bf16 at the bf16 ones; the C API
#      suite also checks cuda:N selection and, with two GPUs, two models on two devices at once,
#   3. runs m4cxr_bench on the GPU at the full 32-layer M4CXR shape (random bf16 weights) and
#      prints every figure of the issue's table.
# Usage: scripts/cuda_check.sh [--device cuda:N] [--work DIR] [--debs DIR] [--skip-tests] [--skip-bench]
#   --work DIR   build folder and checkpoints (default /tmp/m4cxr_cuda_check; needs ~16 GB free)
#   --debs DIR   Debian 12 .deb files of the other dependencies, unpacked into DIR/../deps when
#                the machine lacks them (no root needed). Fetch them on a Debian 12 machine with
#                  apt-get download libstb-dev libstb0 libturbojpeg0-dev libturbojpeg0 libjpeg62-turbo \
#                    nlohmann-json3-dev doctest-dev pkgconf pkgconf-bin libpkgconf3 libsentencepiece-dev \
#                    libsentencepiece0 libprotobuf-lite32 libgdcm-dev libgdcm3.0 libcharls2 libjson-c5 \
#                    libsocket++1 libopenjp2-7 libopenjp2-7-dev zlib1g zlib1g-dev
# Environment: PYTHON (default python3) is the Python whose torch is used.
# Exit status: 0 all passed; 1 a build, test or bench step failed; 2 refused (no GPU, no CUDA
# torch, bad option, missing dependencies or disk space).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
device=cuda work=/tmp/m4cxr_cuda_check debs="" tests=1 bench=1
refuse() { echo "cuda_check.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=${2:?--device needs a value}; shift 2 ;;
    --work) work=${2:?--work needs a folder}; shift 2 ;;
    --debs) debs=${2:?--debs needs a folder}; shift 2 ;;
    --skip-tests) tests=0; shift ;;
    --skip-bench) bench=0; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) refuse "unknown option $1 (see --help)" ;;
  esac
done
case "$device" in cuda|cuda:[0-9]|cuda:[1-9][0-9]) ;; *) refuse "--device must be cuda or cuda:N, not '$device'" ;; esac
index=${device#cuda}; index=${index#:}; index=${index:-0}
py=${PYTHON:-python3}
start=$SECONDS
step() { printf '\n== [%3ds] %s\n' $((SECONDS - start)) "$*"; }

# ---- refusals first: nothing is built on a machine that cannot run the check
command -v nvidia-smi >/dev/null 2>&1 || refuse "no GPU: nvidia-smi is not installed (this check needs an NVIDIA GPU)"
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
[ "$gpus" -gt 0 ] || refuse "no GPU: nvidia-smi lists no device"
[ "$index" -lt "$gpus" ] || refuse "$device requested but nvidia-smi lists $gpus GPU(s)"
command -v "$py" >/dev/null 2>&1 || refuse "no $py (set PYTHON to the Python that has a CUDA PyTorch)"
if ! torch_info=$("$py" -c 'import torch, sys
if not torch.cuda.is_available(): sys.exit("torch " + torch.__version__ + " sees no CUDA device (CPU-only build?)")
print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0), torch.utils.cmake_prefix_path, sep="|")' 2>&1); then
  refuse "no CUDA PyTorch in $py: $(echo "$torch_info" | tail -1)"
fi
IFS='|' read -r torch_version torch_cuda gpu_name torch_prefix <<<"$torch_info"
"$py" -c 'import safetensors' 2>/dev/null || refuse "the bench's checkpoint grower needs safetensors in $py (pip install safetensors)"
for tool in cmake ninja; do command -v "$tool" >/dev/null 2>&1 || refuse "no $tool on PATH (pip install $tool)"; done
mkdir -p "$work"
if [ "$bench" = 1 ]; then
  free_kb=$(df -Pk "$work" | awk 'NR==2 {print $4}')
  [ "$free_kb" -gt $((17 * 1024 * 1024)) ] || refuse "the 32-layer checkpoint needs ~16 GB free under $work (have $((free_kb / 1024 / 1024)) GB); use --work or --skip-bench"
fi
echo "GPU: $gpu_name ($gpus visible, using $device); torch $torch_version, CUDA $torch_cuda"

# ---- 1. build against the CUDA libtorch
prefix="$torch_prefix"
if [ -n "$debs" ]; then
  compgen -G "$debs/*.deb" >/dev/null || refuse "--debs $debs holds no .deb files"
  deps="$work/deps"
  mkdir -p "$deps"
  for f in "$debs"/*.deb; do dpkg -x "$f" "$deps"; done
  export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu:$deps/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
  export PKG_CONFIG_LIBDIR="$deps/usr/lib/x86_64-linux-gnu/pkgconfig:$deps/usr/share/pkgconfig"
  export PKG_CONFIG_SYSROOT_DIR="$deps"
  prefix="$torch_prefix;$deps/usr"
fi
pkgc=$(command -v pkg-config || command -v pkgconf || echo "${deps:-/nonexistent}/usr/bin/pkgconf")
[ -x "$pkgc" ] || refuse "no pkg-config (install pkgconf, or pass --debs with the .deb files listed in --help)"
missing=""
for m in stb libturbojpeg libopenjp2; do "$pkgc" --exists "$m" 2>/dev/null || missing="$missing $m"; done
[ -z "$missing" ] || refuse "missing build dependencies:$missing (pass --debs with the .deb files listed in --help)"
step "build against torch $torch_version (CUDA $torch_cuda) in $work/build"
targets="m4cxr_bench"
[ "$tests" = 1 ] && targets="$targets test_golden test_capi test_model"
cmake -S "$root" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DPKG_CONFIG_EXECUTABLE="$pkgc" -DM4CXR_BUILD_PYTHON=OFF -DM4CXR_BUILD_JAVA=OFF -DM4CXR_BUILD_CSHARP=OFF >"$work/configure.log" \
  || { tail -30 "$work/configure.log"; echo "cuda_check.sh: configure failed ($work/configure.log)" >&2; exit 1; }
# shellcheck disable=SC2086  # targets is a word list
ninja -C "$work/build" -j"$(nproc)" $targets >"$work/build.log" \
  || { tail -40 "$work/build.log"; echo "cuda_check.sh: build failed ($work/build.log)" >&2; exit 1; }

failed=""
# ---- 2. golden suites on the GPU
if [ "$tests" = 1 ]; then
  for suite in golden capi; do
    step "test_$suite with M4CXR_TEST_DEVICE=$device"
    if M4CXR_TEST_DEVICE=$device timeout 240 "$work/build/tests/test_$suite" >"$work/test_$suite.log" 2>&1; then
      grep -E '^\[doctest\] (test cases|assertions)' "$work/test_$suite.log" || true
    else
      tail -40 "$work/test_$suite.log"
      failed="$failed test_$suite"
    fi
  done
  step "test_model's device cases (cuda:N accepted, an index past the last GPU refused)"
  if timeout 120 "$work/build/tests/test_model" -tc='device*' >"$work/test_model_device.log" 2>&1; then
    grep -E '^\[doctest\] (test cases|assertions)' "$work/test_model_device.log" || true
  else
    tail -20 "$work/test_model_device.log"
    failed="$failed test_model(device)"
  fi
fi

# ---- 3. the issue's table: the full 32-layer shape on the GPU
if [ "$bench" = 1 ]; then
  ckpt1="$work/ckpt_1layer" ckpt32="$work/ckpt_32layers"
  if [ ! -f "$ckpt32/model.safetensors" ]; then
    step "random 1-layer checkpoint (m4cxr_bench --layers 1), grown to 32 layers on the GPU"
    rm -rf "$ckpt1"
    timeout 300 "$work/build/m4cxr_bench" --layers 1 --keep "$ckpt1" --device "$device" --decode 4 --cot 0 >"$work/bench_1layer.log" 2>&1 \
      || { tail -20 "$work/bench_1layer.log"; echo "cuda_check.sh: writing the 1-layer checkpoint failed" >&2; exit 1; }
    timeout 300 "$py" "$root/scripts/grow_checkpoint.py" "$ckpt1" "$ckpt32" 32 \
      || { echo "cuda_check.sh: growing the checkpoint failed" >&2; exit 1; }
  fi
  step "m4cxr_bench, 32 layers, bf16, on $device (prompt 510 tokens, decode 128, CoT 2 x 128)"
  if timeout 400 "$work/build/m4cxr_bench" --keep "$ckpt32" --device "$device" --prompt 510 --decode 128 --cot 128 \
      >"$work/bench.log" 2>&1; then
    cat "$work/bench.log"
    echo
    echo "== issue 15's table (from $work/bench.log; torch $torch_version, $gpu_name)"
    grep -E 'model load:|first image after load|vision \+ projector|^prefill [0-9]+ tokens \(device|^decode \(device|CoT report|GPU memory' "$work/bench.log"
  else
    tail -30 "$work/bench.log"
    failed="$failed m4cxr_bench"
  fi
fi

step "done"
if [ -n "$failed" ]; then
  echo "cuda_check.sh: FAILED:$failed (logs in $work)" >&2
  exit 1
fi
echo "cuda_check.sh: all passed"
