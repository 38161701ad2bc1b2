#!/usr/bin/env bash
# Installs a built tree into a temporary prefix, then builds examples/c against the
# installed package four times - with CMake's find_package and with pkg-config, each
# against the shared and the static library - and runs them on the tiny test model. Usage: scripts/check_install.sh BUILD_DIR
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

# Static: no libm4cxr.so at run time (no LD_LIBRARY_PATH), same output.
cmake -S "$src/examples/c" -B "$prefix/ex-static" -DCMAKE_PREFIX_PATH="$prefix" -DM4CXR_EXAMPLE_STATIC=ON \
  > "$prefix/ex-static.log"
cmake --build "$prefix/ex-static" > /dev/null
"$prefix/ex-static/m4cxr_report_c" "$model" "$image" 8 > "$prefix/out3.txt"
! ldd "$prefix/ex-static/m4cxr_report_c" | grep -q libm4cxr && grep -q "^Report: " "$prefix/out3.txt" && pass=$((pass + 1))

cc -std=c99 -Wall -Werror "$src/examples/c/report.c" $(pkg-config --cflags --libs m4cxr-static) -o "$prefix/report_static_pc"
"$prefix/report_static_pc" "$model" "$image" 8 > "$prefix/out4.txt"
! ldd "$prefix/report_static_pc" | grep -q libm4cxr && grep -q "^Report: " "$prefix/out4.txt" && pass=$((pass + 1))
pkg-config --static --libs m4cxr | grep -q -- "-ltorch"  # Libs.private lists the dependencies

for i in 2 3 4; do cmp "$prefix/out1.txt" "$prefix/out$i.txt"; done  # same library, same greedy output
echo "$pass passed, $((4 - pass)) failed"
[ "$pass" -eq 4 ]
