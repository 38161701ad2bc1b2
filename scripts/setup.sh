#!/usr/bin/env bash
# One-command setup on Debian 12: installs the build dependencies, configures and
# builds m4cxr (library, tests, benchmark, the m4cxr tool), then runs `m4cxr report` on
# the tiny test model shipped in tests/data (random weights: the text is meaningless).
# Usage: scripts/setup.sh [--no-demo] [--checks]
#   --checks  also install clang and its sanitizer/libFuzzer runtime, for
#             scripts/fuzz.sh and scripts/sanitize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
PKGS=(build-essential cmake ninja-build pkg-config
      libtorch-dev libstb-dev libturbojpeg0-dev nlohmann-json3-dev doctest-dev
      libsentencepiece-dev libopenblas0-openmp libgdcm-dev libopenjp2-7-dev
      pybind11-dev python3-dev python3-numpy python3-pytest python3-pil python3-mypy python3-venv python3-distributed
      swig default-jdk junit4 mono-devel nunit-console libnunit-cil-dev
      dcmtk dicom3tools python3-jsonschema)  # validators of the FHIR / DICOM SR tests
demo=1
for a in "$@"; do
  case "$a" in
    --no-demo) demo=0 ;;
    --checks) PKGS+=(clang libclang-rt-14-dev) ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$(nproc)"
# Install (library, headers, CMake package, pkg-config, the m4cxr tool, the bindings) into
# /usr/local, so that `m4cxr` and `/usr/bin/python3 -c "import m4cxr"` work from anywhere.
$SUDO cmake --install build > build/install.log
$SUDO ldconfig
if [ "$demo" = 1 ]; then
  echo "== m4cxr report on the tiny test model (RANDOM WEIGHTS: the pipeline is real, the text is gibberish) =="
  ./build/m4cxr report --model tests/data/golden/models/merged_fp32 \
      --image tests/data/golden/images/rgb_150x200.jpg --max-new-tokens 40
fi
