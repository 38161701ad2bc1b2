#!/bin/sh
# ctest java_example: streams a report with examples/java/Report.java on the golden model
# and checks its output. Usage: run_example.sh JAVA LIBDIR CLASSPATH DEFAULT_GOLDEN_DIR
set -e
java=$1 libdir=$2 cp=$3
golden=${M4CXR_GOLDEN_DIR:-$4}
out=$("$java" -Djava.library.path="$libdir" -cp "$cp" Report "$golden/models/merged_fp32" \
      "$golden/images/rgb_150x200.jpg" 8)
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -q '^Findings: '
printf '%s\n' "$out" | grep -q 'Report: '
printf '%s\n' "$out" | grep -q 'finding(s):'
