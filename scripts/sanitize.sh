#!/usr/bin/env bash
# Sanitizer runs of the C/C++ tests (used by .ci/run; also by hand).
#
# Usage: scripts/sanitize.sh asan|tsan [--build-dir DIR]
#   asan  AddressSanitizer + UndefinedBehaviorSanitizer (UB fatal): the library and every
#         C/C++ suite, the fuzz replays (seed corpora and kept reproducers) and the stress
#         test. Build in build-asan.
#   tsan  ThreadSanitizer: the C API suite and the stress test (many sessions, threads and
#         cancels), with one intra-op thread: libtorch's OpenMP and oneDNN are not built
#         with TSan, and tests/sanitizers/tsan.supp names only those libraries. Build in
#         build-tsan.
# libtorch and the other system libraries are not instrumented; everything of m4cxr is.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-}"; shift || true
case "$kind" in
  asan) sanitize=address,undefined dir=build-asan ;;
  tsan) sanitize=thread dir=build-tsan ;;
  *) echo "usage: scripts/sanitize.sh asan|tsan [--build-dir DIR]" >&2; exit 2 ;;
esac
[ "${1:-}" = "--build-dir" ] && dir="$2"
supp="$PWD/tests/sanitizers"

mkdir -p "$dir"
# -O1 -g1 (line tables: the reports' stack traces keep files and lines): half the compile
# time of RelWithDebInfo's -O2 -g under the sanitizers (21.7 -> 10.3 s for a test file),
# which made the ASan build 23 of CI's 42 minutes.
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DM4CXR_SANITIZE="$sanitize" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DM4CXR_BUILD_BENCH=OFF > "$dir/configure.log" 2>&1 || { cat "$dir/configure.log"; exit 1; }
# One intra-op thread for the models the tests load (tests/capi reads M4CXR_TEST_THREADS).
export M4CXR_TEST_THREADS=1 OMP_NUM_THREADS=1
if [ "$kind" = asan ]; then
  targets=(test_io test_image test_dicom test_report make_test_reports test_text test_tasks test_model test_golden test_capi
           test_header_c stress_capi)
  for f in tests/fuzz/fuzz_*.cpp; do t=$(basename "$f" .cpp); targets+=("replay_${t#fuzz_}"); done
  tests='^(io|image|dicom|report|report_validators|text|tasks|model|golden|capi|header_as_c|stress_capi|fuzz_replay_.*)$'
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
  export M4CXR_STRESS_TASKS="${M4CXR_STRESS_TASKS:-200}"
  # Freed memory waits in ASan's quarantine (256 MB): RSS is not a leak measure here
  # (LeakSanitizer is); the plain ctest run checks the memory bound.
  export M4CXR_STRESS_MAX_GROWTH_MB=1024
else
  targets=(test_capi stress_capi)
  tests='^(capi|stress_capi)$'
  export TSAN_OPTIONS="suppressions=$supp/tsan.supp:halt_on_error=1:second_deadlock_stack=1:report_signal_unsafe=0"
  export M4CXR_STRESS_TASKS="${M4CXR_STRESS_TASKS:-200}"
  export M4CXR_STRESS_MAX_GROWTH_MB=1024  # TSan's shadow memory grows with use
fi
start=$(date +%s)
cmake --build "$dir" --target "${targets[@]}" -j "$(nproc)"
built=$(date +%s)
ctest --test-dir "$dir" --output-on-failure -R "$tests"
echo "sanitize.sh $kind: build $((built - start)) s, tests $(( $(date +%s) - built )) s"
