#!/usr/bin/env bash
# Installs a built tree into a temporary prefix, then builds examples/c against the
# installed package twice - with CMake's find_package and with pkg-config - and runs both
# on the tiny test model. Usage: scripts/check_install.sh BUILD_DIR
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:?usage: check_install.sh BUILD_DIR}" && pwd)"
prefix="$(mktemp -d /tmp/m4cxr_install_XXXXXX)"
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" > "$prefix/install.log"
libdir="$(dirname "$(find "$prefix" -name 'libm4cxr.so' | head -n 1)")"
test -f "$prefix/include/m4cxr/m4cxr.h"
test -f "$libdir/libm4cxr.a"
model="$src/tests/data/golden/models/merged_fp32"
image="$src/tests/data/golden/images/rgb_150x200.jpg"
pass=0

cmake -S "$src/examples/c" -B "$prefix/ex-cmake" -DCMAKE_PREFIX_PATH="$prefix" > "$prefix/ex-cmake.log"
cmake --build "$prefix/ex-cmake" > /dev/null
LD_LIBRARY_PATH="$libdir" "$prefix/ex-cmake/m4cxr_report_c" "$model" "$image" 8 > "$prefix/out1.txt"
grep -q "^Report: " "$prefix/out1.txt" && pass=$((pass + 1))

export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -std=c99 -Wall -Werror "$src/examples/c/report.c" $(pkg-config --cflags --libs m4cxr) -o "$prefix/report_pc"
LD_LIBRARY_PATH="$libdir" "$prefix/report_pc" "$model" "$image" 8 > "$prefix/out2.txt"
grep -q "^Report: " "$prefix/out2.txt" && pass=$((pass + 1))

cmp "$prefix/out1.txt" "$prefix/out2.txt"  # same library, same greedy output
echo "$pass passed, $((2 - pass)) failed"
[ "$pass" -eq 2 ]
