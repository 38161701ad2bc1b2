#!/usr/bin/env bash
# Fuzzing campaigns over the targets in tests/fuzz (libFuzzer, ASan + UBSan, clang).
#
# Usage: scripts/fuzz.sh [--seconds N] [--jobs J] [--seed S] [--build-dir DIR] [TARGET...]
#   --seconds N   time per target (default 1200 = 20 minutes)
#   --jobs J      targets run at once (default 1; each target is one process)
#   --seed S      libFuzzer's random seed (default: a new one each run, to explore; CI's
#                 smoke run passes a fixed one, so that a landing is judged on its own
#                 changes and not on what a random walk happens to find that day)
#   TARGET        names as in tests/fuzz (safetensors, image, ...); default: all
# Builds DIR (default build-fuzz) with clang and -DM4CXR_FUZZ=ON, runs each target from
# its seed corpus (tests/fuzz/corpus/<target>) into a working corpus under DIR, and prints
# executions, exec/s and corpus size per target. A crash leaves its reproducer in
# DIR/crashes/<target>/ and makes the script exit 1: copy it to
# tests/fuzz/regressions/<target>/ once fixed, where ctest replays it in every build.
# Needs: clang, libclang-rt-14-dev (scripts/setup.sh --fuzz installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=1200 jobs=1 dir=build-fuzz seed=0 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --build-dir) dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.cpp; do t=$(basename "$f" .cpp); targets+=("${t#fuzz_}"); done
fi

mkdir -p "$dir"
CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DM4CXR_FUZZ=ON -DM4CXR_BUILD_TESTS=OFF -DM4CXR_BUILD_BENCH=OFF > "$dir/configure.log" 2>&1 \
  || { cat "$dir/configure.log"; exit 1; }
cmake --build "$dir" --target "${targets[@]/#/fuzz_}" -j "$(nproc)"

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# third-party leaks only (tests/sanitizers/lsan.supp), as in scripts/sanitize.sh
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0}"
mkdir -p "$dir/logs"
run_one() {
  local t="$1" corpus="$dir/corpus/$1" crashes="$dir/crashes/$1"
  mkdir -p "$corpus" "$crashes"
  # -rss_limit_mb: the decoders' own limits must keep memory well under this.
  "$dir/tests/fuzz/fuzz_$t" "$corpus" "tests/fuzz/corpus/$t" -max_total_time="$seconds" \
      -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 -artifact_prefix="$crashes/" -seed="$seed" \
      > "$dir/logs/$t.log" 2>&1
}
status=0
pids=() names=()
for t in "${targets[@]}"; do
  run_one "$t" & pids+=($!) names+=("$t")
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
done
for i in "${!pids[@]}"; do wait "${pids[$i]}" || true; done

printf '%-16s %12s %10s %8s %8s %s\n' target executions exec/s corpus seconds result
for t in "${targets[@]}"; do
  log="$dir/logs/$t.log"
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  eps=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  files=$(find "$dir/corpus/$t" -type f | wc -l)
  if ls "$dir/crashes/$t"/* >/dev/null 2>&1; then
    result="CRASH: $(ls "$dir/crashes/$t" | head -3 | tr '\n' ' ')(log: $log)"; status=1
  else
    result=ok
  fi
  printf '%-16s %12s %10s %8s %8s %s\n' "$t" "${runs:-0}" "${eps:-0}" "$files" "$seconds" "$result"
done
exit $status
