#!/usr/bin/env bash
# Installs the csharp component of a built tree into a temporary prefix, next to a copy of
# libm4cxr.so.N (the C library's own install is checked by scripts/check_install.sh), and
# runs Report.exe (compiled against the build tree's M4cxr.dll) against the installed
# M4cxr.dll: MONO_PATH finds the assembly, its dllmap (M4cxr.dll.config) the glue library,
# whose RUNPATH finds libm4cxr. No LD_LIBRARY_PATH.
# Usage: check_install.sh BUILD_DIR LIBDIR LIBM4CXR_SONAME_FILE REPORT_EXE MODEL IMAGE
set -euo pipefail
build="$1" libdir="$2" libm4cxr="$3" exe="$4" model="$5" image="$6"
prefix="$(mktemp -d /tmp/m4cxr_cs_install_XXXXXX)"
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" --component csharp > "$prefix/install.log"
cp -L "$libm4cxr" "$prefix/$libdir/"
pass=0 fail=0
check() { if "$@"; then pass=$((pass + 1)); else echo "FAILED: $*"; fail=$((fail + 1)); fi; }
check test -f "$prefix/$libdir/m4cxr/csharp/M4cxr.dll"
check test -f "$prefix/$libdir/m4cxr/csharp/M4cxr.xml"
check test -f "$prefix/$libdir/m4cxr/csharp/M4cxr.dll.config"
check test -f "$prefix/$libdir/libm4cxr_csharp.so"
mkdir "$prefix/app"
cp "$exe" "$prefix/app/"
unset LD_LIBRARY_PATH
if MONO_PATH="$prefix/$libdir/m4cxr/csharp" mono "$prefix/app/Report.exe" "$model" "$image" 8 > "$prefix/out.txt"; then
  check grep -q '^Report: ' "$prefix/out.txt"
else
  echo "FAILED: Report.exe against the installed binding"
  fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
