#!/bin/sh
# ctest java_install: installs the build tree into a temporary prefix and runs the Java
# example from the installed jar and JNI library - through java.library.path, through
# -Dm4cxr.library, and with neither (the jar's install layout) - without LD_LIBRARY_PATH (libm4cxr_jni.so finds libm4cxr.so
# by its $ORIGIN run path).
# Usage: check_install.sh BUILD_DIR LIBDIR DATADIR JAVA EXAMPLE_JAR DEFAULT_GOLDEN_DIR
set -eu
build=$1 libdir=$2 datadir=$3 java=$4 example=$5
golden=${M4CXR_GOLDEN_DIR:-$6}
prefix=$(mktemp -d /tmp/m4cxr_java_install_XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" > "$prefix/install.log"
jar="$prefix/$datadir/java/m4cxr.jar"
jni="$prefix/$libdir/libm4cxr_jni.so"
test -f "$jar"
test -f "$jni"
test -f "$prefix/$libdir/libm4cxr.so"
unset LD_LIBRARY_PATH
"$java" -Djava.library.path="$prefix/$libdir" -cp "$example:$jar" Report \
  "$golden/models/merged_fp32" "$golden/images/rgb_150x200.jpg" 8 > "$prefix/out1.txt"
"$java" -Dm4cxr.library="$jni" -cp "$example:$jar" Report \
  "$golden/models/merged_fp32" "$golden/images/rgb_150x200.jpg" 8 > "$prefix/out2.txt"
grep -q '^Findings: ' "$prefix/out1.txt"
grep -q 'finding(s):' "$prefix/out1.txt"
# Neither: the jar finds the JNI library from the install layout.
"$java" -cp "$example:$jar" Report "$golden/models/merged_fp32" "$golden/images/rgb_150x200.jpg" 8 > "$prefix/out3.txt"
cmp "$prefix/out1.txt" "$prefix/out2.txt"
cmp "$prefix/out1.txt" "$prefix/out3.txt"
echo "installed: $jar $jni"
